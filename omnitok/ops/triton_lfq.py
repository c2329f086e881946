"""Triton kernels of LFQ: sign codes + indices in one pass, and the per-sample entropy (sum of per-bit binary
entropies) forward and backward. Formulas as in :mod:`omnitok.ops.lfq`; importing this module imports triton."""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from omnitok.ops.backend import interpreting

_BLOCK_N = 256 if interpreting() else 128


@triton.jit
def _lfq_sign_kernel(
    x_ptr, bit_values_ptr, codes_ptr, idx_ptr, N, C, scale, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr
):  # x, codes: [N, C]; bit_values: [C] int64; idx: [N] int64
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    chans = tl.arange(0, BLOCK_C)
    row_ok, chan_ok = rows < N, chans < C
    mask = row_ok[:, None] & chan_ok[None, :]
    offs = rows.to(tl.int64)[:, None] * C + chans[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    positive = x > 0
    tl.store(codes_ptr + offs, tl.where(positive, scale, -scale), mask=mask)
    weights = tl.load(bit_values_ptr + chans, mask=chan_ok, other=0)
    index = tl.sum(tl.where(positive & mask, weights[None, :], 0), axis=1)
    tl.store(idx_ptr + rows, index, mask=row_ok)


@triton.jit
def _bit_entropy_kernel(
    x_ptr, out_ptr, N, C, gain, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr
):  # x: [N, C]; out: [N] float32, sum over channels of H(sigmoid(gain * x))
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    chans = tl.arange(0, BLOCK_C)
    row_ok = rows < N
    mask = row_ok[:, None] & (chans < C)[None, :]
    x = tl.load(x_ptr + rows.to(tl.int64)[:, None] * C + chans[None, :], mask=mask, other=0.0)
    u = tl.abs(gain * x)
    e = tl.exp(-u)
    h = tl.log(1.0 + e) + u * e / (1.0 + e)  # log1p is not needed: 1 + e is in [1, 2]
    tl.store(out_ptr + rows, tl.sum(tl.where(mask, h, 0.0), axis=1), mask=row_ok)


@triton.jit
def _bit_entropy_backward_kernel(
    x_ptr, grad_ptr, grad_x_ptr, N, C, gain, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr
):  # d/dx H(sigmoid(z)), z = gain * x: -z * e / (1 + e)^2 * gain with e = exp(-|z|); grad: [N] per row
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    chans = tl.arange(0, BLOCK_C)
    row_ok = rows < N
    mask = row_ok[:, None] & (chans < C)[None, :]
    offs = rows.to(tl.int64)[:, None] * C + chans[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    grad = tl.load(grad_ptr + rows, mask=row_ok, other=0.0)
    z = gain * x
    e = tl.exp(-tl.abs(z))
    slope = -z * e / ((1.0 + e) * (1.0 + e)) * gain
    tl.store(grad_x_ptr + offs, grad[:, None] * slope, mask=mask)


def _launch(n: int, c: int) -> tuple[tuple[int], dict[str, int]]:
    return (triton.cdiv(n, _BLOCK_N),), {"BLOCK_N": _BLOCK_N, "BLOCK_C": max(2, triton.next_power_of_2(c))}


def lfq_sign_triton(x: Tensor, bit_values: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    """x: [N, C] float, contiguous -> (codes [N, C] float32 = +-scale, indices [N] int64, channel 0 the top bit)."""
    n, c = x.shape
    codes = torch.empty(n, c, dtype=torch.float32, device=x.device)
    indices = torch.empty(n, dtype=torch.long, device=x.device)
    grid, blocks = _launch(n, c)
    _lfq_sign_kernel[grid](x, bit_values, codes, indices, n, c, scale, **blocks)
    return codes, indices


class _BitEntropySum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, gain: float) -> Tensor:
        n, c = x.shape
        per_row = torch.empty(n, dtype=torch.float32, device=x.device)
        grid, blocks = _launch(n, c)
        _bit_entropy_kernel[grid](x, per_row, n, c, gain, **blocks)
        ctx.save_for_backward(x)
        ctx.gain = gain
        return per_row.sum()  # deterministic: no atomics

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        n, c = x.shape
        grad_x = torch.empty_like(x)
        grid, blocks = _launch(n, c)
        _bit_entropy_backward_kernel[grid](x, grad.reshape(1).expand(n).contiguous(), grad_x, n, c, ctx.gain, **blocks)
        return grad_x, None


def bit_entropy_sum_triton(x: Tensor, gain: float) -> Tensor:
    """x: [N, C] float32, contiguous -> scalar sum over all entries of H(sigmoid(gain * x)) in nats."""
    return _BitEntropySum.apply(x, gain)
