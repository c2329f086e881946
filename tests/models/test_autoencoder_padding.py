"""The Autoencoder's spec takes ``pad_to_multiple`` from its encoder, so a padding encoder is configured once."""

from __future__ import annotations

import pytest
import torch

from omnitok.errors import ConfigError, ShapeError
from omnitok.models import Autoencoder
from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder
from omnitok.quantizers import FiniteScalarQuantizer

NETS = {"base_channels": 4, "channel_multipliers": (1, 1), "num_res_blocks": 1, "temporal_downsample": 2}


def video_tokenizer(encoder_pads: bool, **autoencoder_args) -> Autoencoder:
    quantizer = FiniteScalarQuantizer(4, [5, 5, 5, 5])
    encoder = CausalVideoEncoder(3, 4, norm_groups=2, pad_to_multiple=encoder_pads, **NETS)
    decoder = CausalVideoDecoder(4, 3, norm_groups=2, **NETS)
    return Autoencoder(encoder, quantizer, decoder, modality="video", causal_time=True, **autoencoder_args).eval()


def test_spec_follows_a_padding_encoder():
    model = video_tokenizer(encoder_pads=True)
    assert model.spec.pad_to_multiple
    assert model.spec.grid((4, 7, 7)) == (3, 4, 4)  # 4 frames -> 5 (1 + 2k), 7 px -> 8: rounded up, not refused
    tokens = model.encode(torch.rand(1, 3, 4, 7, 7) * 2 - 1)
    assert tokens.shape == (1, 3, 4, 4)


def test_spec_follows_a_strict_encoder():
    model = video_tokenizer(encoder_pads=False)
    assert not model.spec.pad_to_multiple
    with pytest.raises(ShapeError):
        model.encode(torch.rand(1, 3, 4, 8, 8) * 2 - 1)


def test_agreeing_setting_is_accepted_and_a_contradiction_refused():
    assert video_tokenizer(encoder_pads=True, pad_to_multiple=True).spec.pad_to_multiple
    with pytest.raises(ConfigError, match="pad_to_multiple=True contradicts the encoder"):
        video_tokenizer(encoder_pads=False, pad_to_multiple=True)
    with pytest.raises(ConfigError, match="pad_to_multiple=False contradicts the encoder"):
        video_tokenizer(encoder_pads=True, pad_to_multiple=False)
