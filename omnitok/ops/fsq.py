"""Finite scalar quantization as one op: bound, round, rescale and mixed-radix index (Mentzer et al., 2023).

Per channel c with L_c levels: ``bounded = tanh(x + shift_c) * half_c - offset_c`` (half_c = (L_c - 1)(1 + eps)/2,
offset_c = 0.5 for even L_c so the levels sit on half-integers before the shift), ``digit = round(bounded)``
(half to even, as ``torch.round``), ``code = digit / floor(L_c / 2)`` in [-1, 1], and the index is the mixed-radix
number of ``digit + L_c // 2`` with channel 0 least significant (vector-quantize-pytorch's ``FSQ`` convention). The
gradient is straight-through the rounding: d code / d x = half_c (1 - tanh^2) / floor(L_c / 2).

Backends: ``"triton"`` fuses all of it in one pass forward and one backward; ``"torch"`` and ``"reference"`` are the
plain elementwise formula with autograd (already memory-bounded: O(N x C)).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.errors import DTypeError, ShapeError
from omnitok.ops.backend import Backend, resolve_backend, with_fallback

__all__ = ["FSQCodes", "FSQConstants", "fsq_codes_from_indices", "fsq_constants", "fsq_quantize"]


@dataclasses.dataclass
class FSQCodes:
    """codes: [N, C] float32 in [-1, 1], straight-through gradients to x; indices: [N] int64 in [0, prod(levels))."""

    codes: Tensor
    indices: Tensor


@dataclasses.dataclass(frozen=True)
class FSQConstants:
    """Per-channel float32 constants [C] of the FSQ formula, and the int64 mixed-radix basis [C]."""

    levels: Tensor
    half: Tensor
    offset: Tensor
    shift: Tensor
    half_width: Tensor
    basis: Tensor


@functools.lru_cache(maxsize=64)
def fsq_constants(levels: tuple[int, ...], eps: float, device: torch.device) -> FSQConstants:
    """The constants for ``levels`` (each >= 2) and tanh slack ``eps``, computed in float32 on ``device``."""
    if not levels or any(level < 2 for level in levels):
        raise ValueError(f"FSQ levels must each be >= 2, got {list(levels)}")
    lv = torch.tensor(levels, dtype=torch.float32, device=device)
    half = (lv - 1) * (1 + eps) / 2
    offset = torch.where(lv % 2 == 0, 0.5, 0.0)
    basis = torch.tensor([math.prod(levels[:i]) for i in range(len(levels))], dtype=torch.long, device=device)
    return FSQConstants(lv, half, offset, torch.atanh(offset / half), torch.floor(lv / 2), basis)


def fsq_quantize(x: Tensor, levels: Sequence[int], *, eps: float = 1e-3, backend: Backend = "auto") -> FSQCodes:
    """x: [N, C] float (C = len(levels)) -> FSQCodes (codes [N, C] float32 with straight-through grads, indices [N])."""
    levels = tuple(int(level) for level in levels)
    if x.ndim != 2 or x.shape[1] != len(levels):
        raise ShapeError(f"fsq_quantize needs x [N, {len(levels)}] for levels {list(levels)}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise DTypeError(f"fsq_quantize needs floating-point x, got {x.dtype}")
    consts = fsq_constants(levels, float(eps), x.device)
    if resolve_backend(backend, x, op="fsq_quantize") == "triton" and x.shape[0] > 0:

        def kernel() -> FSQCodes:
            from omnitok.ops.triton_fsq import fsq_quantize_triton

            return FSQCodes(*fsq_quantize_triton(x, consts))

        return with_fallback("fsq_quantize", backend, kernel, lambda: fsq_quantize_reference(x, consts))
    return fsq_quantize_reference(x, consts)


def fsq_quantize_reference(x: Tensor, consts: FSQConstants) -> FSQCodes:
    """The plain formula with autograd (straight-through rounding)."""
    bounded = torch.tanh(x.float() + consts.shift) * consts.half - consts.offset
    digits = torch.round(bounded)
    rounded = bounded + (digits - bounded).detach()
    indices = ((digits.detach().long() + consts.levels.long() // 2) * consts.basis).sum(1)
    return FSQCodes(rounded / consts.half_width, indices)


def fsq_codes_from_indices(indices: Tensor, levels: Sequence[int], *, backend: Backend = "auto") -> Tensor:
    """indices: [N] integer in [0, prod(levels)) -> codes [N, len(levels)] float32 in [-1, 1].

    The range is not checked here (that would cost a device sync per call): quantizers check indices at ``decode``.
    """
    levels = tuple(int(level) for level in levels)
    if indices.ndim != 1:
        raise ShapeError(f"fsq_codes_from_indices needs indices [N], got shape {tuple(indices.shape)}")
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise DTypeError(f"fsq_codes_from_indices needs integer indices, got {indices.dtype}")
    consts = fsq_constants(levels, 0.0, indices.device)
    if resolve_backend(backend, indices, op="fsq_codes_from_indices") == "triton" and indices.numel():

        def kernel() -> Tensor:
            from omnitok.ops.triton_fsq import fsq_codes_from_indices_triton

            return fsq_codes_from_indices_triton(indices, consts)

        return with_fallback("fsq_codes_from_indices", backend, kernel, lambda: _codes_from_indices(indices, consts))
    return _codes_from_indices(indices, consts)


def _codes_from_indices(indices: Tensor, consts: FSQConstants) -> Tensor:
    digits = (indices.long()[:, None] // consts.basis) % consts.levels.long()
    return (digits - consts.half_width.long()).float() / consts.half_width
