"""Long and large videos with bounded memory: temporal chunks with causal caching, and spatial tiles with blending.

Chunks. A causal video tokenizer (every layer causal in time: :class:`~omnitok.nn.CausalVideoEncoder` /
:class:`~omnitok.nn.CausalVideoDecoder`) runs chunk by chunk inside :func:`omnitok.nn.streaming.streaming`: each
causal convolution keeps the last ``kernel_t - 1`` frames it has seen (plus the frames a temporal stride has not
consumed yet), the temporal upsampler remembers that frame 0 is behind it, and the causal temporal attention keeps
the keys and values of earlier frames. The tokens (and decoded frames) equal those of one pass over the whole clip,
up to float rounding (about 1e-6). **Any chunk size >= 1 is accepted**; a chunk emits the latent frames it
completes, so aligned chunks (the first ``1 + k t`` frames, then multiples of ``t``) emit ``1 + k`` and then
``chunk / t`` latent frames each, and unaligned ones carry the rest to the next chunk. Memory is bounded by the
chunk's activations, the convolution caches (a few frames per layer) and, with attention, the keys/values of the
latent frames already coded (``2 C h w`` numbers per latent frame, at the lowest resolution).

Tiles. Frames larger than memory allows are cut into overlapping square tiles (every frame of the clip at once, or
chunk by chunk with ``chunk_frames``); the outputs are blended where tiles overlap. Along an edge shared with the
next tile, a tile's weight is 0 over the outer quarter of the overlap (where its own zero padding makes it wrong),
rises linearly over the middle half and is 1 beyond; the weights of overlapping tiles add up to one. So a network
whose receptive field reaches at most a quarter of the overlap past a position gives exactly the untiled result,
and any other network gives a smooth transition instead of a seam. Encoding blends the encoder's latents before
the quantizer; decoding blends the decoded pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from omnitok.errors import ConfigError, DTypeError, NonFiniteError, ShapeError
from omnitok.models.precision import to_compute_dtype
from omnitok.nn.streaming import StreamingLayer, streaming
from omnitok.protocol import check_media, check_tokens


def _parts(tokenizer: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    spec = getattr(tokenizer, "spec", None)
    if spec is None or not spec.causal_time or len(spec.downsample) != 3:
        raise ConfigError(
            "chunked video coding applies to causal video tokenizers: spec.causal_time, on [B, C, T, H, W] clips "
            "(three grid axes)"
        )
    try:
        parts = tokenizer.encoder, tokenizer.quantizer, tokenizer.decoder
    except AttributeError:
        raise ConfigError(
            f"{type(tokenizer).__name__} has no encoder/quantizer/decoder to run chunk by chunk"
        ) from None
    return parts


def _check_streamable(network: nn.Module) -> None:
    if not any(isinstance(m, StreamingLayer) for m in network.modules()):
        raise ConfigError(
            f"{type(network).__name__} has no streaming layers, so chunks would not see each other; "
            "chunked coding needs a causal network such as omnitok.nn.CausalVideoEncoder / CausalVideoDecoder"
        )


def _time_axis(tokenizer: nn.Module) -> int:
    """Axis of latent frames in tokens: indices [B, n, h, w(, Q)] or latents [B, D, n, h, w]."""
    return 1 if tokenizer.spec.discrete else 2


def _check_chunk(chunk: Tensor, channels: int, first: Tensor | None) -> None:
    if not isinstance(chunk, Tensor):
        raise DTypeError(f"video chunks must be tensors, got {type(chunk).__name__}")
    if chunk.ndim != 5 or chunk.shape[1] != channels:
        raise ShapeError(f"video chunks must be [B, {channels}, T, H, W], got {tuple(chunk.shape)}")
    if first is not None and (chunk.shape[:2] != first.shape[:2] or chunk.shape[3:] != first.shape[3:]):
        raise ShapeError(f"video chunk {tuple(chunk.shape)} does not continue the clip {tuple(first.shape)}")
    if not chunk.is_floating_point():
        raise DTypeError(f"video chunks must be floating point, got {chunk.dtype}")
    if not torch.isfinite(chunk).all():
        raise NonFiniteError("video chunk holds NaN or Inf")


def _latent_stream(tokenizer: nn.Module, chunks: Iterable[Tensor]) -> Iterator[Tensor]:
    """The encoder's latents [B, D', n_i, h, w] for consecutive frame chunks; at the end the clip is completed to
    ``1 + k t`` frames by repeating its last frame when ``spec.pad_to_multiple``, else a short clip is an error."""
    encoder, _, _ = _parts(tokenizer)
    _check_streamable(encoder)
    spec, t = tokenizer.spec, tokenizer.spec.downsample[0]
    fed, first, last = 0, None, None
    with streaming(encoder):
        for chunk in chunks:
            _check_chunk(chunk, spec.channels, first)
            if chunk.shape[2] == 0:
                continue
            first = chunk if first is None else first
            fed, last = fed + chunk.shape[2], chunk[:, :, -1:]
            latents = encoder(to_compute_dtype(tokenizer, chunk))
            if latents.shape[2]:
                yield latents
        if last is None:
            raise ShapeError("the video has no frames")
        pad = (-(fed - 1)) % t
        if pad and not spec.pad_to_multiple:
            raise ShapeError(f"the clip has {fed} frames; this tokenizer needs T = 1 + k * {t} (or pad_to_multiple)")
        if pad:
            latents = encoder(to_compute_dtype(tokenizer, last.expand(-1, -1, pad, -1, -1)))
            if latents.shape[2]:
                yield latents


@torch.no_grad()
def encode_video_stream(tokenizer: nn.Module, chunks: Iterable[Tensor]) -> Iterator[Tensor]:
    """Tokens for a clip given as consecutive frame chunks [B, C, T_i, H, W] (any T_i >= 1).

    Yields the tokens [B, n_i, h, w(, Q)] (or latents [B, D, n_i, h, w]) of the latent frames each chunk completes
    (latent frame j arrives with input frame j t; a chunk that completes none yields nothing); concatenated along the latent-frame axis they equal ``tokenizer.encode(whole clip)``."""
    quantizer = _parts(tokenizer)[1]
    for latents in _latent_stream(tokenizer, chunks):
        yield quantizer.encode(latents)


@torch.no_grad()
def decode_video_stream(tokenizer: nn.Module, chunks: Iterable[Tensor]) -> Iterator[Tensor]:
    """Frames [B, C, F_i, H, W] for consecutive token chunks (as :func:`encode_video_stream` yields them): the first
    chunk of n latent frames gives 1 + (n - 1) t frames, later ones n t; concatenated they equal
    ``tokenizer.decode(all tokens)``."""
    _, quantizer, decoder = _parts(tokenizer)
    _check_streamable(decoder)
    with streaming(decoder):
        for tokens in chunks:
            check_tokens(tokens, tokenizer.spec)
            yield decoder(to_compute_dtype(tokenizer, quantizer.decode(tokens)))


def _check_count(value: int, name: str) -> None:
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")


def encode_video_chunked(tokenizer: nn.Module, x: Tensor, chunk_frames: int) -> Tensor:
    """``tokenizer.encode(x)`` computed ``chunk_frames`` frames at a time (any chunk size >= 1).

    x: [B, C, T, H, W] in ``spec.value_range``, T = 1 + k t (or any T with ``spec.pad_to_multiple``) ->
    tokens [B, 1 + k, H / s, W / s(, Q)] or latents [B, D, 1 + k, H / s, W / s]."""
    _check_count(chunk_frames, "chunk_frames")
    check_media(x, tokenizer.spec)
    parts = list(encode_video_stream(tokenizer, x.split(chunk_frames, dim=2)))
    return torch.cat(parts, dim=_time_axis(tokenizer))


def decode_video_chunked(tokenizer: nn.Module, tokens: Tensor, chunk_latents: int) -> Tensor:
    """``tokenizer.decode(tokens)`` computed ``chunk_latents`` latent frames at a time (any chunk size >= 1)."""
    _check_count(chunk_latents, "chunk_latents")
    check_tokens(tokens, tokenizer.spec)
    chunks = tokens.split(chunk_latents, dim=_time_axis(tokenizer))
    return torch.cat(list(decode_video_stream(tokenizer, chunks)), dim=2)


# -- spatial tiles ----------------------------------------------------------------------------------------------
def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` covering ``size`` with at least ``overlap`` shared between neighbours."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, tile - overlap))
    return [*starts, size - tile]


def blend_ramp(length: int, overlap: int, left: bool, right: bool) -> Tensor:
    """Weights [length] of one tile along one axis: 0 over the outer quarter of an ``overlap`` shared on the
    ``left`` / ``right`` edge, a linear rise over the middle half, 1 elsewhere; neighbours' weights sum to one."""
    margin = overlap // 4
    width = overlap - 2 * margin + 1
    p = torch.arange(length, dtype=torch.float64)
    weight = torch.ones(length, dtype=torch.float64)
    if left:
        weight = torch.minimum(weight, ((p - margin + 1) / width).clamp(0, 1))
    if right:
        weight = torch.minimum(weight, ((length - p - margin) / width).clamp(0, 1))
    return weight


def _tiled(
    run: Callable[[Tensor], Tensor], x: Tensor, tile: int, overlap: int, up: int, down: int, out_channels: int
) -> Tensor:
    """Apply ``run`` to overlapping tiles of x's last two axes (tile and overlap in x's units) and blend its outputs,
    whose spatial sizes are ``in * up / down``, with :func:`blend_ramp` weights."""
    height, width = x.shape[-2:]
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    scale = up / down
    out, total = None, None
    for r in rows:
        for c in cols:
            th, tw = min(tile, height), min(tile, width)
            y = run(x[..., r : r + th, c : c + tw])  # (B, C', n, th * scale, tw * scale)
            oh, ow = y.shape[-2:]
            if out is None:
                out = y.new_zeros(*y.shape[:3], round(height * scale), round(width * scale))
                total = torch.zeros(out.shape[-2:], dtype=torch.float64, device=y.device)
            o = round(overlap * scale)
            wh = blend_ramp(oh, o, left=r > 0, right=r + th < height).to(y.device)
            ww = blend_ramp(ow, o, left=c > 0, right=c + tw < width).to(y.device)
            weight = wh[:, None] * ww[None, :]
            r0, c0 = round(r * scale), round(c * scale)
            out[..., r0 : r0 + oh, c0 : c0 + ow] += y * weight.to(y.dtype)
            total[r0 : r0 + oh, c0 : c0 + ow] += weight
    assert out is not None and total is not None
    if out.shape[1] != out_channels:
        raise ShapeError(f"tiles gave {out.shape[1]} channels, expected {out_channels}")
    if not (total > 0).all():
        raise ConfigError(f"tiles of {tile} sharing {overlap} leave positions without weight; use larger tiles")
    return out / total.to(out.dtype)


def _check_tiles(tile_size: int, overlap: int, factor: int) -> None:
    _check_count(tile_size, "tile_size")
    if not isinstance(overlap, int) or not 0 <= overlap < tile_size:
        raise ConfigError(f"overlap must be an int in [0, tile_size={tile_size}), got {overlap!r}")
    if tile_size % factor or overlap % factor:
        raise ConfigError(
            f"tile_size {tile_size} and overlap {overlap} must be multiples of the spatial factor {factor}"
        )


def encode_video_tiled(
    tokenizer: nn.Module, x: Tensor, tile_size: int, overlap: int, chunk_frames: int | None = None
) -> Tensor:
    """``tokenizer.encode(x)`` from overlapping spatial tiles of ``tile_size`` pixels sharing ``overlap`` pixels
    (both multiples of the spatial factor s), the encoder's latents blended before quantization; each tile is coded
    whole or ``chunk_frames`` frames at a time. Equal to the untiled tokens when the encoder's receptive field
    reaches at most ``overlap / 4`` pixels (in latent units: ``overlap / (4 s)``) past a position.

    x: [B, C, T, H, W] as for ``tokenizer.encode``; returns what ``tokenizer.encode`` returns."""
    encoder, quantizer, _ = _parts(tokenizer)
    spec = tokenizer.spec
    s = spec.downsample[1]
    _check_tiles(tile_size, overlap, s)
    check_media(x, spec)
    if x.shape[3] % s or x.shape[4] % s:  # pad_to_multiple: complete the frame as the encoder would
        x = torch.cat([x, x[:, :, :, -1:].expand(-1, -1, -1, (-x.shape[3]) % s, -1)], dim=3)
        x = torch.cat([x, x[..., -1:].expand(-1, -1, -1, -1, (-x.shape[4]) % s)], dim=4)

    def run(tile: Tensor) -> Tensor:
        if chunk_frames is None:
            return encoder(to_compute_dtype(tokenizer, tile)).float()  # blended in float32
        _check_count(chunk_frames, "chunk_frames")
        return torch.cat(list(_latent_stream(tokenizer, tile.split(chunk_frames, dim=2))), dim=2).float()

    with torch.no_grad():
        latents = _tiled(run, x, tile_size, overlap, 1, s, quantizer.input_dim)
        return quantizer.encode(latents)


def decode_video_tiled(
    tokenizer: nn.Module, tokens: Tensor, tile_size: int, overlap: int, chunk_latents: int | None = None
) -> Tensor:
    """``tokenizer.decode(tokens)`` from overlapping spatial tiles: ``tile_size`` and ``overlap`` are output pixels
    (multiples of the spatial factor s; tiles of ``tile_size / s`` latents); the decoded pixels are blended. Each
    tile is decoded whole or ``chunk_latents`` latent frames at a time."""
    _, quantizer, decoder = _parts(tokenizer)
    spec = tokenizer.spec
    s = spec.downsample[1]
    _check_tiles(tile_size, overlap, s)
    check_tokens(tokens, spec)

    def run(tile: Tensor) -> Tensor:
        if chunk_latents is None:
            return decoder(to_compute_dtype(tokenizer, tile)).float()  # blended in float32
        _check_count(chunk_latents, "chunk_latents")
        _check_streamable(decoder)
        with streaming(decoder):
            chunks = tile.split(chunk_latents, dim=2)
            return torch.cat([decoder(to_compute_dtype(tokenizer, c)) for c in chunks], dim=2).float()

    with torch.no_grad():
        latents = quantizer.decode(tokens)  # (B, D, n, h, w) float32
        return to_compute_dtype(tokenizer, _tiled(run, latents, tile_size // s, overlap // s, s, 1, spec.channels))
