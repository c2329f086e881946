"""Nearest-code search: for each row of x, the index of the closest codebook row and its squared distance.

Backends: ``"torch"`` streams over row chunks so memory stays bounded (the CPU default), ``"reference"`` is the
plain formula materializing the whole N x K matrix (for tests). Ties go to the lowest index.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok.errors import DTypeError, ShapeError

Metric = Literal["l2", "cosine"]
Backend = Literal["auto", "torch", "reference"]
_CHUNK_BYTES = 64 * 2**20


@dataclasses.dataclass
class NearestCode:
    """indices: [N] int64; distance: [N] float32, detached (squared l2, or 1 - cos for the cosine metric)."""

    indices: Tensor
    distance: Tensor


def code_distances(x: Tensor, codebook: Tensor, metric: Metric, codebook_sq: Tensor | None = None) -> Tensor:
    """All distances [N, K]: squared l2, or 1 - x.c for cosine (x and codebook already l2-normalized).

    Differentiable; ``codebook_sq`` (the codebook's squared norms) may be passed in when reused across chunks.
    """
    if metric == "cosine":
        return 1.0 - x @ codebook.T
    if codebook_sq is None:
        codebook_sq = (codebook * codebook).sum(1)
    return (x * x).sum(1, keepdim=True) - 2.0 * (x @ codebook.T) + codebook_sq


@torch.no_grad()
def nearest_code(
    x: Tensor,
    codebook: Tensor,
    *,
    metric: Metric = "l2",
    backend: Backend = "auto",
    chunk_rows: int | None = None,
) -> NearestCode:
    """x: [N, D] float, codebook: [K, D] float -> NearestCode. Computed in float32 whatever the input dtype."""
    if x.ndim != 2 or codebook.ndim != 2 or x.shape[1] != codebook.shape[1]:
        raise ShapeError(f"nearest_code needs x [N, D] and codebook [K, D], got {tuple(x.shape)}, {tuple(codebook.shape)}")
    if not (x.is_floating_point() and codebook.is_floating_point()):
        raise DTypeError(f"nearest_code needs floating-point inputs, got {x.dtype} and {codebook.dtype}")
    if metric not in ("l2", "cosine"):
        raise ValueError(f"metric must be 'l2' or 'cosine', got {metric!r}")
    if backend not in ("auto", "torch", "reference"):
        raise ValueError(f"backend must be 'auto', 'torch' or 'reference', got {backend!r}")
    x, codebook = x.float(), codebook.float()
    if metric == "cosine":
        x, codebook = F.normalize(x, dim=1), F.normalize(codebook, dim=1)
    codebook_sq = None if metric == "cosine" else (codebook * codebook).sum(1)
    n, k = x.shape[0], codebook.shape[0]
    if backend == "reference":
        chunk = max(n, 1)
    else:
        chunk = chunk_rows or max(1, _CHUNK_BYTES // (4 * max(k, 1)))
    indices = torch.empty(n, dtype=torch.long, device=x.device)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        indices[rows] = code_distances(x[rows], codebook, metric, codebook_sq).argmin(1)
    nearest = codebook[indices]
    if metric == "cosine":
        distance = 1.0 - (x * nearest).sum(1)
    else:
        distance = ((x - nearest) ** 2).sum(1)
    return NearestCode(indices, distance)
