"""The default audio metrics, registered in the order the report shows them: SI-SDR, mel distance,
multi-resolution STFT distance, then PESQ and STOI where their packages are installed."""

from __future__ import annotations

import torch

from omnitok.metrics.audio import PESQ, SISDR, STOI, MelDistance, STFTDistance
from omnitok.metrics.registry import MetricUnavailable, register_metric


@register_metric("audio", "si_sdr")
def si_sdr_metric(device: torch.device) -> SISDR:
    return SISDR()


@register_metric("audio", "mel_distance")
def mel_distance_metric(device: torch.device) -> MelDistance:
    try:
        import torchaudio  # noqa: F401
    except ImportError as err:
        raise MetricUnavailable("torchaudio is not installed (pip install 'omnitok[audio]')") from err
    return MelDistance()


@register_metric("audio", "stft_distance")
def stft_distance_metric(device: torch.device) -> STFTDistance:
    return STFTDistance()


@register_metric("audio", "pesq")
def pesq_metric(device: torch.device) -> PESQ:
    try:
        return PESQ()
    except ImportError as err:
        raise MetricUnavailable("the pesq package is not installed (pip install pesq)") from err


@register_metric("audio", "stoi")
def stoi_metric(device: torch.device) -> STOI:
    try:
        return STOI()
    except ImportError as err:
        raise MetricUnavailable("the pystoi package is not installed (pip install pystoi)") from err
