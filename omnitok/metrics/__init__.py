"""Reconstruction metrics, token figures and the trivial baselines a tokenizer must beat.

Image metrics take float images [B, C, H, W] in [0, 1]; heavy libraries (torchmetrics, lpips, torch-fidelity,
scipy) are imported only when a metric is built or run.
"""

from omnitok.metrics.baselines import budget_pixels, mean_colour_baseline, mean_image_baseline, resample_baseline
from omnitok.metrics.checks import MetricInputError, check_image_pair
from omnitok.metrics.fid import RFID, feature_statistics, frechet_distance
from omnitok.metrics.fvd import FVD
from omnitok.metrics.image import PSNR, SSIM, psnr, ssim, to_unit_range
from omnitok.metrics.perceptual import LPIPS
from omnitok.metrics.registry import (
    DatasetMetric,
    MetricUnavailable,
    SampleMetric,
    build_metrics,
    metric_factories,
    register_metric,
)
from omnitok.metrics.tokens import codebook_figures, codebook_stats, token_figures
from omnitok.metrics.video import Flicker, PerFrame

__all__ = [
    "FVD",
    "LPIPS",
    "PSNR",
    "RFID",
    "SSIM",
    "DatasetMetric",
    "Flicker",
    "MetricInputError",
    "MetricUnavailable",
    "PerFrame",
    "SampleMetric",
    "budget_pixels",
    "build_metrics",
    "check_image_pair",
    "codebook_figures",
    "codebook_stats",
    "feature_statistics",
    "frechet_distance",
    "mean_colour_baseline",
    "mean_image_baseline",
    "metric_factories",
    "psnr",
    "register_metric",
    "resample_baseline",
    "ssim",
    "to_unit_range",
    "token_figures",
]
