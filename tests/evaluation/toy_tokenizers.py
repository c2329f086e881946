"""Tokenizers written outside omnitok (no omnitok base class), for evaluation tests and ``module:attribute`` refs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok import TokenizerSpec


class ShiftTokenizer:
    """Works in [0, 255]; its latents are the image itself and its decoder adds ``shift`` (in [0, 255] units)."""

    def __init__(self, shift: float = 12.75):
        self.shift = shift
        self.spec = TokenizerSpec(
            modality="image", discrete=False, latent_dim=3, downsample=(1, 1), value_range=(0.0, 255.0)
        )

    def encode(self, x: Tensor) -> Tensor:
        return x.clone()

    def decode(self, tokens: Tensor) -> Tensor:
        return (tokens + self.shift).clamp(0, 255)


class PoolingQuantizer:
    """4x4 average pooling, each channel rounded to ``levels`` values: codes are mixed-radix indices (levels^3)."""

    def __init__(self, levels: int = 4):
        self.levels = levels
        self.spec = TokenizerSpec(modality="image", discrete=True, codebook_sizes=(levels**3,), latent_dim=3, downsample=(4, 4))

    def encode(self, x: Tensor) -> Tensor:
        digits = ((F.avg_pool2d(x, 4) + 1) / 2 * (self.levels - 1)).round().clamp(0, self.levels - 1).long()
        return digits[:, 0] * self.levels**2 + digits[:, 1] * self.levels + digits[:, 2]

    def decode(self, tokens: Tensor) -> Tensor:
        digits = torch.stack([tokens // self.levels**2, tokens // self.levels % self.levels, tokens % self.levels], 1)
        return F.interpolate(digits.float() / (self.levels - 1) * 2 - 1, scale_factor=4, mode="nearest")


class EncoderOnly(PoolingQuantizer):
    """Encodes like :class:`PoolingQuantizer` but has no decoder (as transformers' Chameleon VQ)."""

    can_decode = False

    def decode(self, tokens: Tensor) -> Tensor:
        raise NotImplementedError("no decoder")


class AudioLike:
    """A tokenizer of the wrong modality for image evaluation."""

    spec = TokenizerSpec(modality="audio", discrete=True, codebook_sizes=(16,), downsample=(4,), channels=1, sample_rate=16000)

    def encode(self, x: Tensor) -> Tensor:
        return torch.zeros(x.shape[0], x.shape[-1] // 4, dtype=torch.long)

    def decode(self, tokens: Tensor) -> Tensor:
        return torch.zeros(tokens.shape[0], 1, tokens.shape[-1] * 4)


pooling = PoolingQuantizer()
"""An instance, for the ``tests.evaluation.toy_tokenizers:pooling`` reference."""
not_a_tokenizer = object()
