"""SEANet encoder/decoder: shapes, the token grid by hand, round trips, gradients, the bitrate ladder."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from omnitok import ConfigError, ShapeError
from omnitok.nn import SEANetDecoder, SEANetEncoder, Snake1d
from omnitok.protocol import Tokenizer
from tests.nn.audio_models import QUANTIZERS, tiny_codec


@pytest.mark.parametrize(
    "strides, sample_rate, frame_rate",
    [((2, 4, 5, 8), 24_000, 75.0), ((2, 4, 5, 8), 16_000, 50.0), ((4, 5, 8, 8), 16_000, 12.5), ((2, 4, 8, 10), 16_000, 25.0)],
)
def test_encoder_hop_gives_the_frame_rate(strides, sample_rate, frame_rate):
    encoder = SEANetEncoder(1, 8, base_channels=2, strides=strides, dilations=(1,))
    hop = math.prod(strides)
    assert encoder.downsample_factor == hop and sample_rate / hop == frame_rate
    seconds = 0.2
    z = encoder(torch.randn(1, 1, int(sample_rate * seconds)))
    assert z.shape == (1, 8, math.ceil(sample_rate * seconds / hop))


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("activation", ["elu", "snake"])
def test_encoder_decoder_shapes(channels, causal, activation):
    encoder = SEANetEncoder(channels, 16, base_channels=4, strides=(2, 3), activation=activation, causal=causal, lstm_layers=1)
    decoder = SEANetDecoder(16, channels, base_channels=4, strides=(3, 2), activation=activation, causal=causal, lstm_layers=1)
    x = torch.randn(3, channels, 60)
    z = encoder(x)
    assert z.shape == (3, 16, 10)
    assert decoder(z).shape == x.shape
    assert encoder(torch.randn(3, channels, 61)).shape == (3, 16, 11)  # right-padded to a whole frame


def test_snake_formula():
    snake = Snake1d(3)
    with torch.no_grad():
        snake.alpha.copy_(torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1))
    x = torch.randn(2, 3, 5)
    alpha = torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1)
    assert torch.allclose(snake(x), x + torch.sin(alpha * x) ** 2 / alpha, atol=1e-6)


def test_bad_configurations_fail_clearly():
    with pytest.raises(ConfigError, match="mono"):
        SEANetEncoder(3, 8)
    with pytest.raises(ConfigError, match="activation"):
        SEANetEncoder(1, 8, activation="relu")
    with pytest.raises(ConfigError, match="strides"):
        SEANetDecoder(8, 1, strides=())
    with pytest.raises(ShapeError, match=r"\[B, 1, S\]"):
        SEANetEncoder(1, 8, base_channels=2)(torch.randn(1, 2, 320))


@pytest.mark.parametrize("name", sorted(QUANTIZERS))
@pytest.mark.parametrize("channels", [1, 2])
def test_codec_is_a_tokenizer_with_the_grid_by_hand(name, channels):
    quantizer = QUANTIZERS[name]()
    model = tiny_codec(quantizer, channels=channels).eval()
    assert isinstance(model, Tokenizer)
    spec = model.spec
    assert spec.modality == "audio" and spec.downsample == (8,) and spec.sample_rate == 16_000 and spec.channels == channels
    assert spec.grid((160,)) == (20,) and spec.grid((161,)) == (21,)  # frames = ceil(S / hop)
    x = torch.rand(2, channels, 160) * 2 - 1
    tokens = model.encode(x)
    if spec.discrete:
        levels = quantizer.num_codebooks
        assert tokens.shape == ((2, 20, levels) if levels > 1 else (2, 20)) and tokens.dtype == torch.long
        assert spec.codebook_kind == ("residual" if levels > 1 else "single")
    else:
        assert tokens.shape == (2, 8, 20)
    decoded = model.decode(tokens)
    assert decoded.shape == x.shape
    assert torch.allclose(decoded, model(x).reconstruction, atol=1e-6)  # eval forward = decode(encode)


def test_save_and_load_round_trip(tmp_path):
    import omnitok

    model = tiny_codec(lstm_layers=1, activation="snake").eval()
    x = torch.rand(1, 1, 80) * 2 - 1
    model.save_pretrained(tmp_path / "codec")
    loaded = omnitok.load_tokenizer(tmp_path / "codec")
    assert loaded.spec == model.spec
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert torch.allclose(loaded.decode(model.encode(x)), model.decode(model.encode(x)))


def test_gradients_reach_every_parameter():
    model = tiny_codec(QUANTIZERS["fsq"](), lstm_layers=1, activation="snake").train()
    x = torch.rand(2, 1, 64) * 2 - 1
    out = model(x)
    ((out.reconstruction - x) ** 2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert not missing


def test_quantizer_dropout_gives_a_bitrate_ladder():
    """One model decodes with 1..Q levels; in training, dropout makes samples keep fewer levels."""
    from omnitok.quantizers import ResidualQuantizer, VectorQuantizer

    model = tiny_codec(ResidualQuantizer(VectorQuantizer(8, 32, kmeans_init=True), num_levels=4, dropout=0.0))
    x = torch.rand(4, 1, 160) * 2 - 1
    model.train()
    model(x)  # k-means initialises every level's codebook on its residuals
    model.quantizer.dropout = 1.0
    assert model(x).quantizer.metrics["mean_levels"] < 4  # every sample keeps a random prefix of levels
    model.eval()
    tokens = model.encode(x)
    latents = model.encoder(x)
    errors = []
    for q in range(1, 5):
        audio = model.decode(tokens[..., :q])
        assert audio.shape == x.shape
        quantized = model.quantizer.decode(tokens[..., :q])
        errors.append(float((quantized - latents).pow(2).mean()))
    assert all(a > b for a, b in itertools.pairwise(errors))  # each level refines the latents
    assert torch.allclose(model.decode(tokens[..., :4]), model.decode(tokens))
    spec = model.spec
    kbps = [q * math.log2(32) * spec.sample_rate / spec.downsample[0] / 1000 for q in range(1, 5)]
    assert kbps == [10.0, 20.0, 30.0, 40.0]  # 5 bits x 2000 frames/s per level


@pytest.mark.parametrize("activation", ["elu", "snake"])
@pytest.mark.parametrize("weight_norm", [True, False])
def test_untrained_codec_carries_its_input_at_unit_gain(activation, weight_norm):
    """Untrained, encoder + decoder pass a speech-level waveform through at about its own level, not buried under
    the biases: PyTorch's default conv init lost ~1/sqrt(3) per conv, so through the quickstart's 12 convs the
    input-driven part of the output was ~1e-4 of the input and the latent a constant offset (no waveform learned)."""
    torch.manual_seed(0)
    common = {
        "base_channels": 8,
        "dilations": (1, 3),
        "causal": True,
        "activation": activation,
        "weight_norm": weight_norm,
    }
    encoder = SEANetEncoder(1, 32, strides=(2, 4, 5, 8), **common)
    decoder = SEANetDecoder(32, 1, strides=(8, 5, 4, 2), **common)
    x = 0.1 * torch.randn(4, 1, 3200)  # RMS 0.1 (-20 dBFS), the data modules' loudness
    silence = torch.zeros_like(x)
    with torch.no_grad():
        z, z_silence = encoder(x), encoder(silence)
        driven = decoder(z) - decoder(z_silence)  # the part of the output that depends on the input
    assert 0.2 < float(driven.pow(2).mean().sqrt() / x.pow(2).mean().sqrt()) < 5
    assert float((z - z_silence).pow(2).mean().sqrt()) > float(z_silence.pow(2).mean().sqrt())  # signal > offset
