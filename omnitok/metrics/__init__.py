"""Reconstruction metrics and the trivial baselines a tokenizer must beat."""

from omnitok.metrics.baselines import budget_pixels, mean_colour_baseline, mean_image_baseline, resample_baseline
from omnitok.metrics.image import psnr, to_unit_range

__all__ = [
    "budget_pixels",
    "mean_colour_baseline",
    "mean_image_baseline",
    "psnr",
    "resample_baseline",
    "to_unit_range",
]
