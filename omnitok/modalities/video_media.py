"""Videos in and out of tokenizers: uint8 frames [T, H, W, C] <-> float batches [B, C, T, H, W] in the tokenizer's
value range."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from omnitok.errors import DTypeError, ShapeError
from omnitok.modalities.conversion import as_tensor, check_float_range, check_kind, clamped, stack

VIDEO_KINDS = {
    "numpy": "uint8 numpy [B, T, H, W, C]",
    "uint8": "uint8 torch [B, T, H, W, C]",
    "float": "float32 torch [B, C, T, H, W] in the tokenizer's range",
}


def video_batch(media: Any, spec: Any) -> Tensor:
    """See :meth:`omnitok.modalities.video.VideoModality.preprocess`."""
    if isinstance(media, (list, tuple)):
        return stack([video_batch(item, spec)[0] for item in media], "video list")
    x = as_tensor(media, "video input")
    if x.dtype == torch.uint8:
        if x.ndim == 4:
            x = x.unsqueeze(0)
        if x.ndim != 5 or x.shape[-1] != spec.channels:
            raise ShapeError(
                f"uint8 video must be frames [T, H, W, C] or [B, T, H, W, C] with C = {spec.channels}, "
                f"got shape {tuple(x.shape)}"
            )
        low, high = spec.value_range
        return (x.permute(0, 4, 1, 2, 3).float() / 255.0 * (high - low) + low).contiguous()  # as the video reader
    if not x.is_floating_point():
        raise DTypeError(f"video input must be uint8 frames or float, got {x.dtype}")
    if x.ndim == 4:
        x = x.unsqueeze(0)
    if x.ndim != 5:
        raise ShapeError(f"float video must be [C, T, H, W] or [B, C, T, H, W], got shape {tuple(x.shape)}")
    check_float_range(x, spec.value_range, "video input", "give uint8 frames, or map floats to the tokenizer's range")
    return x.float().contiguous()


def video_output(decoded: Tensor, spec: Any, to: str, clamp: bool) -> Any:
    """See :meth:`omnitok.modalities.video.VideoModality.postprocess`."""
    check_kind(to, VIDEO_KINDS, clamp, "video")
    if decoded.ndim != 5:
        raise ShapeError(f"decoded video must be [B, C, T, H, W], got shape {tuple(decoded.shape)}")
    low, high = spec.value_range
    unit = ((clamped(decoded, spec.value_range, True) - low) / (high - low)).clamp(0, 1)
    frames = unit.mul(255).round().to(torch.uint8).permute(0, 2, 3, 4, 1).contiguous()  # as the mp4 writer rounds
    return frames if to == "uint8" else frames.numpy()
