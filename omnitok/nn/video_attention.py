"""Factorized attention for video latents: spatial within each frame, then temporal and causal across frames.

Both work on ``[B, C, T, H, W]`` with a residual connection. Spatial attention is
:class:`~omnitok.nn.blocks.SelfAttention2d` applied to every frame alone. Temporal attention runs over the frames
of each (h, w) position with a causal mask, so frame t attends to frames 0..t; in streaming mode it keeps the keys
and values of the frames already seen (at latent resolution: C x H x W numbers per frame), so chunked runs equal
the whole-clip one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.nn.blocks import SelfAttention2d
from omnitok.nn.causal3d import FrameGroupNorm, per_frame
from omnitok.nn.streaming import StreamingLayer


class SpatialAttention3d(nn.Module):
    """Single-head self-attention over the H*W positions of each frame: x [B, C, T, H, W] -> same shape."""

    def __init__(self, channels: int, norm_groups: int = 32):
        super().__init__()
        self.attention = SelfAttention2d(channels, norm_groups)

    def forward(self, x: Tensor) -> Tensor:
        return per_frame(self.attention, x) if x.shape[2] else x


class CausalTemporalAttention(StreamingLayer):
    """Single-head causal self-attention over time at each spatial position, with a residual connection.

    x + proj(softmax(q k^T / sqrt(C) + causal mask) v), q, k, v from qkv(per-frame norm(x)).
    x: [B, C, T, H, W] -> same shape; frame t attends to frames 0..t.
    """

    def __init__(self, channels: int, norm_groups: int = 32):
        super().__init__()
        self.norm = FrameGroupNorm(channels, norm_groups)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self._keys: Tensor | None = None
        self._values: Tensor | None = None

    def reset_stream(self) -> None:
        self._keys = self._values = None

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        if t == 0:
            return x
        tokens = self.norm(x).permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)  # (BHW, T, C)
        q, k, v = self.qkv(tokens).unsqueeze(1).chunk(3, dim=-1)  # each (BHW, 1, T, C)
        past = 0
        if self.streaming:
            if self._keys is not None:
                past = self._keys.shape[2]
                k, v = torch.cat([self._keys, k], dim=2), torch.cat([self._values, v], dim=2)
            self._keys, self._values = k, v
        frames = torch.arange(past + t, device=x.device)
        mask = frames[None, :] <= frames[past:, None]  # (T, past + T): query t sees keys up to past + t
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).squeeze(1)  # (BHW, T, C)
        out = self.proj(out).reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)
        return x + out
