"""The frozen-teacher interface: media in the tokenizer's input format -> feature map on the teacher's own grid.

Every teacher is an ``nn.Module`` with ``dim`` (feature channels) that stays in eval mode with no trainable
parameters (a trainer's optimizer never sees it), and ``forward(x)`` returning features without gradients:

- images [B, 3, H, W] in [-1, 1] -> [B, dim, h, w];
- video [B, 3, T, H, W] in [-1, 1] -> [B, dim, T, h, w] (frame by frame);
- audio [B, 1, S] in [-1, 1] -> [B, dim, frames].

:meth:`SemanticTeacher.at_grid` aligns those features with a token grid (:func:`omnitok.semantic.align_to_grid`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ShapeError
from omnitok.semantic.align import align_to_grid, fold_frames, unfold_frames


class SemanticTeacher(nn.Module, Configurable):
    """Base of the frozen teachers. Subclasses set ``dim``, ``modality`` and implement ``extract``."""

    dim: int
    modality: str  # the registered modality it reads ("image": images, and video frame by frame; "audio")

    def freeze(self) -> None:
        """Eval mode and no gradients, for good (call at the end of ``__init__``)."""
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> SemanticTeacher:
        return super().train(False)  # frozen: dropout and normalization statistics never change

    def extract(self, x: Tensor) -> Tensor:
        """Images [B, 3, H, W] / audio [B, 1, S] -> features on the teacher's grid."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        from omnitok.modalities import get_modality

        definition = get_modality(self.modality)
        pictures = len(definition.axes) == 2  # a picture teacher also reads clips [B, C, T, H, W], frame by frame
        if pictures and x.ndim == 5:
            return unfold_frames(self.extract(fold_frames(x)), x.shape[0])
        if x.ndim != len(definition.axes) + 2:
            layout = definition.layout + (" or [B, C, T, H, W]" if pictures else "")
            raise ShapeError(f"{type(self).__name__} takes {layout}, got shape {tuple(x.shape)}")
        return self.extract(x)

    def at_grid(self, x: Tensor, grid: Sequence[int]) -> Tensor:
        """Teacher features of ``x`` on the token grid ``grid`` (without batch and channels): [B, dim, *grid]."""
        return align_to_grid(self(x).float(), grid)
