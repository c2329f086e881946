"""A causal Transformer block over 1-D frames with a bounded past window, streamable with a carried KV cache.

Used at the SEANet bottleneck (beside or instead of the LSTM), as Mimi does: each frame attends to itself and the
``window - 1`` frames before it, with rotary position embeddings (relative, so a stream needs only its running
frame count). Offline, queries are processed in blocks of ``window`` frames against the keys they can see, so
memory is O(S x window) rather than O(S^2). In streaming mode (:func:`omnitok.nn.streaming.streaming`) the block
keeps the last ``window - 1`` keys and values, so chunks of any size give the offline output (up to float rounding
of the differently shaped matrix products).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.errors import ConfigError, ShapeError
from omnitok.nn.streaming import StreamingLayer


def rotary(x: Tensor, positions: Tensor, base: float = 10_000.0) -> Tensor:
    """Rotary position embedding (RoFormer, half-split layout) of x [B, H, T, D] at integer ``positions`` [T]."""
    half = x.shape[-1] // 2
    freqs = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.to(torch.float32)[:, None] * freqs[None]  # (T, D/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    rotated = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return torch.cat([rotated, x[..., 2 * half :]], dim=-1)  # an odd last channel passes unrotated


class CausalTransformerBlock(StreamingLayer):
    """Pre-norm Transformer layer, ``[B, C, S] -> [B, C, S]``: x + attn(norm(x)), then x + mlp(norm(x)).

    Attention is causal over a sliding window: frame t sees frames t - window + 1 ... t.

    Args:
        channels: model width C (divisible by ``heads``).
        heads: attention heads.
        window: frames each frame attends to, itself included (Mimi: 250 frames = 10 s at 25 Hz).
        mlp_ratio: hidden width of the MLP as a multiple of C.
        layer_scale: initial value of the per-channel scales on both residual branches (small values start the
            block close to the identity, as in Mimi / CaiT); None disables them.
    """

    def __init__(
        self, channels: int, heads: int = 4, window: int = 64, mlp_ratio: float = 4.0, layer_scale: float | None = 0.01
    ):
        super().__init__()
        if heads < 1 or channels % heads:
            raise ConfigError(f"attention channels ({channels}) must be divisible by heads ({heads})")
        if channels // heads < 2:
            raise ConfigError(f"attention heads need at least 2 channels each (rotary), got {channels // heads}")
        if window < 1:
            raise ConfigError(f"attention window must be >= 1 frame, got {window}")
        self.channels, self.heads, self.window = channels, heads, window
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        hidden = max(1, int(channels * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        if layer_scale is None:
            self.scale1 = self.scale2 = None
        else:
            self.scale1 = nn.Parameter(torch.full((channels,), float(layer_scale)))
            self.scale2 = nn.Parameter(torch.full((channels,), float(layer_scale)))
        self._cache: tuple[Tensor, Tensor] | None = None  # keys (rotated), values: (B, H, <= window - 1, D)
        self._offset = 0  # frames seen so far in the stream

    def reset_stream(self) -> None:
        self._cache, self._offset = None, 0

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[1] != self.channels:
            raise ShapeError(f"CausalTransformerBlock expects [B, {self.channels}, S], got {tuple(x.shape)}")
        h = x.transpose(1, 2)  # (B, S, C)
        if h.shape[1] == 0:
            return x
        attended = self._attention(self.norm1(h))
        h = h + (attended * self.scale1 if self.scale1 is not None else attended)
        mlp = self.mlp(self.norm2(h))
        h = h + (mlp * self.scale2 if self.scale2 is not None else mlp)
        return h.transpose(1, 2)

    def _attention(self, h: Tensor) -> Tensor:
        b, s, c = h.shape
        q, k, v = self.qkv(h).view(b, s, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, S, D)
        start = self._offset if self.streaming else 0
        positions = torch.arange(start, start + s, device=h.device)
        q, k = rotary(q, positions), rotary(k, positions)
        if self.streaming:
            if self._cache is not None:
                k, v = torch.cat([self._cache[0], k], dim=2), torch.cat([self._cache[1], v], dim=2)
            first = max(0, k.shape[2] - (self.window - 1))  # the keys the next frames can still see
            self._cache = (k[:, :, first:], v[:, :, first:]) if self.window > 1 else None
            self._offset += s
            key_positions = torch.arange(start + s - k.shape[2], start + s, device=h.device)
            out = self._windowed(q, k, v, positions, key_positions)
        else:
            blocks = []
            for first in range(0, s, self.window):  # queries in blocks of `window`: O(S x window) memory
                last = min(s, first + self.window)
                lo = max(0, first - self.window + 1)
                blocks.append(
                    self._windowed(
                        q[:, :, first:last],
                        k[:, :, lo:last],
                        v[:, :, lo:last],
                        positions[first:last],
                        positions[lo:last],
                    )
                )
            out = torch.cat(blocks, dim=2)
        return self.proj(out.transpose(1, 2).reshape(b, s, c))

    def _windowed(self, q: Tensor, k: Tensor, v: Tensor, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """Attention of q [B, H, Tq, D] over k, v [B, H, Tk, D] where 0 <= q_pos - k_pos < window."""
        gap = q_pos[:, None] - k_pos[None, :]  # (Tq, Tk)
        mask = (gap >= 0) & (gap < self.window)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
