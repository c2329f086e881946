"""Chunked and tiled video coding: chunk by chunk equals the whole clip (indices exactly, frames within 1e-5) for
aligned and unaligned chunk sizes, the caches stay bounded, tiles equal the whole frame for a network with a local
receptive field, and blend without seams otherwise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from omnitok.errors import ConfigError, ShapeError
from omnitok.models import Autoencoder
from omnitok.models.video_chunked import (
    blend_ramp,
    decode_video_chunked,
    decode_video_stream,
    decode_video_tiled,
    encode_video_chunked,
    encode_video_stream,
    encode_video_tiled,
    tile_starts,
)
from omnitok.nn import CausalConv3d, CausalVideoDecoder, CausalVideoEncoder
from omnitok.nn.causal3d import FrameGroupNorm
from omnitok.quantizers import FiniteScalarQuantizer, GaussianQuantizer, VectorQuantizer


def tokenizer(
    kind: str = "vq",
    t: int = 4,
    levels: int = 3,
    attention: bool = True,
    pad: bool = False,
    groups: int = 2,
    time_padding: str = "replicate",
):
    torch.manual_seed(0)
    q = {"vq": lambda: VectorQuantizer(4, 32), "fsq": lambda: FiniteScalarQuantizer(4, [5, 5, 5, 5])}.get(
        kind, lambda: GaussianQuantizer(4)
    )()
    nets = {"base_channels": 4, "channel_multipliers": (1,) * levels, "num_res_blocks": 1, "temporal_downsample": t}
    nets |= {"attention": attention, "norm_groups": groups, "time_padding": time_padding}
    enc = CausalVideoEncoder(3, q.input_dim, pad_to_multiple=pad, **nets)
    dec = CausalVideoDecoder(q.dim, 3, **nets)
    return Autoencoder(enc, q, dec, modality="video", causal_time=True, pad_to_multiple=pad).eval()


def clip(frames: int, size: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, frames, size, size, generator=g) * 2 - 1


# -- temporal chunks --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["vq", "fsq"])
def test_chunked_indices_equal_whole_clip(kind):
    model = tokenizer(kind)
    x = clip(17)  # 1 + 4 * 4 frames -> 5 latent frames
    whole = model.encode(x)
    assert whole.shape == (1, 5, 2, 2)
    for chunk in (1, 2, 3, 4, 5, 6, 9, 17, 40):  # aligned (1 + 4k first, multiples of 4 after) and not
        assert torch.equal(encode_video_chunked(model, x, chunk), whole), chunk
    decoded = model.decode(whole)
    for chunk in (1, 2, 3, 5):
        torch.testing.assert_close(decode_video_chunked(model, whole, chunk), decoded, rtol=0, atol=1e-5)


@pytest.mark.parametrize("time_padding", ["replicate", "zeros"])
def test_chunked_continuous_latents_equal_whole_clip(time_padding):
    model = tokenizer("kl", t=2, time_padding=time_padding)
    x = clip(9)
    whole = model.encode(x)
    assert whole.shape == (1, 4, 5, 2, 2)
    for chunk in (1, 3, 4, 7):
        torch.testing.assert_close(encode_video_chunked(model, x, chunk), whole, rtol=0, atol=1e-5)
        torch.testing.assert_close(decode_video_chunked(model, whole, chunk), model.decode(whole), rtol=0, atol=1e-5)


def test_stream_emits_the_latent_frames_each_chunk_completes():
    model = tokenizer("vq")
    x = clip(13)
    counts = [tokens.shape[1] for tokens in encode_video_stream(model, x.split([5, 4, 4], dim=2))]
    assert counts == [2, 1, 1]  # aligned: 1 + 4 frames -> 2, then 4 -> 1 each
    counts = [tokens.shape[1] for tokens in encode_video_stream(model, x.split([3, 3, 3, 3, 1], dim=2))]
    assert counts == [1, 1, 1, 1]  # latent frame j comes with input frame 4 j; the 4th chunk completes none
    frames = [f.shape[2] for f in decode_video_stream(model, model.encode(x).split([1, 2, 1], dim=1))]
    assert frames == [1, 8, 4]  # 1 + (n - 1) * 4 for the first chunk, n * 4 after


def test_caches_stay_bounded_by_the_chunk():
    """After many chunks each causal conv holds at most kernel_t - 1 + (stride - 1) frames, not the clip."""
    model = tokenizer("vq", attention=False)
    x = clip(41)
    stream = encode_video_stream(model, x.split(4, dim=2))
    convs = [m for m in model.encoder.modules() if isinstance(m, CausalConv3d)]
    for _ in stream:
        for conv in convs:
            assert conv._buffer is not None and conv._buffer.shape[2] <= conv.kernel_t - 1 + conv.time_stride - 1


def test_chunked_pads_like_the_whole_clip():
    model = tokenizer("fsq", pad=True)
    x = clip(11)  # -> 13 frames by repeating frame 10
    whole = model.encode(x)
    assert whole.shape == (1, 4, 2, 2)
    for chunk in (1, 3, 4, 11):
        assert torch.equal(encode_video_chunked(model, x, chunk), whole)


def test_chunked_errors():
    model = tokenizer("vq")
    with pytest.raises(ConfigError, match="chunk_frames must be an int >= 1"):
        encode_video_chunked(model, clip(5), 0)
    with pytest.raises(ShapeError, match="1 \\+ a multiple of 4"):
        encode_video_chunked(model, clip(6), 2)
    with pytest.raises(ShapeError, match="the clip has 6 frames"):
        list(encode_video_stream(model, clip(6).split(3, dim=2)))
    with pytest.raises(ShapeError, match="does not continue the clip"):
        list(encode_video_stream(model, [clip(5), clip(4, size=16)]))
    plain = Autoencoder(
        nn.Conv3d(3, 4, 1), VectorQuantizer(4, 8), nn.Conv3d(4, 3, 1), "video", downsample=(1, 1, 1), causal_time=True
    )
    with pytest.raises(ConfigError, match="no streaming layers"):
        encode_video_chunked(plain, clip(5), 2)
    image_model = Autoencoder(nn.Conv2d(3, 4, 1), VectorQuantizer(4, 8), nn.Conv2d(4, 3, 1), "image", downsample=(1, 1))
    with pytest.raises(ConfigError, match="causal video tokenizers"):
        encode_video_chunked(image_model, torch.zeros(1, 3, 4, 4), 2)


# -- spatial tiles ----------------------------------------------------------------------------------------------
def test_tile_layout_and_ramps_by_hand():
    assert tile_starts(20, 8, 4) == [0, 4, 8, 12]
    assert tile_starts(22, 8, 4) == [0, 4, 8, 12, 14]
    assert tile_starts(8, 16, 4) == [0]
    # overlap 8: margin 2 zeros, then 1/5 .. 5/5 over the middle, 1 beyond
    assert blend_ramp(12, 8, left=True, right=False).tolist() == [0, 0, 0.2, 0.4, 0.6, 0.8, 1, 1, 1, 1, 1, 1]
    left, right = blend_ramp(12, 8, True, False), blend_ramp(12, 8, False, True)
    assert torch.equal(right, left.flip(0))
    assert torch.allclose(left[:8] + right[4:], torch.ones(8, dtype=torch.float64))  # neighbours sum to one


def local_tokenizer() -> Autoencoder:
    """Spatial factor 2, no attention, and no normalization (GroupNorm's frame statistics reach the whole frame):
    a network whose receptive field is local."""
    model = tokenizer("fsq", t=2, levels=2, attention=False, groups=1)
    for network in (model.encoder, model.decoder):
        for module in list(network.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, FrameGroupNorm):
                    setattr(module, name, nn.Identity())
    return model


def receptive_radius(network: nn.Module, x: torch.Tensor, at: int, ratio: float) -> float:
    """How far (in x's units, along H) the inputs reaching output row ``at`` of the last frame lie from the input
    row under it (``at * ratio``)."""
    x = x.clone().requires_grad_(True)
    network(x)[0, :, -1, at, at].sum().backward()
    rows = x.grad[0].abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    centre = at * ratio
    return float(max(centre - rows.min(), rows.max() - centre))


def test_tiles_equal_whole_frame_when_the_receptive_field_fits():
    model = local_tokenizer()
    s = model.spec.downsample[1]
    overlap = 80  # tiles drop overlap / 4 = 20 px at inner edges
    assert receptive_radius(model.encoder, clip(3, size=64), 16, s) <= overlap // 4
    x = clip(3, size=112)
    whole = model.encode(x)
    assert torch.equal(encode_video_tiled(model, x, tile_size=96, overlap=overlap), whole)
    assert torch.equal(encode_video_tiled(model, x, tile_size=96, overlap=overlap, chunk_frames=2), whole)

    overlap = 96  # pixels; 48 latents, of which 12 (24 px) are dropped at inner edges
    latents = model.quantizer.decode(torch.randint(0, 625, (1, 2, 40, 40)))
    assert receptive_radius(model.decoder, latents, 40, 1 / s) * s <= overlap // 4
    tokens = torch.randint(0, 625, (1, 2, 80, 80), generator=torch.Generator().manual_seed(2))
    decoded = model.decode(tokens)
    torch.testing.assert_close(decode_video_tiled(model, tokens, 128, overlap), decoded, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        decode_video_tiled(model, tokens, 128, overlap, chunk_latents=1), decoded, rtol=0, atol=1e-5
    )


def test_tiles_blend_without_seams():
    """With frame-wide normalization and attention, tiles differ from each other where they overlap; the output
    there is the written-out linear cross-fade, so the difference enters at most 1/9 per pixel instead of as a step."""
    model = tokenizer("kl", t=1, levels=2)
    z = torch.randn(1, 4, 2, 12, 16, generator=torch.Generator().manual_seed(3))  # one row of tiles, two columns
    with torch.no_grad():
        blended = decode_video_tiled(model, z, tile_size=24, overlap=16)  # latent columns 0..12 and 4..16
        left, right = model.decoder(z[..., :12]), model.decoder(z[..., 4:])  # pixel columns 0..24 and 8..32
    assert (left[..., 8:] - right[..., :16]).abs().max() > 1e-2  # a hard cut would leave a step
    torch.testing.assert_close(blended[..., :8], left[..., :8], rtol=0, atol=0)
    torch.testing.assert_close(blended[..., 24:], right[..., 16:], rtol=0, atol=0)
    # overlap 16 px: the outer 4 px of each tile are dropped, the middle 9 px fade linearly
    for c in range(8, 24):
        w_left = min(max((20 - c) / 9, 0.0), 1.0)
        want = w_left * left[..., c] + (1 - w_left) * right[..., c - 8]
        torch.testing.assert_close(blended[..., c], want, rtol=0, atol=1e-6)


def test_tile_errors():
    model = tokenizer("vq")
    x = clip(5, size=16)
    with pytest.raises(ConfigError, match="multiples of the spatial factor 4"):
        encode_video_tiled(model, x, tile_size=10, overlap=4)
    with pytest.raises(ConfigError, match="overlap must be an int in"):
        encode_video_tiled(model, x, tile_size=8, overlap=8)
    with pytest.raises(ShapeError):
        encode_video_tiled(model, clip(4, size=16), tile_size=8, overlap=4)
