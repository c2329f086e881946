"""Semantic figures of token embeddings: teacher-feature cosine at the token grid and a linear probe.

- :func:`teacher_cosine`: mean cosine similarity, position by position, between predicted features (a hybrid
  tokenizer's semantic head, or a linear read-out of any tokenizer's embeddings) and a teacher's features on the
  same token grid.
- :func:`linear_probe`: closed-form ridge regression from pooled token embeddings to one-hot labels on a train
  split, accuracy on a held-out split; features are standardized with train statistics. Deterministic (no SGD,
  no seed needed beyond the split).
- :func:`ridge_fit`: the shared solver (float64), also used for the linear read-out of teacher features.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok.errors import DataError, ShapeError


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """accuracy on the test split; chance: the share of the test split's most common class (majority guess)."""

    accuracy: float
    chance: float
    train_accuracy: float
    num_train: int
    num_test: int
    num_classes: int


def teacher_cosine(predicted: Tensor, teacher: Tensor) -> Tensor:
    """predicted, teacher: [B, C, *grid] -> per-sample mean cosine over grid positions, float [B]."""
    if predicted.shape != teacher.shape:
        raise ShapeError(f"teacher_cosine: shapes differ {tuple(predicted.shape)} vs {tuple(teacher.shape)}")
    if predicted.ndim < 3:
        raise ShapeError(f"teacher_cosine takes [B, C, *grid], got {tuple(predicted.shape)}")
    return F.cosine_similarity(predicted.float(), teacher.float(), dim=1).flatten(1).mean(1)


def pool_tokens(embeddings: Tensor) -> Tensor:
    """Token embeddings [B, D, *grid] -> one vector per sample [B, D] (mean over the grid)."""
    if embeddings.ndim < 3:
        raise ShapeError(f"pool_tokens takes [B, D, *grid], got {tuple(embeddings.shape)}")
    return embeddings.float().flatten(2).mean(2)


class Standardizer:
    """Centre and scale features with statistics of the rows it was fitted on (constant columns left at 1)."""

    def __init__(self, x: Tensor):
        self.mean = x.mean(0)
        self.std = x.std(0, unbiased=False).clamp_min(1e-8)

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def ridge_fit(x: Tensor, y: Tensor, ridge: float = 1e-2) -> Tensor:
    """Weights W [D + 1, K] minimising ||[x, 1] W - y||^2 + ridge * n * ||W[:-1]||^2 (bias not penalized).

    x: [N, D], y: [N, K]; solved in float64 (Cholesky of the D+1 normal equations).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ShapeError(f"ridge_fit takes x [N, D] and y [N, K], got {tuple(x.shape)} and {tuple(y.shape)}")
    xb = torch.cat([x.double(), x.new_ones(x.shape[0], 1, dtype=torch.float64)], 1)
    penalty = torch.full((xb.shape[1],), ridge * x.shape[0], dtype=torch.float64)
    penalty[-1] = 1e-9 * x.shape[0]
    gram = xb.T @ xb + torch.diag(penalty)
    return torch.linalg.solve(gram, xb.T @ y.double())


def ridge_predict(x: Tensor, weights: Tensor) -> Tensor:
    """[N, D] features -> [N, K] predictions of :func:`ridge_fit` weights."""
    return torch.cat([x.double(), x.new_ones(x.shape[0], 1, dtype=torch.float64)], 1) @ weights


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    ridge: float = 1e-2,
    num_classes: int | None = None,
) -> ProbeResult:
    """Fit a ridge classifier (one-hot targets) on train features [N, D], score on test features [M, D].

    Raises:
        DataError: fewer than two classes or an empty split; ShapeError: mismatched feature widths.
    """
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ShapeError(
            f"linear_probe needs features [N, D] and [M, D], got {tuple(train_x.shape)}, {tuple(test_x.shape)}"
        )
    if train_x.shape[0] != train_y.shape[0] or test_x.shape[0] != test_y.shape[0]:
        raise ShapeError("linear_probe: features and labels differ in length")
    if not len(train_y) or not len(test_y):
        raise DataError("linear_probe needs a non-empty train and test split")
    num_classes = num_classes or int(max(train_y.max(), test_y.max())) + 1
    if num_classes < 2:
        raise DataError("linear_probe needs at least two classes")
    scale = Standardizer(train_x.double())
    weights = ridge_fit(scale(train_x.double()), F.one_hot(train_y.long(), num_classes).double(), ridge)
    train_pred = ridge_predict(scale(train_x.double()), weights).argmax(1)
    test_pred = ridge_predict(scale(test_x.double()), weights).argmax(1)
    chance = float(torch.bincount(test_y.long(), minlength=num_classes).max()) / len(test_y)
    return ProbeResult(
        accuracy=float((test_pred == test_y).double().mean()),
        chance=chance,
        train_accuracy=float((train_pred == train_y).double().mean()),
        num_train=len(train_y),
        num_test=len(test_y),
        num_classes=num_classes,
    )


def readout_cosine(
    train_tokens: Tensor, train_teacher: Tensor, test_tokens: Tensor, test_teacher: Tensor, ridge: float = 1e-2
) -> float:
    """Teacher cosine of a linear read-out: ridge from token embeddings [N, D, *grid] to teacher features
    [N, C, *grid] (position by position) fitted on the train split, mean cosine on the test split.

    A figure for any tokenizer, with or without a semantic head of its own."""

    def rows(t: Tensor) -> Tensor:  # [N, C, *grid] -> [N * positions, C]
        return t.float().flatten(2).transpose(1, 2).reshape(-1, t.shape[1])

    scale = Standardizer(rows(train_tokens).double())
    weights = ridge_fit(scale(rows(train_tokens).double()), rows(train_teacher).double(), ridge)
    predicted = ridge_predict(scale(rows(test_tokens).double()), weights)
    return float(F.cosine_similarity(predicted, rows(test_teacher).double(), dim=1).mean())
