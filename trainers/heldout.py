"""The held-out figures a training run reports: metric labels and directions, and how missing values print.

What is measured per modality, and the trivial baselines beside it, belong to the modality's definition
(``Modality.heldout_scores``, ``heldout_baselines``, ``heldout_details``, ``heldout_picture``): images are scored
by PSNR on [0, 1] against the per-image mean colour, the held-out mean image and resampling at the tokens'
information budget; video by per-frame PSNR with those baselines frame by frame; audio by SI-SDR and mel distance
against 8-bit resampling at the tokens' bitrate. Media are in the tokenizer's value range.
"""

from __future__ import annotations

import math

LABELS = {"psnr": "PSNR (dB)", "si_sdr": "SI-SDR (dB)", "mel_distance": "mel distance"}
HIGHER_IS_BETTER = {"psnr": True, "si_sdr": True, "mel_distance": False}


def label(metric: str) -> str:
    """A metric's column label with its direction (a modality's own metric: its name)."""
    arrow = {True: " ↑", False: " ↓"}.get(HIGHER_IS_BETTER.get(metric), "")  # type: ignore[arg-type]
    return LABELS.get(metric, metric) + arrow


def finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None
