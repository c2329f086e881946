"""Latent normalization of continuous tokenizers: measure ``latent_scale`` / ``latent_shift`` on data and record them.

Convention (Stable Diffusion's VAE ``scaling_factor``, with SD3/FLUX's ``shift_factor``): a consumer (a diffusion
model, a continuous-token Transformer) takes ``(z - latent_shift) * latent_scale``, where ``z`` is what ``encode``
returns (the Gaussian's mode, unscaled). Calibration sets

- ``latent_scale = 1 / std(z)``: the population standard deviation over every latent value (all channels and grid
  positions of all samples), so the normalized latents have unit variance;
- ``latent_shift = mean(z)`` (``shift="mean"``, the default: SD3/FLUX, zero-mean normalized latents) or ``0``
  (``shift="zero"``: SD 1.x/2.x, whose ``scaling_factor`` alone is recorded; the variance is still 1).

``encode`` and ``decode`` do not change: the two numbers live in the spec (the config's ``latent_scale`` /
``latent_shift``), and ``calibration.json`` beside the weights records how they were measured (the model card
shows it). The weights file, and so the weights fingerprint, stay as they were.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.utils import atomic_path

CALIBRATION_NAME = "calibration.json"
CONVENTION = (
    "consumers take (z - latent_shift) * latent_scale of encode's latents z; latent_scale = 1 / population std of "
    "every latent value, latent_shift = {shift} (Stable Diffusion VAE scaling_factor convention{extra})"
)


@dataclasses.dataclass(frozen=True)
class LatentCalibration:
    """The measured normalization and what it was measured on (``calibration.json``)."""

    latent_scale: float
    latent_shift: float
    mean: float
    std: float
    values: int
    samples: int
    shift: str
    data: str = ""
    data_fingerprint: str = ""

    @property
    def convention(self) -> str:
        if self.shift == "mean":
            return CONVENTION.format(shift="the mean of every latent value", extra=", with SD3's shift_factor")
        return CONVENTION.format(shift="0", extra="")

    def to_dict(self) -> dict[str, Any]:
        return dict(dataclasses.asdict(self), convention=self.convention)


@torch.no_grad()
def measure_latents(
    tokenizer: Any, batches: Iterable[Tensor], shift: Literal["mean", "zero"] = "mean"
) -> LatentCalibration:
    """Encode every batch (media in ``tokenizer.spec.value_range``) and measure the latents' mean and std (float64).

    Raises:
        ConfigError: a discrete tokenizer, no latents, constant latents (std 0), or an unknown ``shift``.
    """
    if shift not in ("mean", "zero"):
        raise ConfigError(f"shift must be 'mean' or 'zero', got {shift!r}")
    if tokenizer.spec.discrete:
        raise ConfigError("latent_scale / latent_shift apply to continuous tokenizers; this one returns indices")
    total, squares, count, samples = 0.0, 0.0, 0, 0
    for x in batches:
        z = tokenizer.encode(x).double()  # [B, D, *grid]
        total += float(z.sum())
        squares += float(z.square().sum())
        count += z.numel()
        samples += z.shape[0]
    if count == 0:
        raise ConfigError("no latents to calibrate on: the data gave no samples")
    mean = total / count
    std = math.sqrt(max(squares / count - mean * mean, 0.0))
    if not math.isfinite(std) or std <= 0:
        raise ConfigError(f"the latents have standard deviation {std}; cannot scale them to unit variance")
    return LatentCalibration(1.0 / std, mean if shift == "mean" else 0.0, mean, std, count, samples, shift)


def record_calibration(folder: str | os.PathLike, calibration: LatentCalibration) -> Path:
    """Write ``latent_scale`` / ``latent_shift`` into the folder's ``config.json`` (the model's ``init_args``) and
    ``calibration.json`` beside it, each atomically; the weights are not touched.

    Raises:
        ConfigError: the folder has no config.json, or its model takes no ``latent_scale`` / ``latent_shift``.
    """
    from omnitok.hub import CONFIG_NAME

    folder = Path(folder)
    path = folder / CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        init_args = config["model"]["init_args"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path}: not a tokenizer config save_pretrained wrote ({err})") from None
    if "latent_scale" not in init_args or "latent_shift" not in init_args:
        raise ConfigError(
            f"{path}: model {config['model'].get('class_path')} takes no latent_scale / latent_shift "
            "(key model.init_args.latent_scale)"
        )
    init_args["latent_scale"], init_args["latent_shift"] = calibration.latent_scale, calibration.latent_shift
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    with atomic_path(folder / CALIBRATION_NAME) as tmp:
        tmp.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n", encoding="utf-8")
    return folder


def read_calibration(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The folder's ``calibration.json`` as a dict, or None when it was never calibrated (or the file is unreadable)."""
    try:
        value = json.loads((Path(folder) / CALIBRATION_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def set_batches(data: Any, spec: Any, batch_size: int, device: torch.device | str = "cpu") -> Iterable[Tensor]:
    """The samples of an evaluation set (:class:`omnitok.evaluation.EvalSet`) mapped to ``spec.value_range``."""
    lo, hi = data.scale
    low, high = spec.value_range
    for start in range(0, len(data), batch_size):
        x = data.batch(start, min(start + batch_size, len(data)))
        yield ((x - lo) / (hi - lo) * (high - low) + low).to(device)
