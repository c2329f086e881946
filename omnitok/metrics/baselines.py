"""Trivial reconstructions a trained tokenizer has to beat: flat colours, the mean image, and resampling at the
tokenizer's own budget.

The resampling baseline keeps as much information as the tokens do: for a discrete tokenizer, as many 8-bit RGB
pixels as the tokens carry bits (``tokens * sum(log2 K) / 24``); for a continuous one, as many RGB pixels as there
are latent scalars (``tokens * D / 3``). The image is shrunk to that many pixels (antialiased) and enlarged back
(bicubic).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from omnitok.protocol import TokenizerSpec


def budget_pixels(spec: TokenizerSpec, image_shape: tuple[int, int]) -> int:
    """RGB pixels carrying the same information as the tokens of one ``image_shape`` (H, W) image."""
    tokens = math.prod(spec.grid(image_shape))
    if spec.discrete:
        bits = tokens * sum(math.log2(size) for size in spec.codebook_sizes)
        return max(1, int(bits // 24))
    return max(1, tokens * spec.latent_dim // 3)


def resample_baseline(x: Tensor, pixels: int) -> Tensor:
    """x [B, C, H, W] -> shrunk to about ``pixels`` pixels (aspect kept) and enlarged back, bicubic."""
    height, width = x.shape[-2:]
    scale = math.sqrt(pixels / (height * width))
    small = (max(1, int(height * scale)), max(1, int(width * scale)))
    shrunk = F.interpolate(x.float(), size=small, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(shrunk, size=(height, width), mode="bicubic", align_corners=False).clamp(x.min(), x.max())


def mean_colour_baseline(x: Tensor) -> Tensor:
    """Each image replaced by its own mean colour (3 numbers per image)."""
    return x.float().mean(dim=(-2, -1), keepdim=True).expand_as(x)


def mean_image_baseline(x: Tensor) -> Tensor:
    """Every image replaced by the pixelwise mean of the batch."""
    return x.float().mean(dim=0, keepdim=True).expand_as(x)
