"""Causal 3-D convolutional video encoder and decoder (MAGVIT-v2 / Cosmos / CV-VAE style), one model for images and
videos: the first frame is coded on its own, so a 1-frame input is an image.

Level ``i`` has ``base_channels * channel_multipliers[i]`` channels, as in the 2-D
:class:`~omnitok.nn.vqgan.ConvEncoder2d`; levels are separated by a spatial 2x downsampling, so the spatial factor
is ``s = 2 ** (len(channel_multipliers) - 1)``. The temporal factor ``t`` (1, 2, 4 or 8) is reached by also halving
time (keeping the first frame alone) at the last ``log2(t)`` of those stages, the low-resolution ones, and the
decoder doubles time at the same (first) stages of its path. ``T = 1 + k t`` frames of ``H x W`` give a latent grid of
``(1 + k, H / s, W / s)``; the decoder returns ``1 + (n - 1) t`` frames for ``n`` latent frames.

Every layer is causal in time (see :mod:`omnitok.nn.causal3d`), so the latents of frame 0 do not depend on later
frames, and :mod:`omnitok.models.video_chunked` encodes and decodes long clips chunk by chunk with equal results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError
from omnitok.nn.blocks import maybe_checkpoint
from omnitok.nn.causal3d import (
    CausalConv3d,
    Downsample3d,
    FrameGroupNorm,
    ResnetBlock3d,
    TimePadding,
    Upsample3d,
    frame_norm_silu,
)
from omnitok.nn.init import init_convs_fan_in
from omnitok.nn.video_attention import CausalTemporalAttention, SpatialAttention3d

TEMPORAL_FACTORS = (1, 2, 4, 8)


def _check_architecture(
    in_channels: int,
    out_channels: int,
    base_channels: int,
    channel_multipliers: Sequence[int],
    num_res_blocks: int,
    temporal_downsample: int,
    norm_groups: int,
    dropout: float,
) -> list[int]:
    """Validate the shared arguments; returns the channels per level."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("base_channels", base_channels)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    multipliers = list(channel_multipliers)
    if not multipliers or not all(isinstance(m, int) and m >= 1 for m in multipliers):
        raise ConfigError(
            f"channel_multipliers must be a non-empty sequence of positive ints, got {channel_multipliers!r}"
        )
    if not isinstance(num_res_blocks, int) or num_res_blocks < 1:
        raise ConfigError(f"num_res_blocks must be an int >= 1, got {num_res_blocks!r}")
    if temporal_downsample not in TEMPORAL_FACTORS:
        raise ConfigError(f"temporal_downsample must be one of {TEMPORAL_FACTORS}, got {temporal_downsample!r}")
    stages = len(multipliers) - 1
    if int(math.log2(temporal_downsample)) > stages:
        raise ConfigError(
            f"temporal_downsample={temporal_downsample} needs {int(math.log2(temporal_downsample))} downsampling "
            f"stages but channel_multipliers={tuple(multipliers)} has {stages}; add levels"
        )
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    channels = [base_channels * m for m in multipliers]
    if not isinstance(norm_groups, int) or norm_groups < 1 or any(c % norm_groups for c in channels):
        raise ConfigError(
            f"every level's channels must be divisible by norm_groups={norm_groups!r}; "
            f"base_channels={base_channels} x channel_multipliers={tuple(multipliers)} gives {channels}"
        )
    return channels


def _temporal_stages(levels: int, temporal_downsample: int) -> set[int]:
    """Encoder stages (stage i goes from level i to i + 1) that also halve time: the last log2(t) ones."""
    stages = levels - 1
    return set(range(stages - int(math.log2(temporal_downsample)), stages))


class MidBlock3d(nn.Module):
    """ResNet block, optional factorized attention (spatial, then causal temporal), ResNet block."""

    def __init__(self, channels: int, attention: bool, dropout: float, norm_groups: int, time_padding: TimePadding):
        super().__init__()
        self.block_1 = ResnetBlock3d(channels, channels, dropout, norm_groups, time_padding)
        self.spatial_attention = SpatialAttention3d(channels, norm_groups) if attention else None
        self.temporal_attention = CausalTemporalAttention(channels, norm_groups) if attention else None
        self.block_2 = ResnetBlock3d(channels, channels, dropout, norm_groups, time_padding)

    def forward(self, x: Tensor, checkpointing: bool = False) -> Tensor:
        x = maybe_checkpoint(self.block_1, x, checkpointing)
        if self.spatial_attention is not None and self.temporal_attention is not None:
            x = maybe_checkpoint(self.spatial_attention, x, checkpointing)
            x = self.temporal_attention(x)  # holds streaming state: never recomputed
        return maybe_checkpoint(self.block_2, x, checkpointing)


class VideoLevel(nn.Module):
    """ResNet blocks at one resolution, then an optional resampling: [B, in, T, H, W] -> [B, out, T', H', W']."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_blocks: int,
        resample: nn.Module | None,
        dropout: float,
        norm_groups: int,
        time_padding: TimePadding,
    ):
        super().__init__()
        channels = [in_channels] + [out_channels] * num_blocks
        self.blocks = nn.ModuleList(
            ResnetBlock3d(channels[i], channels[i + 1], dropout, norm_groups, time_padding) for i in range(num_blocks)
        )
        self.resample = resample

    def forward(self, x: Tensor, checkpointing: bool = False) -> Tensor:
        for block in self.blocks:
            x = maybe_checkpoint(block, x, checkpointing)
        return x if self.resample is None else self.resample(x)


class CausalVideoEncoder(nn.Module, Configurable):
    """Causal 3-D encoder: video (or image as one frame) -> latent grid.

    x: [B, in_channels, T, H, W] in [-1, 1] with T = 1 + k t and H, W multiples of s -> [B, out_channels, 1 + k,
    H / s, W / s]; ``downsample_factor = (t, s, s)``. With ``pad_to_multiple`` other sizes are padded first: time by
    repeating the last frame, space by repeating the last row / column (``T`` -> ``1 + ceil((T - 1) / t) t``).

    Args:
        in_channels: video channels.
        out_channels: latent channels emitted; pass ``quantizer.input_dim`` (``2 * dim`` for a Gaussian bottleneck).
        base_channels: channels of level 0 (times its multiplier).
        channel_multipliers: one per resolution level; s = 2 ** (len - 1): (1, 2, 2, 4) is s8, (1, 1, 2, 2, 4) s16.
        num_res_blocks: ResNet blocks per level.
        temporal_downsample: t in {1, 2, 4, 8}; needs log2(t) <= len(channel_multipliers) - 1.
        attention: factorized attention (spatial per frame + causal temporal) in the middle block.
        norm_groups: GroupNorm groups (per frame); every level's channels must be divisible by it. Keep 4 or more
            channels per group where ``norm_out`` sits (the last level here, level 0 in the decoder): a 2-channel
            group maps a flat frame to +-1 whatever its values, so the output conv cannot set a flat region's colour.
        dropout: dropout inside the ResNet blocks.
        time_padding: what causal convs pad before frame 0: "replicate" (copies of it) or "zeros".
        pad_to_multiple: pad inputs whose sizes are not 1 + k t frames / multiples of s instead of raising
            ``ShapeError`` (an Autoencoder takes this setting for its spec, which then rounds the grid up).
        gradient_checkpointing: recompute ResNet blocks in the backward pass (less memory, slower).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 16,
        base_channels: int = 64,
        channel_multipliers: Sequence[int] = (1, 2, 2, 4),
        num_res_blocks: int = 2,
        temporal_downsample: int = 4,
        attention: bool = False,
        norm_groups: int = 32,
        dropout: float = 0.0,
        time_padding: TimePadding = "replicate",
        pad_to_multiple: bool = False,
        gradient_checkpointing: bool = False,
    ):
        super().__init__()
        channels = _check_architecture(
            in_channels,
            out_channels,
            base_channels,
            channel_multipliers,
            num_res_blocks,
            temporal_downsample,
            norm_groups,
            dropout,
        )
        self.in_channels, self.out_channels = in_channels, out_channels
        spatial = 2 ** (len(channels) - 1)
        self.downsample_factor = (temporal_downsample, spatial, spatial)
        self.pad_to_multiple, self.gradient_checkpointing = pad_to_multiple, gradient_checkpointing
        temporal = _temporal_stages(len(channels), temporal_downsample)

        self.conv_in = CausalConv3d(in_channels, channels[0], 3, time_padding=time_padding)
        last = len(channels) - 1
        self.down = nn.ModuleList(
            VideoLevel(
                channels[max(i - 1, 0)],
                channels[i],
                num_res_blocks,
                None if i == last else Downsample3d(channels[i], True, i in temporal, time_padding),
                dropout,
                norm_groups,
                time_padding,
            )
            for i in range(len(channels))
        )
        self.mid = MidBlock3d(channels[-1], attention, dropout, norm_groups, time_padding)
        self.norm_out = FrameGroupNorm(channels[-1], norm_groups)
        self.conv_out = CausalConv3d(channels[-1], out_channels, 3, time_padding=time_padding)
        init_convs_fan_in(self)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, in_channels, T, H, W] in [-1, 1] -> [B, out_channels, 1 + (T - 1) / t, H / s, W / s].

        In streaming mode (chunks of one clip) T may be any size and the latent frames each chunk completes are
        returned (possibly none)."""
        x = self._check_and_pad(x)
        checkpointing = self.gradient_checkpointing and self.training and not self.conv_in.streaming
        s = self.downsample_factor[1]
        empty = x.new_zeros(x.shape[0], self.out_channels, 0, x.shape[3] // s, x.shape[4] // s)
        h = self.conv_in(x)
        for level in self.down:
            h = level(h, checkpointing)
            if h.shape[2] == 0:  # streaming: this chunk completes no frame at this level yet
                return empty
        h = self.mid(h, checkpointing)
        return self.conv_out(frame_norm_silu(self.norm_out, h))

    def _check_and_pad(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if not isinstance(x, Tensor) or x.ndim != 5 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"{name} expects videos [B, {self.in_channels}, T, H, W] (an image is T = 1), got {shape}")
        t, s, _ = self.downsample_factor
        frames, height, width = x.shape[2:]
        streaming = self.conv_in.streaming
        pad_t = 0 if streaming else (-(frames - 1)) % t
        pad_h, pad_w = (-height) % s, (-width) % s
        if frames < 1 and not streaming:
            raise ShapeError(f"{name} needs at least one frame, got T = {frames}")
        if (pad_t or pad_h or pad_w) and not self.pad_to_multiple:
            raise ShapeError(
                f"{name} needs T = 1 + k * {t} frames (1, {1 + t}, {1 + 2 * t}, ...) and H, W multiples of {s}, "
                f"got T={frames}, H={height}, W={width}; trim or pad the clip, or build with pad_to_multiple=True"
            )
        if pad_t:
            x = _repeat_last(x, pad_t, dim=2)
        if pad_h:
            x = _repeat_last(x, pad_h, dim=3)
        if pad_w:
            x = _repeat_last(x, pad_w, dim=4)
        return x


def _repeat_last(x: Tensor, count: int, dim: int) -> Tensor:
    """x with its last slice along ``dim`` repeated ``count`` more times."""
    last = x.narrow(dim, x.shape[dim] - 1, 1)
    return torch.cat([x, last.expand(*[count if d == dim else -1 for d in range(x.ndim)])], dim=dim)


class CausalVideoDecoder(nn.Module, Configurable):
    """Causal 3-D decoder, the mirror of :class:`CausalVideoEncoder`: latent grid -> video.

    z: [B, in_channels, n, h, w] -> [B, out_channels, 1 + (n - 1) t, h s, w s] (in about [-1, 1]).
    ``up`` holds the levels lowest resolution first; each has ``num_res_blocks + 1`` ResNet blocks and, except the
    last, ends with an upsampling (spatial 2x; temporal 2x at the first log2(t) of them).

    Args:
        in_channels: latent channels taken; pass ``quantizer.dim``.
        out_channels: video channels.
        base_channels, channel_multipliers, num_res_blocks, temporal_downsample, attention, norm_groups, dropout,
            time_padding, gradient_checkpointing: as in :class:`CausalVideoEncoder`.
    """

    def __init__(
        self,
        in_channels: int = 16,
        out_channels: int = 3,
        base_channels: int = 64,
        channel_multipliers: Sequence[int] = (1, 2, 2, 4),
        num_res_blocks: int = 2,
        temporal_downsample: int = 4,
        attention: bool = False,
        norm_groups: int = 32,
        dropout: float = 0.0,
        time_padding: TimePadding = "replicate",
        gradient_checkpointing: bool = False,
    ):
        super().__init__()
        channels = _check_architecture(
            in_channels,
            out_channels,
            base_channels,
            channel_multipliers,
            num_res_blocks,
            temporal_downsample,
            norm_groups,
            dropout,
        )
        self.in_channels, self.out_channels = in_channels, out_channels
        spatial = 2 ** (len(channels) - 1)
        self.downsample_factor = (temporal_downsample, spatial, spatial)
        self.gradient_checkpointing = gradient_checkpointing
        temporal = _temporal_stages(len(channels), temporal_downsample)

        self.conv_in = CausalConv3d(in_channels, channels[-1], 3, time_padding=time_padding)
        self.mid = MidBlock3d(channels[-1], attention, dropout, norm_groups, time_padding)
        order = list(reversed(range(len(channels))))  # level indices, lowest resolution first
        self.up = nn.ModuleList(
            VideoLevel(
                channels[min(i + 1, len(channels) - 1)],
                channels[i],
                num_res_blocks + 1,
                None if i == 0 else Upsample3d(channels[i], True, (i - 1) in temporal, time_padding),
                dropout,
                norm_groups,
                time_padding,
            )
            for i in order
        )
        self.norm_out = FrameGroupNorm(channels[0], norm_groups)
        self.conv_out = CausalConv3d(channels[0], out_channels, 3, time_padding=time_padding)
        init_convs_fan_in(self)

    @property
    def last_layer(self) -> Tensor:
        """The output convolution's weight: where the trainer balances reconstruction and adversarial gradients."""
        return self.conv_out.conv.weight

    def forward(self, z: Tensor) -> Tensor:
        """z: [B, in_channels, n, h, w] -> [B, out_channels, 1 + (n - 1) t, h s, w s]."""
        if not isinstance(z, Tensor) or z.ndim != 5 or z.shape[1] != self.in_channels:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ShapeError(f"{type(self).__name__} expects latents [B, {self.in_channels}, n, h, w], got {shape}")
        if z.shape[2] < 1 and not self.conv_in.streaming:
            raise ShapeError(f"{type(self).__name__} needs at least one latent frame, got shape {tuple(z.shape)}")
        checkpointing = self.gradient_checkpointing and self.training and not self.conv_in.streaming
        h = self.mid(self.conv_in(z), checkpointing)
        for level in self.up:
            h = level(h, checkpointing)
        return self.conv_out(frame_norm_silu(self.norm_out, h))
