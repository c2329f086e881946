"""The spectral speech codec's networks: log-mel encoder and inverse-STFT decoder."""

from __future__ import annotations

import pytest
import torch

from omnitok import ConfigError, ShapeError
from omnitok.config import instantiate
from omnitok.nn import ISTFTDecoder, MelEncoder


def tiny_pair(strides=(5,)):
    kwargs = {"n_fft": 256, "hop": 64, "channels": 16, "strides": strides, "blocks": 1}
    return MelEncoder(8, n_mels=20, **kwargs), ISTFTDecoder(8, **kwargs)


@pytest.mark.parametrize("strides", [(5,), (2, 2)])
def test_token_rate_and_lengths(strides):
    encoder, decoder = tiny_pair(strides)
    hop = encoder.downsample_factor
    assert hop == decoder.upsample_factor == 64 * torch.tensor(strides).prod().item()
    for samples in (hop, 3 * hop, 3 * hop + 1):
        z = encoder(torch.randn(2, 1, samples) * 0.1)
        frames = -(-samples // hop)  # right-padded to whole frames
        assert z.shape == (2, 8, frames)
        assert decoder(z).shape == (2, 1, frames * hop)


def test_synthesis_inverts_torch_stft():
    """The decoder's last step, fed the true STFT of a signal (torch.stft as the reference), gives the signal back."""
    _, decoder = tiny_pair()
    x = torch.randn(2, 64 * 40) * 0.1
    spectrum = torch.stft(x, 256, 64, window=torch.hann_window(256), center=True, return_complex=True)
    y = decoder.synthesize(spectrum.abs().clamp_min(1e-12).log().transpose(1, 2), spectrum.angle().transpose(1, 2))
    assert y.shape == (2, 1, x.shape[-1])
    torch.testing.assert_close(y[:, 0], x, atol=1e-5, rtol=0)


def test_gradients_reach_both_networks():
    encoder, decoder = tiny_pair()
    loss = decoder(encoder(torch.randn(2, 1, 640) * 0.1)).square().mean()
    loss.backward()
    for network in (encoder, decoder):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in network.parameters())


def test_builds_a_codec_from_config_and_keeps_the_eval_contract():
    codec = instantiate(
        {
            "class_path": "omnitok.models.Autoencoder",
            "init_args": {
                "modality": "audio",
                "sample_rate": 16000,
                "token_rate": 12.5,
                "channels": 1,
                "encoder": {
                    "class_path": "omnitok.nn.MelEncoder",
                    "init_args": {"out_channels": 8, "channels": 16, "blocks": 1},
                },
                "quantizer": {
                    "class_path": "omnitok.quantizers.ResidualQuantizer",
                    "init_args": {
                        "levels": {
                            "class_path": "omnitok.quantizers.VectorQuantizer",
                            "init_args": {"dim": 8, "codebook_size": 16},
                        },
                        "num_levels": 2,
                    },
                },
                "decoder": {
                    "class_path": "omnitok.nn.ISTFTDecoder",
                    "init_args": {"in_channels": 8, "channels": 16, "blocks": 1},
                },
            },
        }
    ).eval()
    x = torch.randn(2, 1, 2560) * 0.1
    with torch.no_grad():
        tokens = codec.encode(x)
        assert tokens.shape == (2, 2, 2) and codec.spec.downsample == (1280,)
        out = codec(x)
        torch.testing.assert_close(codec.decode(tokens), out.reconstruction)


def test_bad_input_and_config():
    encoder, decoder = tiny_pair()
    with pytest.raises(ShapeError, match="mono"):
        encoder(torch.randn(1, 2, 640))
    with pytest.raises(ShapeError, match="latents"):
        decoder(torch.randn(1, 3, 4))
    with pytest.raises(ConfigError, match="hop"):
        MelEncoder(8, n_fft=64, hop=128)
    with pytest.raises(ConfigError, match="strides"):
        ISTFTDecoder(8, strides=(0,))
