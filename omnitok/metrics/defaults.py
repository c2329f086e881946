"""The default metrics of each modality, registered in the order the report shows them.

Images: ``psnr``, ``ssim``, ``lpips`` (AlexNet), ``rfid`` (InceptionV3 pool3). Audio (registered in
:mod:`omnitok.metrics.audio_defaults`): ``si_sdr``, ``mel_distance``, ``stft_distance``, ``pesq``, ``stoi``.
A factory whose library or pretrained weights are missing raises :class:`MetricUnavailable`; ``build_metrics``
then lists the reason.
"""

from __future__ import annotations

import torch

import omnitok.metrics.audio_defaults  # noqa: F401  (registers the audio metrics)
from omnitok.metrics import video_defaults  # noqa: F401  (registers the video metrics)
from omnitok.metrics.fid import RFID
from omnitok.metrics.image import PSNR, SSIM
from omnitok.metrics.perceptual import LPIPS
from omnitok.metrics.registry import MetricUnavailable, register_metric


@register_metric("image", "psnr")
def psnr_metric(device: torch.device) -> PSNR:
    """PSNR needs no network; it scores on the inputs' device."""
    return PSNR()


@register_metric("image", "ssim")
def ssim_metric(device: torch.device) -> SSIM:
    """SSIM through torchmetrics; unavailable when torchmetrics is not installed (the ``eval`` extra)."""
    try:
        import torchmetrics  # noqa: F401
    except ImportError as err:
        raise MetricUnavailable("torchmetrics is not installed (pip install 'omnitok[eval]')") from err
    return SSIM()


@register_metric("image", "lpips")
def lpips_metric(device: torch.device) -> LPIPS:
    """LPIPS with the AlexNet backbone, the usual choice in reconstruction reports."""
    return LPIPS.pretrained(device, net="alex")


@register_metric("image", "rfid")
def rfid_metric(device: torch.device) -> RFID:
    """rFID from InceptionV3 pool3 features (2048-d)."""
    return RFID.pretrained(device)
