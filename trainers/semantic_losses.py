"""Semantic distillation: the hybrid tokenizer's head output against a frozen teacher's features at the token grid.

One more configured loss term. It needs the model output (``needs_output = True``: the trainer calls it with
``(reconstruction, target, output)``) because it reads ``output.semantic``, the prediction of the tokenizer's
trainable semantic head. The teacher sits in this term, frozen; the head sits in the tokenizer, so the optimizer
trains it and exports keep it.
"""

from __future__ import annotations

from typing import Any, Literal

import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError
from omnitok.semantic.base import SemanticTeacher


class SemanticDistillationLoss(nn.Module, Configurable):
    """``weight * loss(output.semantic, teacher features of the target at the same grid)``.

    Args:
        teacher: a frozen ``omnitok.semantic`` teacher.
        kind: "cosine" (1 - cosine similarity per token, VILA-U / SpeechTokenizer), "l2" (mean squared error of
            the features, each token's teacher vector layer-normalized first), or "cosine+l2".
        weight: weight of the term.
    """

    needs_output = True

    def __init__(
        self, teacher: SemanticTeacher, kind: Literal["cosine", "l2", "cosine+l2"] = "cosine", weight: float = 1.0
    ):
        super().__init__()
        if kind not in ("cosine", "l2", "cosine+l2"):
            raise ConfigError(f"SemanticDistillationLoss kind must be 'cosine', 'l2' or 'cosine+l2', got {kind!r}")
        if not isinstance(teacher, SemanticTeacher):
            raise ConfigError(f"teacher must be an omnitok.semantic teacher, got {type(teacher).__name__}")
        self.teacher, self.kind, self.weight, self.name = teacher, kind, float(weight), "distill"

    def forward(self, reconstruction: Tensor, target: Tensor, output: Any) -> Tensor:
        predicted = getattr(output, "semantic", None)
        if predicted is None:
            raise ConfigError("SemanticDistillationLoss needs a tokenizer with a semantic head (SemanticAutoencoder)")
        wanted = self.teacher.at_grid(target, predicted.shape[2:])
        if wanted.shape != predicted.shape:
            raise ShapeError(
                f"the semantic head gives {tuple(predicted.shape)} but the teacher {tuple(wanted.shape)}; "
                f"set the head's output channels to {self.teacher.dim}"
            )
        return distillation_loss(predicted.float(), wanted, self.kind)


def distillation_loss(predicted: Tensor, teacher: Tensor, kind: str = "cosine") -> Tensor:
    """predicted, teacher: [B, C, *grid] -> scalar loss (see :class:`SemanticDistillationLoss`)."""
    loss = predicted.new_zeros(())
    if "cosine" in kind:
        loss = loss + (1 - F.cosine_similarity(predicted, teacher, dim=1)).mean()
    if "l2" in kind:
        normed = F.layer_norm(teacher.movedim(1, -1), teacher.shape[1:2]).movedim(-1, 1)
        loss = loss + F.mse_loss(predicted, normed)
    return loss
