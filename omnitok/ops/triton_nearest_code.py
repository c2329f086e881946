"""Triton kernel of the nearest-code search: fused dot products + running argmin over codebook tiles.

Each program owns BLOCK_N rows of x and one slice of the codebook (a "split"); it walks that slice BLOCK_K codes at a
time, computes ``score = bias[k] + scale[k] * (x . c_k)`` with float32 accumulation, and keeps the smallest score
and its index per row, so no N x K matrix ever exists. Splits (for small N) are merged on the host with a
lowest-index tie-break. Importing this module imports triton: only the dispatcher in ``nearest_code.py`` does so.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from omnitok.ops.backend import interpreting

_SPLIT_GRANULE = 256  # a split's code count is a multiple of every BLOCK_K below


def _configs() -> list[triton.Config]:
    if interpreting():  # the interpreter accepts one config; large blocks keep it fast
        return [triton.Config({"BLOCK_N": 64, "BLOCK_K": 128})]
    shapes = [(128, 128, 8, 3), (128, 64, 4, 4), (64, 128, 4, 4), (128, 256, 8, 3), (256, 128, 8, 3), (64, 64, 4, 3)]
    shapes += [(128, 128, 8, 2), (64, 64, 4, 2)]  # fewer stages: what fits in shared memory for float32 at large D
    return [triton.Config({"BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s) for bn, bk, w, s in shapes]


@triton.autotune(configs=_configs(), key=["N_BUCKET", "D", "K_PER_SPLIT", "PRECISION"])
@triton.jit
def _nearest_code_kernel(
    x_ptr,  # [N, D], row stride stride_x
    c_ptr,  # [K, D], row stride stride_c
    bias_ptr,  # [K] float32
    scale_ptr,  # [K] float32
    best_val_ptr,  # [S, N] float32
    best_idx_ptr,  # [S, N] int32
    N,
    K,
    D,
    stride_x,
    stride_c,
    K_PER_SPLIT,
    N_BUCKET,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_D: tl.constexpr,
    D_TILES: tl.constexpr,
    PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,  # the interpreter multiplies bfloat16 tiles as raw uint16: give it exact float32 copies
):
    pid_n = tl.program_id(0)
    split = tl.program_id(1)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N
    rows64 = rows.to(tl.int64)
    dims = tl.arange(0, BLOCK_D)
    k_begin = split * K_PER_SPLIT
    k_end = tl.minimum(k_begin + K_PER_SPLIT, K)

    best_val = tl.full([BLOCK_N], float("inf"), tl.float32)
    best_idx = tl.zeros([BLOCK_N], tl.int32)
    if D_TILES == 1:  # the whole row block stays in registers for the entire codebook walk
        x_tile = tl.load(
            x_ptr + rows64[:, None] * stride_x + dims[None, :], mask=row_ok[:, None] & (dims[None, :] < D), other=0.0
        )
    for k0 in range(k_begin, k_end, BLOCK_K):
        codes = k0 + tl.arange(0, BLOCK_K)
        code_ok = codes < k_end
        codes64 = codes.to(tl.int64)
        acc = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
        if D_TILES == 1:
            c_tile = tl.load(
                c_ptr + codes64[None, :] * stride_c + dims[:, None],
                mask=code_ok[None, :] & (dims[:, None] < D),
                other=0.0,
            )  # (BLOCK_D, BLOCK_K)
            if UPCAST:
                acc = tl.dot(x_tile.to(tl.float32), c_tile.to(tl.float32), acc, input_precision=PRECISION)
            else:
                acc = tl.dot(x_tile, c_tile, acc, input_precision=PRECISION)
        else:
            for d0 in range(0, D_TILES * BLOCK_D, BLOCK_D):
                d = d0 + dims
                xd = tl.load(
                    x_ptr + rows64[:, None] * stride_x + d[None, :], mask=row_ok[:, None] & (d[None, :] < D), other=0.0
                )
                cd = tl.load(
                    c_ptr + codes64[None, :] * stride_c + d[:, None],
                    mask=code_ok[None, :] & (d[:, None] < D),
                    other=0.0,
                )
                if UPCAST:
                    xd, cd = xd.to(tl.float32), cd.to(tl.float32)
                acc = tl.dot(xd, cd, acc, input_precision=PRECISION)
        bias = tl.load(bias_ptr + codes, mask=code_ok, other=0.0)
        scale = tl.load(scale_ptr + codes, mask=code_ok, other=0.0)
        score = bias[None, :] + scale[None, :] * acc
        score = tl.where(code_ok[None, :], score, float("inf"))
        tile_val, tile_arg = tl.min(score, axis=1, return_indices=True, return_indices_tie_break_left=True)
        better = tile_val < best_val  # strict: an earlier tile keeps a tie
        best_val = tl.where(better, tile_val, best_val)
        best_idx = tl.where(better, k0 + tile_arg, best_idx)
    out = split.to(tl.int64) * N + rows64
    tl.store(best_val_ptr + out, best_val, mask=row_ok)
    tl.store(best_idx_ptr + out, best_idx, mask=row_ok)


def _num_splits(n: int, k: int, device: torch.device) -> int:
    """Codebook splits so small-N calls still fill the GPU (one split when N alone gives enough programs)."""
    if device.type != "cuda":
        return 1
    programs = 4 * torch.cuda.get_device_properties(device).multi_processor_count
    row_blocks = triton.cdiv(n, 128)
    return max(1, min(programs // row_blocks, triton.cdiv(k, 4 * _SPLIT_GRANULE)))


def nearest_code_indices(
    x: Tensor, codebook: Tensor, bias: Tensor, scale: Tensor, *, fp32_precision: str = "ieee", splits: int | None = None
) -> Tensor:
    """argmin_k (bias[k] + scale[k] * x . codebook[k]) per row, lowest index on ties -> indices [N] int64.

    x: [N, D], codebook: [K, D], both contiguous and of one dtype (float32, bfloat16 or float16); bias, scale: [K]
    float32. ``splits`` forces the number of codebook slices (tests); None picks it from the GPU's size.
    """
    n, d = x.shape
    k = codebook.shape[0]
    if k >= 2**31:
        raise ValueError(f"nearest_code kernel handles up to 2^31 - 1 codes, got {k}")
    splits = splits or _num_splits(n, k, x.device)
    per_split = triton.cdiv(triton.cdiv(k, splits), _SPLIT_GRANULE) * _SPLIT_GRANULE
    splits = triton.cdiv(k, per_split)
    widest = 128 if x.element_size() == 2 else 64  # float32 tiles of 128 channels overflow shared memory at D=256
    block_d = max(16, min(widest, triton.next_power_of_2(d)))
    best_val = torch.empty(splits, n, dtype=torch.float32, device=x.device)
    best_idx = torch.empty(splits, n, dtype=torch.int32, device=x.device)
    precision = "ieee" if x.dtype != torch.float32 or interpreting() else fp32_precision

    def grid(meta: dict) -> tuple[int, int]:
        return triton.cdiv(n, meta["BLOCK_N"]), splits

    _nearest_code_kernel[grid](
        x, codebook, bias.contiguous(), scale.contiguous(), best_val, best_idx,
        n, k, d, x.stride(0), codebook.stride(0), per_split, triton.next_power_of_2(n),
        BLOCK_D=block_d, D_TILES=triton.cdiv(d, block_d), PRECISION=precision, UPCAST=interpreting(),
    )  # fmt: skip
    if splits == 1:
        return best_idx[0].long()
    winner = best_val.argmin(0)  # first split on ties: splits are in code order
    return best_idx.gather(0, winner[None])[0].long()
