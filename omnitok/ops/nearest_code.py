"""Nearest-code search: for each row of x, the index of the closest codebook row and its squared distance.

Backends (see :mod:`omnitok.ops.backend`):

- ``"triton"``: a fused kernel streaming over codebook tiles with a running min per row (never N x K);
- ``"torch"``: the CPU default. On CPUs with native bf16 matmuls (AVX512-BF16 or AMX) and large problems (K >= 4096,
  N >= 512, N K D >= 2^30: :func:`uses_shortlist`), the exact bf16 shortlist search of
  :mod:`omnitok.ops.nearest_code_shortlist` (one bf16 matmul pass, a proven error bound, an exact re-rank of the
  few codes the bound cannot rule out); otherwise, and for the rows the shortlist leaves open, row chunks x codebook
  tiles of a fixed size, float32 ``addmm`` + ``min`` with a running min. Extra memory is bounded whatever N and K
  are;
- ``"reference"``: the plain formula ``||x||^2 - 2 x C^T + ||C||^2`` over the whole N x K matrix (for tests).

All backends compute in float32 (bf16/fp16 products are exact in float32, so only the summation order differs) and
break ties towards the lowest index; the shortlist returns the exactly nearest code of the float32 values, which
differs from a float32 argmin only where float32 rounding decides a near-tie. ``distance`` is recomputed from the
chosen code in every backend, so two backends that pick the same index report the same distance bit for bit.

Metrics: ``"l2"`` (nearest in euclidean distance), ``"cosine"`` (largest cosine) and ``"inner"`` (largest inner
product x . c, the argmax of the code logits that index-backpropagation quantization takes).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok.errors import DTypeError, ShapeError
from omnitok.ops.backend import Backend, bf16_matmul_is_fast, resolve_backend, same_device, with_fallback

Metric = Literal["l2", "cosine", "inner"]
Fp32Precision = Literal["ieee", "tf32"]
_SCORE_ELEMENTS = 2**23  # one [rows, codes] float32 score tile of the torch path: 32 MiB whatever N and K are
_MIN_TILE_ROWS = 2048  # rows per matmul: smaller tiles pay a thread fork/join per call and starve the BLAS kernels
# (2048 x 4096 tiles ran as fast as one whole N x K matmul at N=16384, D=256, K=8192 on 2 cores; 1024 x 4096 ~30%
# slower)
_KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
# Where the bf16 shortlist beats the float32 path (`OMP_NUM_THREADS=1 benchmarks/quantizers.py --preset shortlist-gate
# --no-vqp`, float32 ms / shortlist ms, N x K x D): 16384 x 4096 x 16 1.53x, 1024 x 8192 x 256 1.29x, 16384 x 8192 x
# 64 1.86x; at and below the gate its per-row costs (bounds, candidates, the re-rank of about half the rows) and
# per-call codebook pass eat the cheaper matmul: 16384 x 2048 x 256 1.11x, 16384 x 1024 x 64 0.72x, 256 x 16384 x
# 256 0.79x. The case, 16384 x 8192 x 256 on 2 threads: 1.65x (--preset cpu-target).
_SHORTLIST_MIN_CODES = 4096
_SHORTLIST_MIN_ROWS = 512
_SHORTLIST_MIN_WORK = 2**30  # N K D

__all__ = ["Backend", "Metric", "NearestCode", "code_distances", "nearest_code"]


@dataclasses.dataclass
class NearestCode:
    """indices: [N] int64; distance: [N] float32, detached (squared l2; 1 - cos for "cosine"; -x.c for "inner")."""

    indices: Tensor
    distance: Tensor


def code_distances(x: Tensor, codebook: Tensor, metric: Metric, codebook_sq: Tensor | None = None) -> Tensor:
    """All distances [N, K]: squared l2, 1 - x.c for cosine (x and codebook already l2-normalized), -x.c for dot.

    Differentiable; materializes N x K (the reference formula). ``codebook_sq`` (the codebook's squared norms) may be
    passed in when reused across chunks.
    """
    if metric == "cosine":
        return 1.0 - x @ codebook.T
    if metric == "inner":
        return -(x @ codebook.T)
    if codebook_sq is None:
        codebook_sq = (codebook * codebook).sum(1)
    return (x * x).sum(1, keepdim=True) - 2.0 * (x @ codebook.T) + codebook_sq


def _check(x: Tensor, codebook: Tensor, metric: str) -> None:
    if x.ndim != 2 or codebook.ndim != 2 or x.shape[1] != codebook.shape[1]:
        raise ShapeError(
            f"nearest_code needs x [N, D] and codebook [K, D], got {tuple(x.shape)}, {tuple(codebook.shape)}"
        )
    if codebook.shape[0] == 0 or codebook.shape[1] == 0:
        raise ShapeError(f"nearest_code needs a non-empty codebook [K, D], got {tuple(codebook.shape)}")
    if not (x.is_floating_point() and codebook.is_floating_point()):
        raise DTypeError(f"nearest_code needs floating-point inputs, got {x.dtype} and {codebook.dtype}")
    if metric not in ("l2", "cosine", "inner"):
        raise ValueError(f"metric must be 'l2', 'cosine' or 'inner', got {metric!r}")


@torch.no_grad()
def nearest_code(
    x: Tensor,
    codebook: Tensor,
    *,
    metric: Metric = "l2",
    backend: Backend = "auto",
    chunk_rows: int | None = None,
    fp32_precision: Fp32Precision = "ieee",
) -> NearestCode:
    """x: [N, D] float, codebook: [K, D] float -> NearestCode (indices [N] int64, distance [N] float32).

    Args:
        metric: "l2" (squared euclidean), "cosine" (both sides l2-normalized, distance 1 - cos) or "inner" (largest
            inner product, distance -x.c).
        backend: "auto" (Triton on CUDA tensors, else "torch"), "triton", "torch" or "reference".
        chunk_rows: rows per chunk of the torch path (None: sized so a score tile stays ~32 MiB).
        fp32_precision: "ieee" (exact float32 dot products) or "tf32" (the kernel's fast, inexact mode on
            float32 inputs; ignored by the torch backends).
    """
    _check(x, codebook, metric)
    same_device("nearest_code", x, codebook)
    if fp32_precision not in ("ieee", "tf32"):
        raise ValueError(f"fp32_precision must be 'ieee' or 'tf32', got {fp32_precision!r}")
    chosen = resolve_backend(backend, x, codebook, op="nearest_code")
    if x.shape[0] == 0:
        return NearestCode(torch.empty(0, dtype=torch.long, device=x.device), torch.empty(0, device=x.device))
    if chosen == "reference":
        indices = _reference_indices(x, codebook, metric)
    elif chosen == "torch":
        indices = _torch_indices(x, codebook, metric, chunk_rows)
    else:
        indices = with_fallback(
            "nearest_code",
            backend,
            lambda: _triton_indices(x, codebook, metric, fp32_precision),
            lambda: _torch_indices(x, codebook, metric, chunk_rows),
        )
    return NearestCode(indices, code_distance(x, codebook, indices, metric))


def code_distance(x: Tensor, codebook: Tensor, indices: Tensor, metric: Metric) -> Tensor:
    """Distance [N] float32 from each row of x [N, D] to its code ``codebook[indices]`` (squared l2 or 1 - cos)."""
    x, nearest = x.float(), codebook[indices].float()
    if metric == "cosine":
        return 1.0 - (F.normalize(x, dim=1) * F.normalize(nearest, dim=1)).sum(1)
    if metric == "inner":
        return -(x * nearest).sum(1)
    return ((x - nearest) ** 2).sum(1)


def _reference_indices(x: Tensor, codebook: Tensor, metric: Metric) -> Tensor:
    x, codebook = x.float(), codebook.float()
    if metric == "cosine":
        x, codebook = F.normalize(x, dim=1), F.normalize(codebook, dim=1)
    return code_distances(x, codebook, metric).argmin(1)


def _tile_sizes(n: int, k: int, chunk_rows: int | None) -> tuple[int, int]:
    """(rows per chunk, codes per tile) so one float32 score tile holds about ``_SCORE_ELEMENTS`` values."""
    if chunk_rows is not None:
        return max(1, chunk_rows), max(1, min(k, _SCORE_ELEMENTS // max(1, chunk_rows)))
    codes = min(k, _SCORE_ELEMENTS // _MIN_TILE_ROWS)
    return max(_MIN_TILE_ROWS, _SCORE_ELEMENTS // codes), codes


def _prepared_tile(codebook: Tensor, start: int, stop: int, metric: Metric) -> tuple[Tensor, Tensor, float]:
    """(codes [T, D] float32, bias [T], dot scale): score = bias + scale * x.c is minimal at the nearest code."""
    codes = codebook[start:stop].float()
    if metric == "cosine":
        return F.normalize(codes, dim=1), codes.new_zeros(codes.shape[0]), -1.0
    if metric == "inner":
        return codes, codes.new_zeros(codes.shape[0]), -1.0
    return codes, (codes * codes).sum(1), -2.0


def uses_shortlist(x: Tensor, codebook: Tensor) -> bool:
    """Whether the torch backend searches x [N, D] against codebook [K, D] with the bf16 shortlist."""
    (n, d), k = x.shape, codebook.shape[0]
    big = n >= _SHORTLIST_MIN_ROWS and k >= _SHORTLIST_MIN_CODES and n * k * d >= _SHORTLIST_MIN_WORK
    return big and x.device.type == "cpu" and codebook.device.type == "cpu" and bf16_matmul_is_fast()


def _torch_indices(x: Tensor, codebook: Tensor, metric: Metric, chunk_rows: int | None) -> Tensor:
    if uses_shortlist(x, codebook):
        from omnitok.ops.nearest_code_shortlist import shortlist_indices  # imported where it runs, never otherwise

        return shortlist_indices(x, codebook, metric, chunk_rows).indices
    return _chunked_indices(x, codebook, metric, chunk_rows)


def _chunked_indices(x: Tensor, codebook: Tensor, metric: Metric, chunk_rows: int | None) -> Tensor:
    """Running (min, argmin) over codebook tiles for each row chunk; extra memory independent of N and K."""
    n, k = x.shape[0], codebook.shape[0]
    rows_per_chunk, codes_per_tile = _tile_sizes(n, k, chunk_rows)
    tile_starts = range(0, k, codes_per_tile)
    single_tile = _prepared_tile(codebook, 0, k, metric) if codes_per_tile >= k else None
    indices = torch.empty(n, dtype=torch.long, device=x.device)
    score = torch.empty(rows_per_chunk, codes_per_tile, device=x.device)
    for row in range(0, n, rows_per_chunk):
        xs = x[row : row + rows_per_chunk].float()
        if metric == "cosine":
            xs = F.normalize(xs, dim=1)
        best_val: Tensor | None = None
        for start in tile_starts:
            codes, bias, scale = single_tile or _prepared_tile(codebook, start, start + codes_per_tile, metric)
            tile = score[: xs.shape[0], : codes.shape[0]]
            torch.addmm(bias, xs, codes.T, alpha=scale, out=tile)  # (rows, T): bias + scale * x.c
            val, arg = tile.min(1)  # first minimum on ties
            if best_val is None:
                best_val, best_arg = val, arg
            else:
                better = val < best_val  # strict: an earlier tile keeps a tie
                best_val = torch.where(better, val, best_val)
                best_arg = torch.where(better, arg + start, best_arg)
        indices[row : row + xs.shape[0]] = best_arg
    return indices


def _triton_indices(x: Tensor, codebook: Tensor, metric: Metric, fp32_precision: Fp32Precision) -> Tensor:
    from omnitok.ops.triton_nearest_code import nearest_code_indices

    dtype = torch.promote_types(x.dtype, codebook.dtype)
    dtype = dtype if dtype in _KERNEL_DTYPES else torch.float32
    codes32 = codebook.float()
    if metric == "cosine":  # score = -(x.c) / max(||c||, eps): argmin is the largest cosine
        bias = codes32.new_zeros(codes32.shape[0])
        scale = -1.0 / codes32.norm(dim=1).clamp_min(1e-12)
    elif metric == "inner":  # score = -x.c
        bias = codes32.new_zeros(codes32.shape[0])
        scale = torch.full_like(bias, -1.0)
    else:  # score = ||c||^2 - 2 x.c
        bias = (codes32 * codes32).sum(1)
        scale = torch.full_like(bias, -2.0)
    return nearest_code_indices(
        x.to(dtype).contiguous(), codebook.to(dtype).contiguous(), bias, scale, fp32_precision=fp32_precision
    )
