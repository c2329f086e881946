"""Codebook statistics and the EMA codebook update, with ``index_add_`` (no one-hot N x K matrices)."""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.errors import ShapeError

__all__ = ["cluster_sums", "ema_codebook", "ema_update_"]


@torch.no_grad()
def cluster_sums(x: Tensor, indices: Tensor, num_codes: int) -> tuple[Tensor, Tensor]:
    """x: [N, D] float, indices: [N] int64 in [0, num_codes) -> (counts [K] float32, sums [K, D] float32).

    counts[k] is how many rows chose code k and sums[k] the sum of those rows; O(N D + K D) memory.
    """
    if x.ndim != 2 or indices.shape != (x.shape[0],):
        raise ShapeError(
            f"cluster_sums needs x [N, D] and indices [N], got {tuple(x.shape)} and {tuple(indices.shape)}"
        )
    x = x.float()
    counts = torch.zeros(num_codes, device=x.device).index_add_(0, indices, torch.ones_like(indices, dtype=x.dtype))
    sums = torch.zeros(num_codes, x.shape[1], device=x.device).index_add_(0, indices, x)
    return counts, sums


@torch.no_grad()
def ema_update_(average: Tensor, value: Tensor, decay: float) -> Tensor:
    """In place: average <- decay * average + (1 - decay) * value; returns ``average``."""
    return average.mul_(decay).add_(value, alpha=1 - decay)


@torch.no_grad()
def ema_codebook(ema_count: Tensor, ema_sum: Tensor, eps: float) -> Tensor:
    """Codes [K, D] = ema_sum / Laplace-smoothed ema_count (ema_count [K], ema_sum [K, D]; total count preserved)."""
    total = ema_count.sum()
    smoothed = (ema_count + eps) / (total + ema_count.shape[0] * eps) * total
    return ema_sum / smoothed[:, None]
