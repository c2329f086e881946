"""The default video metrics, registered in the order the report shows them: per-frame PSNR, SSIM and LPIPS (the
image metrics, built by the image factories), temporal flicker, then FVD (Kinetics-400 I3D). Clips are
[B, C, T, H, W] in [0, 1]; see :mod:`omnitok.metrics.video` and :mod:`omnitok.metrics.fvd`."""

from __future__ import annotations

import torch

from omnitok.metrics.fvd import FVD
from omnitok.metrics.registry import MetricFactory, register_metric
from omnitok.metrics.video import Flicker, PerFrame


def _image_factory(name: str) -> MetricFactory:
    """The image metric factory registered as ``name`` (looked up at call time: ``defaults`` imports this module)."""
    from omnitok.metrics.registry import metric_factories

    return dict(metric_factories("image"))[name]


@register_metric("video", "psnr")
def video_psnr_metric(device: torch.device) -> PerFrame:
    return PerFrame(_image_factory("psnr")(device))


@register_metric("video", "ssim")
def video_ssim_metric(device: torch.device) -> PerFrame:
    return PerFrame(_image_factory("ssim")(device))  # MetricUnavailable without torchmetrics


@register_metric("video", "lpips")
def video_lpips_metric(device: torch.device) -> PerFrame:
    return PerFrame(_image_factory("lpips")(device))  # MetricUnavailable without the AlexNet weights


@register_metric("video", "flicker")
def flicker_metric(device: torch.device) -> Flicker:
    return Flicker()


@register_metric("video", "fvd")
def fvd_metric(device: torch.device) -> FVD:
    """FVD-16 from the Kinetics-400 I3D; MetricUnavailable ("weights not found: ...") without its weights."""
    return FVD.pretrained(device)
