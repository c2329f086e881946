"""2-D building blocks of the VQGAN / latent-diffusion autoencoders (taming-transformers, Stable Diffusion VAE).

All blocks are channels-first: x [B, C, H, W]. Normalization is GroupNorm (eps 1e-6), activation SiLU.
The parameter names are omnitok's own; :mod:`omnitok.nn.convert` maps diffusers' names onto them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from omnitok.errors import ConfigError

NORM_EPS = 1e-6


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm(groups, channels, eps=1e-6); ConfigError when ``channels`` is not divisible by ``groups``."""
    if groups < 1 or channels % groups:
        raise ConfigError(f"{channels} channels cannot be split into {groups} normalization groups")
    return nn.GroupNorm(groups, channels, eps=NORM_EPS, affine=True)


def norm_silu(norm: nn.GroupNorm, x: Tensor) -> Tensor:
    """SiLU(GroupNorm(x)); the activation runs in place when no gradient is recorded (inference)."""
    h = norm(x)
    return F.silu(h, inplace=not h.requires_grad)


def maybe_checkpoint(module: Callable[[Tensor], Tensor], x: Tensor, enabled: bool) -> Tensor:
    """``module(x)``, recomputed in the backward pass instead of stored when ``enabled`` and gradients are on."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(module, x, use_reentrant=False)
    return module(x)


class ResnetBlock2d(nn.Module):
    """x + conv(SiLU(norm(conv(SiLU(norm(x)))))), with a 1x1 conv on the shortcut when the channels change.

    x: [B, in_channels, H, W] -> [B, out_channels, H, W].
    """

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0, norm_groups: int = 32):
        super().__init__()
        self.norm1 = group_norm(in_channels, norm_groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels, norm_groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(norm_silu(self.norm1, x))
        h = self.conv2(self.dropout(norm_silu(self.norm2, h)))
        h += x if self.shortcut is None else self.shortcut(x)  # in place: conv2's output is not needed for backward
        return h


class SelfAttention2d(nn.Module):
    """Single-head self-attention over the H*W positions, with a residual connection.

    x + proj(softmax(q k^T / sqrt(C)) v), where q, k, v = split(qkv(norm(x))) per position.
    x: [B, C, H, W] -> [B, C, H, W]. ``qkv`` is one Linear(C, 3C) (q, k, v stacked on the output axis).
    """

    def __init__(self, channels: int, norm_groups: int = 32):
        super().__init__()
        self.norm = group_norm(channels, norm_groups)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        q, k, v = self.qkv(tokens).unsqueeze(1).chunk(3, dim=-1)  # each (B, 1, HW, C)
        out = F.scaled_dot_product_attention(q, k, v).squeeze(1)  # (B, HW, C)
        return x + self.proj(out).transpose(1, 2).reshape(b, c, h, w)


class Downsample2d(nn.Module):
    """Stride-2 conv3x3 after zero padding (0, 1, 0, 1): [B, C, H, W] -> [B, C, H/2, W/2] for even H, W."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample2d(nn.Module):
    """Nearest-neighbour 2x upsampling then conv3x3: [B, C, H, W] -> [B, C, 2H, 2W]."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResolutionLevel2d(nn.Module):
    """The blocks at one resolution: ResNet blocks (each followed by attention if ``attention``), then resampling.

    x: [B, in_channels, H, W] -> [B, out_channels, H', W'] with H' = H/2 ("down"), 2H ("up") or H (None).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_blocks: int,
        attention: bool,
        resample: Literal["down", "up"] | None,
        dropout: float,
        norm_groups: int,
    ):
        super().__init__()
        channels = [in_channels] + [out_channels] * num_blocks
        self.blocks = nn.ModuleList(
            ResnetBlock2d(c_in, c_out, dropout, norm_groups) for c_in, c_out in itertools.pairwise(channels)
        )
        self.attentions = nn.ModuleList(
            SelfAttention2d(out_channels, norm_groups) for _ in range(num_blocks if attention else 0)
        )
        self.resample: nn.Module | None = None
        if resample == "down":
            self.resample = Downsample2d(out_channels)
        elif resample == "up":
            self.resample = Upsample2d(out_channels)
        elif resample is not None:
            raise ConfigError(f"resample must be 'down', 'up' or None, got {resample!r}")

    def forward(self, x: Tensor, gradient_checkpointing: bool = False) -> Tensor:
        for i, block in enumerate(self.blocks):
            x = maybe_checkpoint(block, x, gradient_checkpointing)
            if len(self.attentions):
                x = maybe_checkpoint(self.attentions[i], x, gradient_checkpointing)
        return x if self.resample is None else self.resample(x)


class MidBlock2d(nn.Module):
    """ResNet block, optional self-attention, ResNet block at the lowest resolution: [B, C, h, w] -> same."""

    def __init__(self, channels: int, attention: bool, dropout: float, norm_groups: int):
        super().__init__()
        self.block_1 = ResnetBlock2d(channels, channels, dropout, norm_groups)
        self.attention = SelfAttention2d(channels, norm_groups) if attention else None
        self.block_2 = ResnetBlock2d(channels, channels, dropout, norm_groups)

    def forward(self, x: Tensor, gradient_checkpointing: bool = False) -> Tensor:
        x = maybe_checkpoint(self.block_1, x, gradient_checkpointing)
        if self.attention is not None:
            x = maybe_checkpoint(self.attention, x, gradient_checkpointing)
        return maybe_checkpoint(self.block_2, x, gradient_checkpointing)
