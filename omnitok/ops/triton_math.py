"""Elementwise helpers shared by the Triton kernels (portable to the CPU interpreter, which has no libdevice)."""

from __future__ import annotations

import triton
import triton.language as tl
from triton.language.extra import libdevice


@triton.jit
def tanh(x, LIBDEVICE: tl.constexpr):
    """tanh in float32: libdevice's on the GPU; exp-based (a few ulps) under the interpreter."""
    if LIBDEVICE:
        result = libdevice.tanh(x)
    else:
        e = tl.exp(-2.0 * tl.abs(x))
        t = (1.0 - e) / (1.0 + e)
        result = tl.where(x < 0, -t, t)
    return result


@triton.jit
def round_half_even(x):
    """Round to the nearest integer, ties to even (as torch.round), in float32."""
    f = tl.floor(x)
    frac = x - f
    odd = f - 2.0 * tl.floor(f * 0.5)  # 1.0 when f is odd
    return tl.where(frac > 0.5, f + 1.0, tl.where(frac < 0.5, f, f + odd))
