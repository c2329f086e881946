"""Bring teacher features onto a tokenizer's token grid.

Teachers see the input at their own resolution (a ViT at 224 px gives 14 x 14 patches, HuBERT 50 frames per
second); a distillation loss or a feature-cosine figure compares them with token features on the tokenizer's grid.
Larger teacher grids are reduced by adaptive average pooling (each token gets the mean of the teacher cells it
covers), smaller ones are interpolated (bilinear / trilinear / linear); axes are handled together.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from omnitok.errors import ShapeError
from omnitok.utils import fold_frames, unfold_frames  # noqa: F401 (part of this module's API)

_POOL = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_INTERPOLATE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def align_to_grid(features: Tensor, grid: Sequence[int]) -> Tensor:
    """features [B, C, *teacher_grid] -> [B, C, *grid] (same number of grid axes, 1 to 3).

    Axes where the teacher grid is at least as fine as ``grid`` are average-pooled; if any axis is coarser, the
    features are first interpolated up to ``max(teacher, target)`` per axis and then pooled, so every axis ends on
    ``grid`` exactly.
    """
    grid = tuple(int(g) for g in grid)
    axes = features.ndim - 2
    if axes not in _POOL or len(grid) != axes:
        raise ShapeError(
            f"align_to_grid needs features [B, C, *grid] with 1 to 3 grid axes matching the target grid {grid}, "
            f"got shape {tuple(features.shape)}"
        )
    if any(g < 1 for g in grid):
        raise ShapeError(f"target grid must be positive, got {grid}")
    source = tuple(features.shape[2:])
    if source == grid:
        return features
    if any(s < g for s, g in zip(source, grid)):
        upsampled = tuple(max(s, g) for s, g in zip(source, grid))
        features = F.interpolate(features, size=upsampled, mode=_INTERPOLATE[axes], align_corners=False)
    return _POOL[axes](features, grid)


