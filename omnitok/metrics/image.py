"""Per-sample image metrics on the conventional intensity scale: images [B, C, H, W] as floats in [0, 1].

- PSNR with data range 1: ``10 log10(1 / MSE)`` per image, MSE over all channels and pixels.
- SSIM with the pinned convention (scikit-image ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1)``): Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, population
  (Gaussian-weighted) statistics, averaged over the valid region and the channels; computed by torchmetrics.

SSIM is not shift-invariant, so a tokenizer working in [-1, 1] must be mapped to [0, 1] (:func:`to_unit_range`)
before either metric, never scored in its own range.
"""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.errors import ShapeError
from omnitok.metrics.checks import check_image_pair
from omnitok.metrics.weights import package_version

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def to_unit_range(x: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Map media from ``value_range`` to [0, 1] (float32, clamped)."""
    low, high = value_range
    return ((x.float() - low) / (high - low)).clamp(0.0, 1.0)


def psnr(x: Tensor, y: Tensor, eps: float = 1e-10) -> Tensor:
    """Per-sample PSNR in dB of two batches [B, ...] in [0, 1] (data range 1); returns [B].

    Identical samples give ``-10 log10(eps)`` = 100 dB rather than infinity.
    """
    if x.shape != y.shape:
        raise ShapeError(f"psnr needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(eps))


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Per-sample SSIM of two image batches [B, C, H, W] in [0, 1] (H, W >= 11); returns [B] float32.

    The pinned convention (see the module docstring): torchmetrics' ``structural_similarity_index_measure``
    computes the SSIM map; its mean is taken over the valid region only, 5 pixels in from each edge, as
    scikit-image does. (torchmetrics' own mean also covers the border, where the window reaches into its reflect
    padding; on 96x96 photos that shifts SSIM by up to 0.015.)
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    if x.shape != y.shape:
        raise ShapeError(f"ssim needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ShapeError(f"ssim needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {tuple(x.shape)}")
    _, ssim_map = structural_similarity_index_measure(
        y.float(),
        x.float(),
        gaussian_kernel=True,
        sigma=SSIM_SIGMA,
        kernel_size=SSIM_WINDOW,
        reduction="none",
        data_range=1.0,
        k1=0.01,
        k2=0.03,
        return_full_image=True,
    )  # [B, C, H, W]
    pad = (SSIM_WINDOW - 1) // 2
    return ssim_map[..., pad:-pad, pad:-pad].flatten(1).mean(1)


class PSNR:
    """PSNR in dB per sample (higher is better): ``__call__(original, reconstruction)`` on [B, C, H, W] in [0, 1]
    -> [B] float32 on the inputs' device."""

    name = "psnr"
    higher_is_better = True
    implementation = "omnitok.metrics.psnr: 10*log10(1/MSE) per image, data range 1, float32; identical images 100 dB"

    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        check_image_pair(original, reconstruction, self.name)
        return psnr(original, reconstruction)


class SSIM:
    """SSIM per sample (higher is better, at most 1) with the pinned convention: ``__call__(original,
    reconstruction)`` on [B, C, H, W] in [0, 1], H and W >= 11 -> [B] float32 on the inputs' device."""

    name = "ssim"
    higher_is_better = True

    def __init__(self) -> None:
        self.implementation = (
            f"torchmetrics {package_version('torchmetrics')} structural_similarity_index_measure: Gaussian window "
            f"{SSIM_WINDOW}x{SSIM_WINDOW}, sigma {SSIM_SIGMA}, K1 0.01, K2 0.03, data range 1, population covariance, "
            "mean over channels and the valid region (border of 5 pixels left out) = scikit-image "
            "structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1), float32"
        )

    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        check_image_pair(original, reconstruction, self.name, min_side=SSIM_WINDOW)
        return ssim(original, reconstruction)
