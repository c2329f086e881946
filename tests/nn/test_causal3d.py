"""Causal 3-D video layers and networks: each layer against a written-out formula, shapes computed by hand for
temporal factors 1/2/4/8 and spatial 8/16, causality by perturbing later frames, one-frame images, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from omnitok.errors import ConfigError, ShapeError
from omnitok.nn import CausalConv3d, CausalTemporalAttention, CausalVideoDecoder, CausalVideoEncoder, streaming
from omnitok.nn.causal3d import FrameGroupNorm, TimeUpsample


def tiny(t: int, levels: int, attention: bool = False, latent: int = 4, **extra):
    """Encoder + decoder with 4 channels per level (spatial factor 2 ** (levels - 1), temporal factor t)."""
    kw = {"base_channels": 4, "channel_multipliers": (1,) * levels, "num_res_blocks": 1, "temporal_downsample": t}
    kw.update(attention=attention, norm_groups=2)
    torch.manual_seed(0)
    enc = CausalVideoEncoder(3, latent, **kw, **extra).eval()
    dec = CausalVideoDecoder(latent, 3, **kw).eval()
    return enc, dec


# -- layers against independent formulas -------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["replicate", "zeros"])
@pytest.mark.parametrize("kernel,stride", [((3, 3, 3), 1), ((3, 1, 1), 2), ((5, 3, 1), 2), ((1, 3, 3), 1)])
def test_causal_conv3d_is_past_padded_conv3d(padding, kernel, stride):
    torch.manual_seed(1)
    conv = CausalConv3d(3, 5, kernel, time_stride=stride, time_padding=padding)
    x = torch.randn(2, 3, 1 + 2 * stride, 6, 5)
    kt, kh, kw = kernel
    ref = nn.Conv3d(3, 5, kernel, stride=(stride, 1, 1))
    ref.load_state_dict(conv.conv.state_dict())
    if padding == "zeros":
        padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2, kt - 1, 0))
    else:  # copies of frame 0 in the past, zeros around the frame
        padded = F.pad(torch.cat([x[:, :, :1]] * (kt - 1) + [x], dim=2), (kw // 2, kw // 2, kh // 2, kh // 2))
    want = ref(padded)
    got = conv(x)
    assert got.shape == (2, 5, 1 + 2, 6, 5)  # T = 1 + 2 s frames -> 3 outputs
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["replicate", "zeros"])
@pytest.mark.parametrize("sizes", [[7], [1, 6], [2, 2, 3], [1, 1, 1, 1, 1, 1, 1], [4, 3]])
def test_causal_conv3d_streams_any_chunk_sizes(sizes, padding):
    torch.manual_seed(2)
    conv = CausalConv3d(2, 3, (3, 3, 3), time_stride=2, time_padding=padding)
    x = torch.randn(1, 2, 7, 4, 4)
    whole = conv(x)
    with streaming(conv):
        parts = [conv(c) for c in x.split(sizes, dim=2)]
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=1e-5, atol=1e-6)


def test_frame_group_norm_normalizes_each_frame_alone():
    torch.manual_seed(3)
    norm = FrameGroupNorm(4, 2)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = torch.randn(2, 4, 3, 5, 5) * torch.tensor([1.0, 10.0, 100.0]).view(1, 1, 3, 1, 1)
    got = norm(x)
    for t in range(3):
        frame = x[:, :, t].reshape(2, 2, -1)  # (B, groups, C/groups * H * W)
        mean, var = frame.mean(-1, keepdim=True), frame.var(-1, unbiased=False, keepdim=True)
        want = ((frame - mean) / torch.sqrt(var + 1e-6)).reshape(2, 4, 5, 5)
        want = want * norm.weight.view(1, 4, 1, 1) + norm.bias.view(1, 4, 1, 1)
        torch.testing.assert_close(got[:, :, t], want, rtol=1e-4, atol=1e-5)


def test_causal_temporal_attention_matches_written_out_softmax():
    torch.manual_seed(4)
    attn = CausalTemporalAttention(4, 2)
    x = torch.randn(1, 4, 5, 2, 3)
    got = attn(x)
    tokens = attn.norm(x).permute(0, 3, 4, 2, 1).reshape(6, 5, 4)  # (positions, T, C)
    q, k, v = attn.qkv(tokens).split(4, dim=-1)
    scores = q @ k.transpose(1, 2) / math.sqrt(4)  # (positions, T, T)
    future = torch.ones(5, 5, dtype=torch.bool).triu(1)
    weights = scores.masked_fill(future, float("-inf")).softmax(-1)
    out = attn.proj(weights @ v).reshape(1, 2, 3, 5, 4).permute(0, 4, 3, 1, 2)
    torch.testing.assert_close(got, x + out, rtol=1e-5, atol=1e-6)
    with streaming(attn):  # keys and values of earlier chunks are kept
        parts = [attn(c) for c in x.split([2, 1, 2], dim=2)]
    torch.testing.assert_close(torch.cat(parts, dim=2), got, rtol=1e-5, atol=1e-6)


def test_time_upsample_doubles_all_but_the_first_frame():
    x = torch.arange(3.0).view(1, 1, 3, 1, 1)
    assert TimeUpsample()(x).flatten().tolist() == [0.0, 1.0, 1.0, 2.0, 2.0]
    up = TimeUpsample()
    with streaming(up):
        parts = [up(c) for c in x.split([1, 2], dim=2)]
    assert torch.cat(parts, dim=2).flatten().tolist() == [0.0, 1.0, 1.0, 2.0, 2.0]


# -- networks ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("t,levels,frames", [(1, 4, 3), (2, 4, 5), (4, 4, 9), (8, 4, 9), (4, 5, 5), (8, 5, 9)])
def test_shapes_by_hand(t, levels, frames):
    s = 2 ** (levels - 1)
    enc, dec = tiny(t, levels, latent=6)
    assert enc.downsample_factor == dec.downsample_factor == (t, s, s)
    assert (enc.in_channels, enc.out_channels, dec.in_channels, dec.out_channels) == (3, 6, 6, 3)
    x = torch.randn(1, 3, frames, s, 2 * s)
    with torch.no_grad():
        z = enc(x)
        assert z.shape == (1, 6, 1 + (frames - 1) // t, 1, 2)
        assert dec(z).shape == x.shape


def test_gradients_reach_every_parameter():
    enc, dec = tiny(2, 3, attention=True)
    enc.train(), dec.train()
    x = torch.randn(1, 3, 5, 4, 4)
    dec(enc(x)).square().mean().backward()
    for name, p in [*enc.named_parameters(), *dec.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_gradient_checkpointing_gives_the_same_gradients():
    enc, _ = tiny(2, 3, attention=True)
    ckpt, _ = tiny(2, 3, attention=True, gradient_checkpointing=True)
    ckpt.load_state_dict(enc.state_dict())
    x = torch.randn(1, 3, 5, 4, 4)
    for model in (enc, ckpt):
        model.train()
        model(x).sum().backward()
    for (name, a), b in zip(enc.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("attention", [False, True])
def test_latent_frames_do_not_depend_on_later_frames(attention):
    """Latent frame j sees input frames 0..j t only; decoded frame f sees latent frames 0..ceil(f / t) only."""
    t = 4
    enc, dec = tiny(t, 3, attention=attention)
    x = torch.randn(1, 3, 1 + 3 * t, 8, 8)
    with torch.no_grad():
        z = enc(x)
        for j in range(3):
            later = x.clone()
            later[:, :, j * t + 1 :] = torch.randn_like(later[:, :, j * t + 1 :])
            z2 = enc(later)
            torch.testing.assert_close(z2[:, :, : j + 1], z[:, :, : j + 1], rtol=0, atol=1e-6)
            assert not torch.allclose(z2[:, :, j + 1 :], z[:, :, j + 1 :], atol=1e-3)  # the later ones do change
        y = dec(z)
        z3 = z.clone()
        z3[:, :, 3] += 1.0
        y3 = dec(z3)
        torch.testing.assert_close(y3[:, :, : 1 + 2 * t], y[:, :, : 1 + 2 * t], rtol=0, atol=1e-6)
        assert not torch.allclose(y3[:, :, 1 + 2 * t :], y[:, :, 1 + 2 * t :], atol=1e-3)


@pytest.mark.parametrize("attention", [False, True])
def test_an_image_is_a_one_frame_video(attention):
    enc, dec = tiny(4, 3, attention=attention)
    video = torch.randn(2, 3, 9, 8, 8)
    image = video[:, :, :1]
    with torch.no_grad():
        z = enc(image)
        assert z.shape == (2, 4, 1, 2, 2)
        torch.testing.assert_close(z, enc(video)[:, :, :1], rtol=0, atol=1e-6)  # the video's first latent frame
        assert dec(z).shape == (2, 3, 1, 8, 8)


# -- configuration and input errors -----------------------------------------------------------------------------
def test_bad_input_names_the_rule():
    enc, dec = tiny(4, 3)
    with pytest.raises(ShapeError, match=r"T = 1 \+ k \* 4 frames \(1, 5, 9, ...\)"):
        enc(torch.randn(1, 3, 4, 8, 8))
    with pytest.raises(ShapeError, match="multiples of 4"):
        enc(torch.randn(1, 3, 5, 8, 6))
    with pytest.raises(ShapeError, match=r"\[B, 3, T, H, W\]"):
        enc(torch.randn(3, 8, 8))
    with pytest.raises(ShapeError, match=r"\[B, 3, T, H, W\]"):
        enc(torch.randn(1, 1, 5, 8, 8))
    with pytest.raises(ShapeError, match=r"\[B, 4, n, h, w\]"):
        dec(torch.randn(1, 4, 2, 2))
    with pytest.raises(ShapeError, match="at least one"):
        enc(torch.randn(1, 3, 0, 8, 8))


def test_pad_to_multiple_repeats_the_last_frame():
    enc, _ = tiny(4, 3, pad_to_multiple=True)
    x = torch.randn(1, 3, 6, 7, 8)  # T = 6 -> 9 frames; H = 7 -> 8
    padded = torch.cat([x, x[:, :, -1:].expand(-1, -1, 3, -1, -1)], dim=2)
    padded = torch.cat([padded, padded[:, :, :, -1:]], dim=3)
    with torch.no_grad():
        z = enc(x)
        assert z.shape == (1, 4, 3, 2, 2)
        enc.pad_to_multiple = False
        torch.testing.assert_close(z, enc(padded), rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"temporal_downsample": 3}, "temporal_downsample must be one of"),
        ({"temporal_downsample": 8, "channel_multipliers": (1, 1, 1)}, "needs 3 downsampling stages"),
        ({"norm_groups": 3}, "divisible by norm_groups"),
        ({"channel_multipliers": ()}, "channel_multipliers"),
        ({"time_padding": "reflect"}, "time_padding"),
    ],
)
def test_bad_configuration(kwargs, match):
    base = {
        "base_channels": 4,
        "channel_multipliers": (1, 1, 1),
        "num_res_blocks": 1,
        "temporal_downsample": 4,
        "norm_groups": 2,
    }
    base.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        CausalVideoEncoder(3, 4, **base)
    with pytest.raises(ConfigError, match=match):
        CausalVideoDecoder(4, 3, **base)


def test_on_a_still_clip_one_adam_step_moves_the_causal_conv_three_times_as_far_as_the_2d_conv():
    """Replicate padding feeds a still clip (here one frame) to all three temporal taps, so each tap gets the
    gradient of the equivalent 2-D kernel (their sum) and Adam moves each by the same step: the effective kernel
    moves 3x as far as a Conv2d's would. This is why the video recipes train at a third of the image learning rate."""
    torch.manual_seed(0)
    conv3d = CausalConv3d(4, 4, 3)
    conv2d = nn.Conv2d(4, 4, 3, padding=1)
    with torch.no_grad():
        conv2d.weight.copy_(conv3d.conv.weight.sum(2))
        conv2d.bias.copy_(conv3d.conv.bias)
    x = torch.randn(2, 4, 1, 8, 8)
    target = torch.randn(2, 4, 1, 8, 8)
    assert torch.allclose(conv3d(x)[:, :, 0], conv2d(x[:, :, 0]), atol=1e-5)
    before3d, before2d = conv3d.conv.weight.detach().sum(2).clone(), conv2d.weight.detach().clone()
    for model, out in ((conv3d, lambda: conv3d(x)), (conv2d, lambda: conv2d(x[:, :, 0]).unsqueeze(2))):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        (out() - target).pow(2).mean().backward()
        optimizer.step()
    moved3d = conv3d.conv.weight.detach().sum(2) - before3d
    moved2d = conv2d.weight.detach() - before2d
    assert torch.allclose(moved3d, 3 * moved2d, atol=1e-6)
