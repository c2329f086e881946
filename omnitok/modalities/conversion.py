"""Shared pieces of the modalities' pre- and post-processing (:meth:`Modality.preprocess` /
:meth:`Modality.postprocess`): user media as tensors, value-range checks that warn, clamping and output kinds.

Each modality converts its own media (pixels, frames, waveforms) with these; ``omnitok.preprocess`` and
``omnitok.postprocess`` (:mod:`omnitok.media`) ask the tokenizer's modality.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnitok.errors import ConfigError, DTypeError, NonFiniteError

# a float input whose values reach this far past the tokenizer's range (as a fraction of its width) is called out
RANGE_SLACK = 0.05


def as_tensor(media: Any, what: str) -> Tensor:
    """A numpy array or torch tensor as a CPU tensor (a writable array shares memory; nothing is written to it)."""
    if isinstance(media, Tensor):
        return media.detach().cpu()
    if isinstance(media, np.ndarray):
        if media.dtype == np.uint8 or np.issubdtype(media.dtype, np.floating) or media.dtype == np.int16:
            return torch.from_numpy(np.ascontiguousarray(media) if media.flags.writeable else np.array(media))
        raise DTypeError(f"{what}: numpy arrays of uint8, int16 or float are taken, got {media.dtype}")
    raise DTypeError(f"{what}: expected a numpy array or torch tensor, got {type(media).__name__}")


def stack(items: Sequence[Tensor], what: str) -> Tensor:
    """Samples of one shape [C, ...] -> a batch [B, C, ...]; ShapeError naming the first mismatch otherwise."""
    from omnitok.errors import ShapeError

    if not items:
        raise ShapeError(f"{what}: an empty list")
    for i, item in enumerate(items):
        if item.shape != items[0].shape:
            raise ShapeError(
                f"{what}: item {i} has shape {tuple(item.shape)}, item 0 {tuple(items[0].shape)}; one batch holds "
                "samples of one size (resize them, or prepare them one at a time)"
            )
    return torch.stack(list(items))


def check_float_range(x: Tensor, value_range: tuple[float, float], what: str, typical: str) -> None:
    """Warn when float input does not look like it lies in ``value_range``: values like [0, 1] for a tokenizer of
    [-1, 1], pixel values [0, 255], or anything reaching past the range. ``typical`` says how to fix it."""
    if not torch.isfinite(x).all():
        raise NonFiniteError(f"{what} holds NaN or Inf")
    if x.numel() == 0:
        return
    low, high = value_range
    lo, hi = float(x.min()), float(x.max())
    slack = RANGE_SLACK * (high - low)
    want = f"[{low:g}, {high:g}]"
    if hi > high + slack and lo >= 0 and hi <= 255 and high <= 1.0 + slack and hi > 2.0:
        problem = f"it looks like [0, 255] pixel values, but this tokenizer takes {want}"
    elif low < -slack and lo >= 0 and hi <= 1.0 and high > 0:
        problem = f"it looks like [0, 1], but this tokenizer takes {want}"
    elif lo < low - slack or hi > high + slack:
        problem = f"it reaches outside this tokenizer's range {want}"
    else:
        return
    warnings.warn(f"{what} is float in [{lo:.3g}, {hi:.3g}]: {problem}; {typical}", UserWarning, stacklevel=4)


def clamped(x: Tensor, value_range: tuple[float, float], clamp: bool) -> Tensor:
    """Decoded media as float32 on the CPU, clamped to ``value_range`` unless ``clamp`` is False."""
    x = x.detach().float().cpu()
    return x.clamp(*value_range) if clamp else x


def check_kind(to: str, kinds: dict[str, str], clamp: bool, modality: str) -> None:
    """ConfigError for an unknown output kind (listing ``kinds``: name -> what it is), or for ``clamp=False`` with
    a kind that cannot hold raw values (anything but "float")."""
    if to not in kinds:
        listed = "; ".join(f"{k!r}: {v}" for k, v in kinds.items())
        raise ConfigError(f"{modality} outputs are {listed}; got to={to!r}")
    if not clamp and to != "float":
        raise ConfigError(f"clamp=False keeps raw values for to='float' only; {to!r} holds values in range")
