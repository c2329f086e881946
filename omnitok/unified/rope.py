"""Rotary position embedding over multi-dimensional positions (M-RoPE / 3-D RoPE).

A head's ``head_dim / 2`` rotation pairs are split into three sections, one per position axis (t, row, col); each
section has its own geometric frequency ladder ``theta ** (-j / n)``, j < n, so every axis sees high and low
frequencies. Pair p of a token at position (t, r, c) is rotated by ``pos[axis(p)] * freq[p]``. Text tokens have
row = col = 0, so only their t section rotates: for text this is ordinary 1-D RoPE on that section.
Pairs are adjacent channels (2p, 2p + 1), i.e. the complex-number view ``x[2p] + i x[2p + 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.errors import ConfigError


def default_sections(head_dim: int) -> tuple[int, int, int]:
    """Pairs per axis: a quarter of the pairs each to row and col, the rest to t."""
    if head_dim % 2 or head_dim < 2:
        raise ConfigError(f"RoPE needs an even head_dim, got {head_dim}")
    pairs = head_dim // 2
    spatial = pairs // 4
    return (pairs - 2 * spatial, spatial, spatial)


def rope_frequencies(sections: Sequence[int], theta: float = 10000.0) -> Tensor:
    """Frequencies of the concatenated sections, float32 [sum(sections)]."""
    ladders = [theta ** (-torch.arange(n, dtype=torch.float64) / n) for n in sections if n > 0]
    return torch.cat(ladders).float() if ladders else torch.zeros(0)


def rope_angles(positions: Tensor, sections: Sequence[int], frequencies: Tensor) -> Tensor:
    """positions [B, L, 3] (t, row, col) -> rotation angles [B, L, pairs]."""
    axis = torch.repeat_interleave(
        torch.arange(len(sections), device=positions.device), torch.tensor(sections, device=positions.device)
    )
    pos = positions.to(torch.float32).index_select(-1, axis)  # (B, L, pairs): each pair's axis coordinate
    return pos * frequencies.to(positions.device)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate adjacent channel pairs of x [B, H, L, head_dim] by angles whose cos/sin are [B, 1, L, pairs].

    Channels past 2 * pairs (if any) pass through unrotated."""
    pairs = cos.shape[-1]
    rot, rest = x[..., : 2 * pairs], x[..., 2 * pairs :]
    x0, x1 = rot.float().unflatten(-1, (pairs, 2)).unbind(-1)
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2).to(x.dtype)
    return torch.cat([out, rest], dim=-1) if rest.shape[-1] else out
