"""Per-sample image metrics on [0, 1] images (PSNR with data range 1, the convention of the reports)."""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.errors import ShapeError


def to_unit_range(x: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Map media from ``value_range`` to [0, 1] (float32, clamped)."""
    low, high = value_range
    return ((x.float() - low) / (high - low)).clamp(0.0, 1.0)


def psnr(x: Tensor, y: Tensor, eps: float = 1e-10) -> Tensor:
    """Per-sample PSNR in dB of two batches [B, ...] in [0, 1] (data range 1); returns [B]."""
    if x.shape != y.shape:
        raise ShapeError(f"psnr needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(eps))
