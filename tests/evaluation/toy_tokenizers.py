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
        self.spec = TokenizerSpec(
            modality="image", discrete=True, codebook_sizes=(levels**3,), latent_dim=3, downsample=(4, 4)
        )

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

    spec = TokenizerSpec(
        modality="audio", discrete=True, codebook_sizes=(16,), downsample=(4,), channels=1, sample_rate=16000
    )

    def encode(self, x: Tensor) -> Tensor:
        return torch.zeros(x.shape[0], x.shape[-1] // 4, dtype=torch.long)

    def decode(self, tokens: Tensor) -> Tensor:
        return torch.zeros(tokens.shape[0], 1, tokens.shape[-1] * 4)


pooling = PoolingQuantizer()
"""An instance, for the ``tests.evaluation.toy_tokenizers:pooling`` reference."""
not_a_tokenizer = object()


class ResidualRounding:
    """A residual audio quantizer written out by hand: level q rounds what the levels before it left, on a grid
    ``levels`` times finer each level, so decoding more levels is always at least as close (a monotone ladder).
    One token per ``hop`` samples (each frame is the mean of its samples)."""

    def __init__(self, num_levels: int = 3, size: int = 16, hop: int = 4, sample_rate: int = 8000):
        self.size, self.hop = size, hop
        self.spec = TokenizerSpec(
            modality="audio",
            discrete=True,
            codebook_sizes=(size,) * num_levels,
            codebook_kind="residual",
            latent_dim=1,
            downsample=(hop,),
            channels=1,
            sample_rate=sample_rate,
            token_rate=sample_rate / hop,
        )

    def _scale(self, q: int) -> float:
        return (1.0 / (self.size - 1)) ** q

    def encode(self, x: Tensor) -> Tensor:
        residual = F.avg_pool1d(x, self.hop)[:, 0]  # (B, frames)
        codes = []
        for q in range(self.spec.num_levels):
            index = ((residual / self._scale(q) + 1) / 2 * (self.size - 1)).round().clamp(0, self.size - 1).long()
            codes.append(index)
            residual = residual - self._value(index, q)
        return torch.stack(codes, -1)  # (B, frames, Q)

    def _value(self, index: Tensor, q: int) -> Tensor:
        return (index.float() / (self.size - 1) * 2 - 1) * self._scale(q)

    def decode(self, tokens: Tensor) -> Tensor:
        frames = sum(self._value(tokens[..., q], q) for q in range(tokens.shape[-1]))
        return frames.repeat_interleave(self.hop, -1).unsqueeze(1)  # (B, 1, S)


class CausalFramePooling:
    """A causal video tokenizer written out by hand: frame 0 alone, then each pair of frames averaged; every
    frame pooled 4x4; continuous latents [B, 3, 1 + (T - 1) / 2, H / 4, W / 4]. Frame 0 is reconstructed better
    than the others on moving content (no temporal averaging)."""

    spec = TokenizerSpec(modality="video", discrete=False, latent_dim=3, downsample=(2, 4, 4), causal_time=True)

    def encode(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        first = x[:, :, :1]
        rest = x[:, :, 1:].reshape(b, c, (t - 1) // 2, 2, h, w).mean(3)
        frames = torch.cat([first, rest], 2).transpose(1, 2).reshape(-1, c, h, w)
        pooled = F.avg_pool2d(frames, 4)
        return pooled.reshape(b, -1, c, h // 4, w // 4).transpose(1, 2)

    def decode(self, tokens: Tensor) -> Tensor:
        b, c, steps, h, w = tokens.shape
        frames = F.interpolate(tokens.transpose(1, 2).reshape(-1, c, h, w), scale_factor=4, mode="nearest")
        frames = frames.reshape(b, steps, c, h * 4, w * 4).transpose(1, 2)
        return torch.cat([frames[:, :, :1], frames[:, :, 1:].repeat_interleave(2, 2)], 2)


class FramePSNR:
    """Per-frame PSNR of clips [B, 3, T, H, W] in [0, 1], written out here so tests need no video metric module:
    ``per_frame`` -> [B, T]; a clip's value is the mean over its frames."""

    name, higher_is_better, implementation = "psnr", True, "test: per-frame PSNR"

    def per_frame(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        mse = (original - reconstruction).pow(2).mean(dim=(1, 3, 4))
        return -10 * torch.log10(mse.clamp_min(1e-10))

    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        return self.per_frame(original, reconstruction).mean(1)


causal_video = CausalFramePooling()
"""An instance, for the ``tests.evaluation.toy_tokenizers:causal_video`` reference."""
