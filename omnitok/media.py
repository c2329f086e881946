"""``omnitok.preprocess`` / ``omnitok.postprocess``: user media in and out of any tokenizer, through its modality.

``preprocess`` turns PIL images, uint8 arrays, video frames or waveforms at any sample rate into the batch
``encode`` takes (float32 ``[B, C, *axes]`` in ``spec.value_range``, on the tokenizer's device); ``postprocess`` turns
what ``decode`` returns back into the same kinds, clamped to the value range unless ``clamp=False`` (raw decoder
output, for ``to="float"``). Each modality does its own conversion (:meth:`omnitok.modalities.Modality.preprocess`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL.Image import Image
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.protocol import Tokenizer, TokenizerSpec


def preprocess(media: Any, tokenizer: Tokenizer | TokenizerSpec, *, sample_rate: int | None = None) -> Tensor:
    """Media -> the input batch of ``tokenizer`` (float32 [B, C, *axes] in its value range, on its device).

    Args:
        media: image: PIL image(s), uint8 numpy [H, W, C] / [B, H, W, C], uint8 torch [C, H, W] / [B, C, H, W],
            or float tensors already in the tokenizer's range; video: uint8 frames [T, H, W, C] / [B, T, H, W, C];
            audio: float waveform [S] / [C, S] / [B, C, S] in [-1, 1] (numpy or torch, or int16 PCM).
        tokenizer: a tokenizer (its ``spec`` and, where it has one, ``device``), or a spec.
        sample_rate: audio: the rate of ``media`` in Hz (required; resampled to the tokenizer's).

    Warns:
        UserWarning: float input whose values look like [0, 1] or [0, 255] when the tokenizer takes [-1, 1], or
        that reach outside its range.

    Raises:
        ShapeError, DTypeError, ConfigError: media the tokenizer cannot take, named.
    """
    spec = _spec(tokenizer)
    x = _modality(spec).preprocess(media, spec, sample_rate)
    device = getattr(tokenizer, "device", None)
    return x.to(device) if isinstance(device, torch.device) else x


def postprocess(
    decoded: Tensor,
    tokenizer: Tokenizer | TokenizerSpec,
    *,
    to: str | None = None,
    clamp: bool = True,
    sample_rate: int | None = None,
) -> np.ndarray | Tensor | list[Image]:
    """What ``tokenizer.decode`` returned -> media: image: "numpy" (uint8 [B, H, W, C]), "pil" (list of images),
    "uint8" (torch [B, C, H, W]); video: "numpy" / "uint8" ([B, T, H, W, C] uint8); audio: "numpy" (float32
    [B, C, S] in [-1, 1]); every modality: "float" (float32 torch, in the value range; audio in [-1, 1]).

    Args:
        to: the kind of output; default "numpy" for images, video and audio ("float" for a modality without
            conversions of its own).
        clamp: clamp to the value range (default); False keeps the decoder's raw values (``to="float"`` only).
        sample_rate: audio: resample the output to this rate (default: the tokenizer's).
    """
    spec = _spec(tokenizer)
    if not isinstance(decoded, Tensor):
        raise ConfigError(f"postprocess takes the tensor decode returned, got {type(decoded).__name__}")
    modality = _modality(spec)
    if to is None:
        return modality.postprocess(decoded, spec, clamp=clamp, sample_rate=sample_rate)
    return modality.postprocess(decoded, spec, to, clamp, sample_rate)


def _spec(tokenizer: Any) -> TokenizerSpec:
    spec = tokenizer if isinstance(tokenizer, TokenizerSpec) else getattr(tokenizer, "spec", None)
    if not isinstance(spec, TokenizerSpec):
        raise ConfigError(
            f"expected a tokenizer (with a TokenizerSpec .spec) or a spec, got {type(tokenizer).__name__}"
        )
    return spec


def _modality(spec: TokenizerSpec) -> Any:
    from omnitok.modalities import get_modality

    return get_modality(spec.modality)
