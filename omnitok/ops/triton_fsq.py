"""Triton kernels of FSQ: one pass forward (bound, round, rescale, mixed-radix index), one pass backward, and the
index -> code decoder. The formulas are those of :mod:`omnitok.ops.fsq`; importing this module imports triton."""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from omnitok.ops.backend import interpreting
from omnitok.ops.fsq import FSQConstants
from omnitok.ops.triton_math import round_half_even, tanh

_BLOCK_N = 256 if interpreting() else 128


@triton.jit
def _fsq_forward_kernel(
    x_ptr, shift_ptr, half_ptr, offset_ptr, half_width_ptr, basis_ptr,  # x [N, C]; constants [C]
    codes_ptr, idx_ptr,  # codes [N, C] float32, idx [N] int64
    N, C, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr, LIBDEVICE: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    chans = tl.arange(0, BLOCK_C)
    row_ok, chan_ok = rows < N, chans < C
    mask = row_ok[:, None] & chan_ok[None, :]
    offs = rows.to(tl.int64)[:, None] * C + chans[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    shift = tl.load(shift_ptr + chans, mask=chan_ok, other=0.0)
    half = tl.load(half_ptr + chans, mask=chan_ok, other=0.0)
    offset = tl.load(offset_ptr + chans, mask=chan_ok, other=0.0)
    half_width = tl.load(half_width_ptr + chans, mask=chan_ok, other=1.0)
    basis = tl.load(basis_ptr + chans, mask=chan_ok, other=0)
    bounded = tanh(x + shift[None, :], LIBDEVICE) * half[None, :] - offset[None, :]
    digits = round_half_even(bounded)
    tl.store(codes_ptr + offs, digits / half_width[None, :], mask=mask)
    level_digit = (digits + half_width[None, :]).to(tl.int64)  # digit in [0, L)
    index = tl.sum(tl.where(mask, level_digit * basis[None, :], 0), axis=1)
    tl.store(idx_ptr + rows, index, mask=row_ok)


@triton.jit
def _fsq_backward_kernel(
    x_ptr, grad_ptr, shift_ptr, half_ptr, half_width_ptr, grad_x_ptr,  # x, grad, grad_x [N, C]; constants [C]
    N, C, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr, LIBDEVICE: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    chans = tl.arange(0, BLOCK_C)
    chan_ok = chans < C
    mask = (rows < N)[:, None] & chan_ok[None, :]
    offs = rows.to(tl.int64)[:, None] * C + chans[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    grad = tl.load(grad_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    shift = tl.load(shift_ptr + chans, mask=chan_ok, other=0.0)
    half = tl.load(half_ptr + chans, mask=chan_ok, other=0.0)
    half_width = tl.load(half_width_ptr + chans, mask=chan_ok, other=1.0)
    t = tanh(x + shift[None, :], LIBDEVICE)
    grad_x = grad * ((1.0 - t * t) * half[None, :]) / half_width[None, :]
    tl.store(grad_x_ptr + offs, grad_x, mask=mask)


@triton.jit
def _fsq_decode_kernel(
    idx_ptr, levels_ptr, basis_ptr, half_width_ptr, codes_ptr, N, C, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr
):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    chans = tl.arange(0, BLOCK_C)
    row_ok, chan_ok = rows < N, chans < C
    index = tl.load(idx_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    levels = tl.load(levels_ptr + chans, mask=chan_ok, other=1.0).to(tl.int64)
    basis = tl.load(basis_ptr + chans, mask=chan_ok, other=1)
    half_width = tl.load(half_width_ptr + chans, mask=chan_ok, other=1.0)
    digits = (index[:, None] // basis[None, :]) % levels[None, :]
    codes = (digits.to(tl.float32) - half_width[None, :]) / half_width[None, :]
    offs = rows.to(tl.int64)[:, None] * C + chans[None, :]
    tl.store(codes_ptr + offs, codes, mask=row_ok[:, None] & chan_ok[None, :])


def _launch_args(n: int, c: int) -> tuple[tuple[int], dict[str, Any]]:
    return (triton.cdiv(n, _BLOCK_N),), {"BLOCK_N": _BLOCK_N, "BLOCK_C": max(2, triton.next_power_of_2(c))}


class _FSQFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, consts: FSQConstants) -> tuple[Tensor, Tensor]:
        n, c = x.shape
        codes = torch.empty(n, c, dtype=torch.float32, device=x.device)
        indices = torch.empty(n, dtype=torch.long, device=x.device)
        grid, blocks = _launch_args(n, c)
        _fsq_forward_kernel[grid](
            x, consts.shift, consts.half, consts.offset, consts.half_width, consts.basis,
            codes, indices, n, c, LIBDEVICE=not interpreting(), **blocks,
        )  # fmt: skip
        ctx.save_for_backward(x)
        ctx.consts = consts
        ctx.mark_non_differentiable(indices)
        return codes, indices

    @staticmethod
    def backward(ctx: Any, grad_codes: Tensor, _grad_indices: Tensor | None) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        consts: FSQConstants = ctx.consts
        n, c = x.shape
        grad_x = torch.empty(n, c, dtype=torch.float32, device=x.device)
        grid, blocks = _launch_args(n, c)
        _fsq_backward_kernel[grid](
            x, grad_codes.contiguous(), consts.shift, consts.half, consts.half_width, grad_x, n, c,
            LIBDEVICE=not interpreting(), **blocks,
        )  # fmt: skip
        return grad_x.to(x.dtype), None


def fsq_quantize_triton(x: Tensor, consts: FSQConstants) -> tuple[Tensor, Tensor]:
    """x: [N, C] float -> (codes [N, C] float32 with straight-through gradients, indices [N] int64)."""
    return _FSQFunction.apply(x.contiguous(), consts)


def fsq_codes_from_indices_triton(indices: Tensor, consts: FSQConstants) -> Tensor:
    """indices: [N] int -> codes [N, C] float32."""
    n, c = indices.shape[0], consts.levels.shape[0]
    codes = torch.empty(n, c, dtype=torch.float32, device=indices.device)
    grid, blocks = _launch_args(n, c)
    _fsq_decode_kernel[grid](
        indices.contiguous(), consts.levels, consts.basis, consts.half_width, codes, n, c, **blocks
    )
    return codes
