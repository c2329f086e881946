"""Causal 3-D layers for video tokenizers: every output frame depends only on the same and earlier input frames.

All layers work on ``[B, C, T, H, W]``. Time is causal: a temporal convolution pads ``kernel_t - 1`` frames on the
past side only (copies of the first frame, ``time_padding="replicate"``, or zeros, ``"zeros"``); normalization
and spatial layers act on each frame alone. So frame 0 is coded on its own, and an image is a video of one frame.

Temporal down/upsampling keeps the first frame alone: ``T -> 1 + (T - 1) / 2`` and back ``T -> 1 + 2 (T - 1)``.

The layers with temporal state (:class:`CausalConv3d`, :class:`TimeUpsample`, and the causal temporal attention in
:mod:`omnitok.nn.video_attention`) are ``StreamingLayer``s: inside :func:`omnitok.nn.streaming.streaming` they run
chunk by chunk and carry the frames (or keys/values) the next chunk needs, so chunked outputs equal whole-clip ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.errors import ConfigError
from omnitok.nn.blocks import NORM_EPS, Downsample2d
from omnitok.nn.streaming import StreamingLayer

TimePadding = Literal["replicate", "zeros"]


def per_frame(module: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Apply a 2-D module ``[N, C, H, W] -> [N, C', H', W']`` to every frame of ``x`` [B, C, T, H, W]."""
    b, _, t = x.shape[:3]
    frames = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, H, W)
    out = module(frames)
    return out.reshape(b, t, *out.shape[1:]).transpose(1, 2)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm over (channels / groups, H, W) of each frame separately (statistics never mix frames, so the
    layer is causal in time): x [B, C, T, H, W] -> same shape."""

    def __init__(self, channels: int, groups: int):
        if groups < 1 or channels % groups:
            raise ConfigError(f"{channels} channels cannot be split into {groups} normalization groups")
        super().__init__(groups, channels, eps=NORM_EPS, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        return per_frame(super().forward, x)


def frame_norm_silu(norm: FrameGroupNorm, x: Tensor) -> Tensor:
    """SiLU(per-frame GroupNorm(x)); in place when no gradient is recorded."""
    h = norm(x)
    return F.silu(h, inplace=not h.requires_grad)


def _triple(kernel_size: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(kernel_size, int):
        return (kernel_size,) * 3
    kernel = tuple(int(k) for k in kernel_size)
    if len(kernel) != 3:
        raise ConfigError(f"kernel_size must be an int or (time, height, width), got {kernel_size!r}")
    return kernel  # type: ignore[return-value]


class CausalConv3d(StreamingLayer):
    """Conv3d, causal in time, ``[B, in, T, H, W] -> [B, out, 1 + (T - 1) // time_stride, H, W]``.

    Time: ``kernel_t - 1`` frames are padded before the first frame (never after the last), so output ``j`` sees
    input frames up to ``j * time_stride`` only and output 0 sees frame 0 alone. Space: symmetric zero padding
    ``kernel // 2`` (odd spatial kernels), stride 1.

    Args:
        in_channels, out_channels: as ``nn.Conv3d``.
        kernel_size: int or (time, height, width); spatial sizes must be odd.
        time_stride: temporal stride s (kernel_t >= s); T = 1 + k s frames give 1 + k outputs.
        time_padding: "replicate" pads with copies of the first frame (a still image stays still, the usual
            choice for video VAEs), "zeros" pads with zeros.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        time_stride: int = 1,
        time_padding: TimePadding = "replicate",
    ):
        super().__init__()
        kt, kh, kw = _triple(kernel_size)
        if kh % 2 == 0 or kw % 2 == 0 or min(kt, kh, kw) < 1:
            raise ConfigError(f"CausalConv3d needs positive, odd spatial kernel sizes, got {(kt, kh, kw)}")
        if not isinstance(time_stride, int) or not 1 <= time_stride <= kt:
            raise ConfigError(f"time_stride must be an int in 1..kernel_t={kt}, got {time_stride!r}")
        if time_padding not in ("replicate", "zeros"):
            raise ConfigError(f"time_padding must be 'replicate' or 'zeros', got {time_padding!r}")
        self.conv = nn.Conv3d(
            in_channels, out_channels, (kt, kh, kw), stride=(time_stride, 1, 1), padding=(0, kh // 2, kw // 2)
        )
        self.kernel_t, self.time_stride, self.time_padding = kt, time_stride, time_padding
        self.in_channels, self.out_channels = in_channels, out_channels
        self._buffer: Tensor | None = None

    def reset_stream(self) -> None:
        self._buffer = None

    def _past(self, x: Tensor) -> Tensor:
        """The ``kernel_t - 1`` frames placed before frame 0: [B, C, kernel_t - 1, H, W]."""
        n = self.kernel_t - 1
        if self.time_padding == "zeros":
            return x.new_zeros(*x.shape[:2], n, *x.shape[3:])
        return x[:, :, :1].expand(-1, -1, n, -1, -1)

    def _empty(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.out_channels, 0, *x.shape[3:])

    def forward(self, x: Tensor) -> Tensor:
        if self.streaming:
            return self._stream(x)
        if x.shape[2] == 0:
            return self._empty(x)
        return self.conv(torch.cat([self._past(x), x], dim=2) if self.kernel_t > 1 else x)

    def _stream(self, x: Tensor) -> Tensor:
        if x.shape[2] == 0:
            return self._empty(x)
        if self._buffer is None:
            self._buffer = self._past(x)
        full = torch.cat([self._buffer, x], dim=2)
        length, k, s = full.shape[2], self.kernel_t, self.time_stride
        count = (length - k) // s + 1 if length >= k else 0
        self._buffer = full[:, :, count * s :]  # frames later outputs still need
        if count == 0:
            return self._empty(x)
        return self.conv(full[:, :, : (count - 1) * s + k])


class TimeUpsample(StreamingLayer):
    """Doubles the frames except the first: ``[B, C, T, H, W] -> [B, C, 1 + 2 (T - 1), H, W]`` (each frame
    repeated twice, then frame 0's first copy dropped). Streaming drops it in the first chunk only."""

    def __init__(self) -> None:
        super().__init__()
        self._started = False

    def reset_stream(self) -> None:
        self._started = False

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] == 0:
            return x
        y = x.repeat_interleave(2, dim=2)
        if self.streaming and self._started:
            return y
        self._started = self.streaming
        return y[:, :, 1:]


class ResnetBlock3d(nn.Module):
    """x + conv(SiLU(norm(conv(SiLU(norm(x)))))) with causal 3x3x3 convs and per-frame GroupNorm; a 1x1x1 conv on
    the shortcut when the channels change. x: [B, in, T, H, W] -> [B, out, T, H, W]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dropout: float = 0.0,
        norm_groups: int = 32,
        time_padding: TimePadding = "replicate",
    ):
        super().__init__()
        self.norm1 = FrameGroupNorm(in_channels, norm_groups)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, time_padding=time_padding)
        self.norm2 = FrameGroupNorm(out_channels, norm_groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, time_padding=time_padding)
        self.shortcut = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(frame_norm_silu(self.norm1, x))
        h = self.conv2(self.dropout(frame_norm_silu(self.norm2, h)))
        return h + (x if self.shortcut is None else self.shortcut(x))


class Downsample3d(nn.Module):
    """Spatial 2x (stride-2 conv3x3 per frame, as :class:`~omnitok.nn.blocks.Downsample2d`) and/or temporal 2x
    keeping the first frame alone (causal conv, kernel 3, stride 2): [B, C, T, H, W] -> [B, C, T', H', W'] with
    T' = 1 + (T - 1) / 2 when ``temporal``, H' = H / 2 when ``spatial``."""

    def __init__(self, channels: int, spatial: bool, temporal: bool, time_padding: TimePadding = "replicate"):
        super().__init__()
        if not (spatial or temporal):
            raise ConfigError("Downsample3d needs spatial or temporal downsampling")
        self.spatial = Downsample2d(channels) if spatial else None
        self.temporal = (
            CausalConv3d(channels, channels, (3, 1, 1), time_stride=2, time_padding=time_padding) if temporal else None
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.spatial is not None:
            x = per_frame(self.spatial, x)
        if self.temporal is not None:
            x = self.temporal(x)
        return x


class Upsample3d(nn.Module):
    """The mirror of :class:`Downsample3d`: nearest 2x in space and/or ``T -> 1 + 2 (T - 1)`` in time, then a causal
    3x3x3 conv: [B, C, T, H, W] -> [B, C, T', H', W']."""

    def __init__(self, channels: int, spatial: bool, temporal: bool, time_padding: TimePadding = "replicate"):
        super().__init__()
        if not (spatial or temporal):
            raise ConfigError("Upsample3d needs spatial or temporal upsampling")
        self.spatial = spatial
        self.temporal = TimeUpsample() if temporal else None
        self.conv = CausalConv3d(channels, channels, 3, time_padding=time_padding)

    def forward(self, x: Tensor) -> Tensor:
        if self.temporal is not None:
            x = self.temporal(x)
        if self.spatial and x.shape[2]:
            x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        elif self.spatial:
            x = x.new_zeros(*x.shape[:3], 2 * x.shape[3], 2 * x.shape[4])
        return self.conv(x)
