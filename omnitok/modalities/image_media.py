"""Images in and out of tokenizers: PIL / numpy / torch pixels <-> float batches in the tokenizer's value range."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnitok.errors import DTypeError, ShapeError
from omnitok.modalities.conversion import as_tensor, check_float_range, check_kind, clamped, stack

IMAGE_KINDS = {
    "numpy": "uint8 numpy [B, H, W, C]",
    "pil": "a list of PIL images",
    "uint8": "uint8 torch [B, C, H, W]",
    "float": "float32 torch [B, C, H, W] in the tokenizer's range",
}
FLOAT_HINT = "give uint8 pixels, or map floats in [0, 1] with x * 2 - 1 for a tokenizer of [-1, 1]"


def image_batch(media: Any, spec: Any) -> Tensor:
    """See :meth:`omnitok.modalities.image.ImageModality.preprocess`."""
    if isinstance(media, (list, tuple)):
        return stack([image_batch(item, spec)[0] for item in media], "image list")
    if _is_pil(media):
        mode = "RGB" if spec.channels == 3 else "L"
        media = np.asarray(media.convert(mode))  # (H, W, 3) or (H, W) uint8
    channels_last = isinstance(media, np.ndarray)
    x = as_tensor(media, "image input")
    if x.ndim == 2:  # grey [H, W]
        x, channels_last = x.unsqueeze(0), False
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        layout = "[H, W, C] or [B, H, W, C]" if channels_last else "[C, H, W] or [B, C, H, W]"
        raise ShapeError(f"image input must be {layout}, got shape {tuple(x.shape)}")
    if channels_last:
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] != spec.channels:
        axis = "last axis" if channels_last else "axis 1 of [B, C, H, W]"
        raise ShapeError(f"image input has {x.shape[1]} channels ({axis}); this tokenizer takes {spec.channels}")
    if x.dtype == torch.uint8:
        from omnitok.modalities.image import to_value_range

        return to_value_range(x.float() / 127.5 - 1.0, spec.value_range)
    if not x.is_floating_point():
        raise DTypeError(f"image input must be uint8 pixels or float, got {x.dtype}")
    check_float_range(x, spec.value_range, "image input", FLOAT_HINT)
    return x.float().contiguous()


def image_output(decoded: Tensor, spec: Any, to: str, clamp: bool) -> Any:
    """See :meth:`omnitok.modalities.image.ImageModality.postprocess`."""
    check_kind(to, IMAGE_KINDS, clamp, "image")
    if decoded.ndim != 4:
        raise ShapeError(f"decoded images must be [B, C, H, W], got shape {tuple(decoded.shape)}")
    low, high = spec.value_range
    unit = ((clamped(decoded, spec.value_range, True) - low) / (high - low)).clamp(0, 1)
    pixels = unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)  # as torchvision's save_image rounds a PNG
    if to == "uint8":
        return pixels
    array = pixels.permute(0, 2, 3, 1).numpy()  # (B, H, W, C)
    if to == "numpy":
        return array
    from PIL import Image

    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in array]


def _is_pil(media: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a core dependency
        return False
    return isinstance(media, Image.Image)
