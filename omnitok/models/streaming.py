"""Chunked (streaming) encode and decode of causal audio tokenizers: long signals with bounded memory.

For a tokenizer whose encoder and decoder are causal (every layer pads on the left, LSTM state carried), the
frames produced chunk by chunk equal those of one pass over the whole signal, and so do the decoded samples; the
quantizer works frame by frame. Memory is bounded by the chunk size, not by the length of the signal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from omnitok.errors import ConfigError, DTypeError, NonFiniteError, ShapeError
from omnitok.models.precision import to_compute_dtype
from omnitok.nn.streaming import streaming
from omnitok.protocol import check_tokens


def _parts(tokenizer: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    spec = getattr(tokenizer, "spec", None)
    if spec is None or len(spec.downsample) != 1:
        raise ConfigError("streaming applies to tokenizers of 1-D signals [B, C, S] (one grid axis), such as audio")
    try:
        return tokenizer.encoder, tokenizer.quantizer, tokenizer.decoder
    except AttributeError:
        raise ConfigError(f"{type(tokenizer).__name__} has no encoder/quantizer/decoder to stream") from None


@torch.no_grad()
def encode_stream(tokenizer: nn.Module, chunks: Iterable[Tensor]) -> Iterator[Tensor]:
    """Tokens for a waveform given as consecutive chunks [B, C, s_i] (any sizes; values in [-1, 1]).

    Yields the tokens [B, n_i(, Q)] (or latents [B, D, n_i]) of the frames each chunk completes; at the end the
    last partial frame is completed with zeros, as the offline ``encode`` pads. Concatenated along the frame axis
    they equal ``tokenizer.encode(whole)``.
    """
    encoder, quantizer, _ = _parts(tokenizer)
    spec = tokenizer.spec
    hop = spec.downsample[0]
    fed, reference = 0, None
    with streaming(encoder):
        for chunk in chunks:
            _check_chunk(chunk, spec.channels)
            reference = chunk
            fed += chunk.shape[-1]
            latents = encoder(to_compute_dtype(tokenizer, chunk))
            if latents.shape[-1]:
                yield quantizer.encode(latents)
        if reference is None:
            return
        pad = (-fed) % hop
        if pad:
            latents = encoder(to_compute_dtype(tokenizer, reference.new_zeros(*reference.shape[:2], pad)))
            if latents.shape[-1]:
                yield quantizer.encode(latents)


@torch.no_grad()
def decode_stream(tokenizer: nn.Module, chunks: Iterable[Tensor]) -> Iterator[Tensor]:
    """Waveform chunks [B, C, n_i * hop] for consecutive token chunks (as :func:`encode_stream` yields them);
    concatenated they equal ``tokenizer.decode(all tokens)``."""
    _, quantizer, decoder = _parts(tokenizer)
    with streaming(decoder):
        for tokens in chunks:
            check_tokens(tokens, tokenizer.spec)
            yield decoder(to_compute_dtype(tokenizer, quantizer.decode(tokens)))


def encode_chunked(tokenizer: nn.Module, x: Tensor, chunk_samples: int) -> Tensor:
    """``tokenizer.encode(x)`` computed ``chunk_samples`` at a time (equal for causal tokenizers)."""
    if chunk_samples < 1:
        raise ConfigError(f"chunk_samples must be >= 1, got {chunk_samples}")
    parts = list(encode_stream(tokenizer, x.split(chunk_samples, dim=-1)))
    axis = 2 if not tokenizer.spec.discrete else 1
    return torch.cat(parts, dim=axis)


def decode_chunked(tokenizer: nn.Module, tokens: Tensor, chunk_frames: int) -> Tensor:
    """``tokenizer.decode(tokens)`` computed ``chunk_frames`` frames at a time (equal for causal tokenizers)."""
    if chunk_frames < 1:
        raise ConfigError(f"chunk_frames must be >= 1, got {chunk_frames}")
    axis = 2 if not tokenizer.spec.discrete else 1
    return torch.cat(list(decode_stream(tokenizer, tokens.split(chunk_frames, dim=axis))), dim=-1)


def _check_chunk(chunk: Tensor, channels: int) -> None:
    if not isinstance(chunk, Tensor):
        raise DTypeError(f"audio chunks must be tensors, got {type(chunk).__name__}")
    if chunk.ndim != 3 or chunk.shape[1] != channels:
        raise ShapeError(f"audio chunks must be [B, {channels}, S], got {tuple(chunk.shape)}")
    if not chunk.is_floating_point():
        raise DTypeError(f"audio chunks must be floating point in [-1, 1], got {chunk.dtype}")
    if not torch.isfinite(chunk).all():
        raise NonFiniteError("audio chunk holds NaN or Inf")
