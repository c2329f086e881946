"""ConvEncoder2d / ConvDecoder2d: shapes, input and argument checks, gradients, configs, and agreement with diffusers'
VAE Encoder / Decoder after weight conversion."""

import math

import pytest
import torch
import torch.nn.functional as F

from omnitok import ConfigError, ShapeError, WeightsError
from omnitok.config import instantiate, to_config
from omnitok.models import Autoencoder
from omnitok.nn import (
    ConvDecoder2d,
    ConvEncoder2d,
    SelfAttention2d,
    decoder_state_from_diffusers,
    encoder_state_from_diffusers,
)
from omnitok.quantizers import GaussianQuantizer, VectorQuantizer

TINY = {"base_channels": 8, "num_res_blocks": 1, "norm_groups": 4}


@pytest.mark.parametrize(
    ("multipliers", "factor", "attention_levels"),
    [((1, 3, 2, 5), 8, (2,)), ((2, 1, 3, 1, 2), 16, (0, 4))],
)
def test_shapes_round_trip(multipliers, factor, attention_levels):
    arch = dict(TINY, channel_multipliers=multipliers, attention_levels=attention_levels)
    encoder, decoder = ConvEncoder2d(out_channels=6, **arch), ConvDecoder2d(in_channels=5, **arch)
    assert encoder.downsample_factor == decoder.downsample_factor == factor
    x = torch.rand(2, 3, 2 * factor, 3 * factor) * 2 - 1
    assert encoder(x).shape == (2, 6, 2, 3)
    assert decoder(torch.randn(2, 5, 2, 3)).shape == (2, 3, 2 * factor, 3 * factor)


def test_levels_channels_and_attention():
    encoder = ConvEncoder2d(channel_multipliers=(1, 2, 4), attention_levels=(2,), **TINY)
    decoder = ConvDecoder2d(channel_multipliers=(1, 2, 4), attention_levels=(2,), **TINY)
    assert [level.blocks[-1].conv2.out_channels for level in encoder.down] == [8, 16, 32]
    assert [len(level.attentions) for level in encoder.down] == [0, 0, 1]
    # decoder levels run lowest resolution first, with num_res_blocks + 1 blocks each
    assert [level.blocks[-1].conv2.out_channels for level in decoder.up] == [32, 16, 8]
    assert [len(level.blocks) for level in decoder.up] == [2, 2, 2]
    assert [len(level.attentions) for level in decoder.up] == [2, 0, 0]
    assert [level.resample is None for level in decoder.up] == [False, False, True]
    assert ConvEncoder2d(mid_attention=False, **TINY).mid.attention is None


def test_shape_errors():
    encoder = ConvEncoder2d(channel_multipliers=(1, 1, 2), **TINY)
    decoder = ConvDecoder2d(in_channels=4, channel_multipliers=(1, 1, 2), **TINY)
    with pytest.raises(ShapeError, match="divisible by its downsampling factor 4"):
        encoder(torch.zeros(1, 3, 16, 18))
    with pytest.raises(ShapeError, match="3 channels"):
        encoder(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ShapeError, match="3 channels"):
        encoder(torch.zeros(3, 16, 16))
    with pytest.raises(ShapeError, match="4 channels"):
        decoder(torch.zeros(1, 8, 4, 4))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_channels": 12, "norm_groups": 8}, "divisible by norm_groups"),
        ({"channel_multipliers": ()}, "channel_multipliers"),
        ({"channel_multipliers": (1, 0)}, "channel_multipliers"),
        ({"attention_levels": (3,)}, "attention_levels"),
        ({"num_res_blocks": 0}, "num_res_blocks"),
        ({"dropout": 1.0}, "dropout"),
        ({"out_channels": 0}, "out_channels"),
    ],
)
def test_bad_arguments(kwargs, match):
    for cls in (ConvEncoder2d, ConvDecoder2d):
        with pytest.raises(ConfigError, match=match):
            cls(**{**TINY, "channel_multipliers": (1, 2), **kwargs})


def test_config_round_trip():
    encoder = ConvEncoder2d(out_channels=4, channel_multipliers=(1, 2), attention_levels=[1], **TINY)
    config = to_config(encoder)
    assert config["class_path"] == "omnitok.nn.vqgan.ConvEncoder2d"
    rebuilt = instantiate(config)
    rebuilt.load_state_dict(encoder.state_dict())
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(rebuilt.eval()(x), encoder.eval()(x))


def test_gradients_flow_and_checkpointing_matches(monkeypatch):
    arch = dict(TINY, channel_multipliers=(1, 2), attention_levels=(1,))
    torch.manual_seed(0)
    encoder, decoder = ConvEncoder2d(out_channels=4, **arch), ConvDecoder2d(in_channels=4, **arch)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    parameters = torch.nn.ModuleDict({"encoder": encoder, "decoder": decoder}).named_parameters
    decoder(encoder(x)).square().mean().backward()
    grads = {name: p.grad.clone() for name, p in parameters()}
    assert all(g.abs().sum() > 0 for g in grads.values())
    assert x.grad is not None and x.grad.abs().sum() > 0

    import omnitok.nn.blocks

    calls = []
    real_checkpoint = omnitok.nn.blocks.checkpoint
    monkeypatch.setattr(omnitok.nn.blocks, "checkpoint", lambda *a, **k: calls.append(1) or real_checkpoint(*a, **k))
    for module in (encoder, decoder):
        module.zero_grad()
        module.gradient_checkpointing = True
    decoder(encoder(x)).square().mean().backward()
    # encoder: 2 level resnets + 1 attention + mid 3; decoder: 4 level resnets + 2 attentions + mid 3
    assert len(calls) == (2 + 1 + 3) + (4 + 2 + 3)
    for name, p in parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-5, atol=1e-6, msg=name)


def test_attention_matches_written_out_formula():
    attention = SelfAttention2d(8, norm_groups=4)
    with torch.no_grad():
        for p in attention.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(2, 8, 3, 5)
    h = F.group_norm(x, 4, attention.norm.weight, attention.norm.bias, eps=1e-6).flatten(2).transpose(1, 2)
    wq, wk, wv = attention.qkv.weight.chunk(3)
    bq, bk, bv = attention.qkv.bias.chunk(3)
    q, k, v = h @ wq.T + bq, h @ wk.T + bk, h @ wv.T + bv  # (B, HW, C)
    weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1)  # (B, HW, HW)
    out = (weights @ v) @ attention.proj.weight.T + attention.proj.bias
    expected = x + out.transpose(1, 2).reshape(x.shape)
    torch.testing.assert_close(attention(x), expected, rtol=1e-5, atol=1e-5)


def test_autoencoder_composition():
    arch = dict(TINY, channel_multipliers=(1, 2, 2))
    vq = VectorQuantizer(dim=4, codebook_size=32)
    model = Autoencoder(ConvEncoder2d(out_channels=vq.input_dim, **arch), vq, ConvDecoder2d(in_channels=4, **arch),
                        modality="image", downsample=(4, 4)).eval()
    x = torch.rand(2, 3, 16, 12) * 2 - 1
    assert model.encode(x).shape == (2, 4, 3)
    assert model.decode(model.encode(x)).shape == x.shape
    kl = GaussianQuantizer(dim=3)
    model = Autoencoder(ConvEncoder2d(out_channels=kl.input_dim, **arch), kl, ConvDecoder2d(in_channels=3, **arch),
                        modality="image", downsample=(4, 4)).eval()
    assert model.encode(x).shape == (2, 3, 4, 3)


# -- agreement with diffusers ---------------------------------------------------------------------------------------
def _perturb(module: torch.nn.Module) -> None:
    """Random weights everywhere, norms included, so a swapped or misnamed tensor cannot go unnoticed."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)


def _diffusers_pair(groups: int, double_z: bool, mid_attention: bool, attention_level: int | None):
    from diffusers.models.autoencoders.vae import Decoder, Encoder

    down = ["DownEncoderBlock2D", "DownEncoderBlock2D"]
    up = ["UpDecoderBlock2D", "UpDecoderBlock2D"]
    if attention_level is not None:
        down[attention_level] = "AttnDownEncoderBlock2D"
        up[1 - attention_level] = "AttnUpDecoderBlock2D"  # up_blocks run lowest resolution first
    common = {"block_out_channels": (32, 64), "layers_per_block": 1, "norm_num_groups": groups,
              "mid_block_add_attention": mid_attention}
    encoder = Encoder(3, 4, down_block_types=tuple(down), double_z=double_z, **common)
    decoder = Decoder(4, 3, up_block_types=tuple(up), **common)
    return encoder.eval(), decoder.eval()


@pytest.mark.parametrize(
    ("groups", "double_z", "mid_attention", "attention_level"),
    [(8, True, True, None), (32, False, True, 1), (8, False, False, 0)],
)
def test_matches_diffusers(groups, double_z, mid_attention, attention_level):
    pytest.importorskip("diffusers")
    theirs_enc, theirs_dec = _diffusers_pair(groups, double_z, mid_attention, attention_level)
    _perturb(theirs_enc)
    _perturb(theirs_dec)
    levels = () if attention_level is None else (attention_level,)
    arch = {"base_channels": 32, "channel_multipliers": (1, 2), "num_res_blocks": 1, "norm_groups": groups,
            "mid_attention": mid_attention, "attention_levels": levels}
    encoder = ConvEncoder2d(out_channels=8 if double_z else 4, **arch).eval()
    decoder = ConvDecoder2d(in_channels=4, **arch).eval()
    encoder.load_state_dict(encoder_state_from_diffusers(theirs_enc.state_dict()))
    decoder.load_state_dict(decoder_state_from_diffusers(theirs_dec.state_dict()))
    assert sum(p.numel() for p in encoder.parameters()) == sum(p.numel() for p in theirs_enc.parameters())
    assert sum(p.numel() for p in decoder.parameters()) == sum(p.numel() for p in theirs_dec.parameters())
    x, z = torch.rand(2, 3, 8, 12) * 2 - 1, torch.randn(2, 4, 4, 6)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), theirs_enc(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(decoder(z), theirs_dec(z), rtol=0, atol=1e-5)


def test_converts_whole_vae_and_legacy_attention_names():
    diffusers = pytest.importorskip("diffusers")
    vae = diffusers.AutoencoderKL(block_out_channels=(32, 32), layers_per_block=1, norm_num_groups=8,
                                  down_block_types=("DownEncoderBlock2D",) * 2,
                                  up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4).eval()
    _perturb(vae)
    arch = {"base_channels": 32, "channel_multipliers": (1, 1), "num_res_blocks": 1, "norm_groups": 8}
    encoder, decoder = ConvEncoder2d(out_channels=8, **arch).eval(), ConvDecoder2d(in_channels=4, **arch).eval()
    state = vae.state_dict()
    with pytest.raises(WeightsError, match="prefix='encoder.'"):
        encoder_state_from_diffusers(state)
    # older hub checkpoints: query/key/value/proj_attn, and LDM-style 1x1-conv attention weights
    legacy = {}
    for key, value in state.items():
        for new, old in (("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")):
            if f".{new}." in key:
                key = key.replace(f".{new}.", f".{old}.")
                value = value[..., None, None] if value.ndim == 2 else value
        legacy[key] = value
    encoder.load_state_dict(encoder_state_from_diffusers(legacy, prefix="encoder."))
    decoder.load_state_dict(decoder_state_from_diffusers(state, prefix="decoder."))
    x, z = torch.rand(1, 3, 8, 8) * 2 - 1, torch.randn(1, 4, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), vae.encoder(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(decoder(z), vae.decoder(z), rtol=0, atol=1e-5)
    with pytest.raises(WeightsError, match="lacks"):
        encoder_state_from_diffusers({k: v for k, v in legacy.items() if ".key." not in k}, prefix="encoder.")
    with pytest.raises(WeightsError, match="no part of a diffusers VAE decoder"):
        decoder_state_from_diffusers(state, prefix="encoder.")
