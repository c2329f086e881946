"""The causal video networks inside the one Autoencoder: VQ, FSQ, LFQ, residual and KL (Gaussian) variants satisfy the
Tokenizer protocol with grid = (1 + (T - 1) / t, H / s, W / s) computed by hand, images are 1-frame videos, bad
clip lengths raise errors naming the rule, padding repeats the last frame, and save/load rebuilds the model."""

from __future__ import annotations

import pytest
import torch

import omnitok
from omnitok.errors import ConfigError, ShapeError
from omnitok.models import Autoencoder
from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder
from omnitok.protocol import Tokenizer
from omnitok.quantizers import (
    FiniteScalarQuantizer,
    GaussianQuantizer,
    LookupFreeQuantizer,
    ResidualQuantizer,
    VectorQuantizer,
)

NETS = {"base_channels": 4, "channel_multipliers": (1, 1, 1), "num_res_blocks": 1, "temporal_downsample": 4}
NETS |= {"attention": True, "norm_groups": 2}


def quantizer(kind: str):
    return {
        "vq": lambda: VectorQuantizer(4, 16),
        "fsq": lambda: FiniteScalarQuantizer(4, [5, 5, 5, 5]),
        "lfq": lambda: LookupFreeQuantizer(4, 4),
        "rvq": lambda: ResidualQuantizer(VectorQuantizer(4, 16), num_levels=3),
        "kl": lambda: GaussianQuantizer(4),
    }[kind]()


def video_tokenizer(kind: str, pad: bool = False) -> Autoencoder:
    torch.manual_seed(0)
    q = quantizer(kind)
    enc = CausalVideoEncoder(3, q.input_dim, pad_to_multiple=pad, **NETS)
    dec = CausalVideoDecoder(q.dim, 3, **NETS)
    return Autoencoder(enc, q, dec, modality="video", causal_time=True, fps=8.0, pad_to_multiple=pad).eval()


@pytest.mark.parametrize("kind", ["vq", "fsq", "lfq", "rvq", "kl"])
def test_variants_satisfy_the_protocol(kind, tmp_path):
    model = video_tokenizer(kind)
    assert isinstance(model, Tokenizer)
    spec = model.spec
    assert spec.modality == "video" and spec.causal_time and spec.downsample == (4, 4, 4)
    assert spec.grid((9, 16, 12)) == (3, 4, 3)  # 1 + 8 / 4 latent frames, 16 / 4 x 12 / 4
    assert spec.grid((1, 8, 8)) == (1, 2, 2)  # an image
    x = torch.rand(2, 3, 9, 16, 12) * 2 - 1
    tokens = model.encode(x)
    want = {"kl": (2, 4, 3, 4, 3), "rvq": (2, 3, 4, 3, 3)}.get(kind, (2, 3, 4, 3))
    assert tokens.shape == want == (2, *spec.token_shape((9, 16, 12)))
    assert tokens.dtype == (torch.float32 if kind == "kl" else torch.int64)
    assert model.decode(tokens).shape == x.shape
    image = x[:, :, :1]
    torch.testing.assert_close(model.encode(image), tokens[:, :1] if kind != "kl" else tokens[:, :, :1])
    assert model.decode(model.encode(image)).shape == image.shape

    model.train()
    out = model(x)
    (out.reconstruction.square().mean() + out.quantizer.loss).backward()
    assert model.encoder.conv_in.conv.weight.grad is not None

    model.eval()
    loaded = omnitok.load_tokenizer(model.save_pretrained(tmp_path / kind))
    assert loaded.spec == spec
    torch.testing.assert_close(loaded.decode(tokens), model.decode(tokens))


def test_clip_length_rule_and_padding():
    model = video_tokenizer("fsq")
    with pytest.raises(ShapeError, match="1 \\+ a multiple of 4"):
        model.encode(torch.zeros(1, 3, 6, 8, 8))
    with pytest.raises(ShapeError, match="must be \\[B, C, T, H, W\\]"):
        model.encode(torch.zeros(3, 9, 8, 8))
    padded = video_tokenizer("fsq", pad=True)
    x = torch.rand(1, 3, 6, 8, 8) * 2 - 1
    tokens = padded.encode(x)
    assert tokens.shape == (1, *padded.spec.grid((6, 8, 8))) == (1, 3, 2, 2)
    repeated = torch.cat([x, x[:, :, -1:].expand(-1, -1, 3, -1, -1)], dim=2)  # frames 6, 7, 8 = frame 5
    assert torch.equal(tokens, model.encode(repeated))


def test_channel_mismatch_is_a_config_error():
    with pytest.raises(ConfigError, match="set the encoder's out_channels to 8"):
        Autoencoder(CausalVideoEncoder(3, 4, **NETS), GaussianQuantizer(4), CausalVideoDecoder(4, 3, **NETS), "video")
