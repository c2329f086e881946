"""Per-sample video metrics on clips [B, C, T, H, W] as floats in [0, 1] (the conventional intensity scale).

- Per-frame PSNR / SSIM / LPIPS (:class:`PerFrame`): the image metric on every frame (frames folded into the
  batch), so the conventions are exactly the image ones; a clip's score is the mean over its frames, and the report
  averages clips. ``per_frame`` keeps the curve [B, T] for plots of quality against frame index (a causal tokenizer's
  first frame is coded alone and often scores differently).
- Temporal flicker (:class:`Flicker`, lower is better): how much the reconstruction's frame-to-frame change departs
  from the original's,

      flicker = mean over t = 1..T-1, channels and pixels of |(x̂_t - x̂_{t-1}) - (x_t - x_{t-1})|,

  i.e. the mean absolute temporal difference of the error e = x̂ - x. An error that stays put (a constant offset,
  a fixed blur of a static scene) does not flicker; an error that changes from frame to frame does, even when its
  per-frame PSNR is the same.
"""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.errors import ShapeError
from omnitok.metrics.checks import check_image_pair
from omnitok.metrics.registry import SampleMetric
from omnitok.utils import fold_frames

FRAME_CHUNK = 64  # frames per call of the image metric (bounds LPIPS' memory on long clips)


def check_video_pair(
    original: Tensor, reconstruction: Tensor, metric: str, *, rgb: bool = False, min_side: int = 1, min_frames: int = 1
) -> None:
    """Raise a clear error unless both are float clips [B, C, T, H, W] of one shape, T >= ``min_frames``, values in
    [0, 1] (the per-frame checks are :func:`check_image_pair`'s)."""
    for what, x in (("original", original), ("reconstruction", reconstruction)):
        if not isinstance(x, Tensor) or x.ndim != 5:
            raise ShapeError(
                f"{metric} takes clips [B, C, T, H, W]; the {what} has shape {tuple(getattr(x, 'shape', ()))}"
            )
    if original.shape != reconstruction.shape:
        raise ShapeError(
            f"{metric} needs originals and reconstructions of one shape, got {tuple(original.shape)} and "
            f"{tuple(reconstruction.shape)}"
        )
    if original.shape[2] < min_frames:
        raise ShapeError(f"{metric} needs clips of at least {min_frames} frames, got shape {tuple(original.shape)}")
    check_image_pair(fold_frames(original), fold_frames(reconstruction), metric, rgb=rgb, min_side=min_side)


class PerFrame:
    """An image metric applied to every frame of a clip: ``__call__`` -> [B] (mean over frames), ``per_frame`` ->
    [B, T].

    Args:
        image_metric: a per-sample image metric (``PSNR()``, ``SSIM()``, ``LPIPS.pretrained(...)``).
    """

    def __init__(self, image_metric: SampleMetric):
        self.image_metric = image_metric
        self.name = image_metric.name
        self.higher_is_better = image_metric.higher_is_better
        self.implementation = f"per frame (mean over frames, then clips) of: {image_metric.implementation}"

    def per_frame(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        """Scores of every frame: clips [B, C, T, H, W] in [0, 1] -> [B, T] float32."""
        check_video_pair(original, reconstruction, self.name)
        b, _, t = original.shape[:3]
        x, y = fold_frames(original), fold_frames(reconstruction)
        scores = [
            self.image_metric(x[i : i + FRAME_CHUNK], y[i : i + FRAME_CHUNK]) for i in range(0, b * t, FRAME_CHUNK)
        ]
        return torch.cat(scores).float().reshape(b, t)

    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        return self.per_frame(original, reconstruction).mean(1)


def flicker(original: Tensor, reconstruction: Tensor) -> Tensor:
    """Flicker of each transition (see the module docstring): clips [B, C, T, H, W] -> [B, T - 1], float32; entry
    ``t`` is the step from frame ``t`` to frame ``t + 1``."""
    error = reconstruction.float() - original.float()  # (B, C, T, H, W)
    return (error[:, :, 1:] - error[:, :, :-1]).abs().mean((1, 3, 4))


class Flicker:
    """Temporal flicker per clip (lower is better; 0 for an error that does not change over time): ``__call__`` on
    clips [B, C, T, H, W] in [0, 1], T >= 2 -> [B]; ``per_frame`` -> [B, T - 1] (one value per transition)."""

    name = "flicker"
    higher_is_better = False
    implementation = (
        "omnitok.metrics.video.flicker: mean over frames t >= 1, channels and pixels of "
        "|(x̂_t - x̂_(t-1)) - (x_t - x_(t-1))| on [0, 1], float32"
    )

    def per_frame(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        check_video_pair(original, reconstruction, self.name, min_frames=2)
        return flicker(original, reconstruction)

    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        return self.per_frame(original, reconstruction).mean(1)


__all__ = ["FRAME_CHUNK", "Flicker", "PerFrame", "check_video_pair", "flicker", "fold_frames"]
