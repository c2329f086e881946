"""Input checks shared by the reconstruction metrics: layout, dtype, finiteness and the [0, 1] intensity scale."""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.errors import DTypeError, NonFiniteError, OmnitokError, ShapeError


class MetricInputError(OmnitokError, ValueError):
    """Input a metric cannot score: values off the [0, 1] intensity scale, or too few samples."""


def check_image_pair(
    original: Tensor, reconstruction: Tensor, metric: str, *, rgb: bool = False, min_side: int = 1
) -> None:
    """Raise a clear error unless both are float image batches [B, C, H, W] of one shape with values in [0, 1].

    Args:
        original, reconstruction: the two batches a metric compares.
        metric: the metric's name, for the message.
        rgb: require C == 3 (networks trained on RGB: LPIPS, Inception).
        min_side: smallest H and W the metric can score (SSIM's 11x11 window needs 11).
    """
    for what, x in (("original", original), ("reconstruction", reconstruction)):
        if not isinstance(x, Tensor):
            raise DTypeError(f"{metric}: the {what} must be a torch.Tensor, got {type(x).__name__}")
    if original.shape != reconstruction.shape:
        raise ShapeError(
            f"{metric} needs originals and reconstructions of one shape, got {tuple(original.shape)} and "
            f"{tuple(reconstruction.shape)}"
        )
    if original.ndim != 4 or original.shape[0] == 0:
        raise ShapeError(f"{metric} takes images [B, C, H, W] with B >= 1, got shape {tuple(original.shape)}")
    if rgb and original.shape[1] != 3:
        raise ShapeError(f"{metric} takes RGB images [B, 3, H, W], got shape {tuple(original.shape)}")
    if min(original.shape[-2:]) < min_side:
        raise ShapeError(f"{metric} needs images of at least {min_side}x{min_side} pixels, got {tuple(original.shape)}")
    for what, x in (("original", original), ("reconstruction", reconstruction)):
        if not x.is_floating_point():
            raise DTypeError(f"{metric} takes float images in [0, 1]; the {what} has dtype {x.dtype}")
        if not torch.isfinite(x).all():
            raise NonFiniteError(f"{metric}: the {what} holds NaN or Inf")
        low, high = float(x.min()), float(x.max())
        if low < 0.0 or high > 1.0:
            raise MetricInputError(
                f"{metric} takes images on the [0, 1] intensity scale; the {what} has values in [{low:.4g}, {high:.4g}]"
                " (map the tokenizer's range with omnitok.metrics.to_unit_range first)"
            )
