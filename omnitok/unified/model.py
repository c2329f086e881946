"""The reference unified Transformer: decoder-only, RMSNorm, multi-dimensional RoPE, SwiGLU, causal
``scaled_dot_product_attention`` and a KV cache for incremental decoding.

Ids come from a :class:`~omnitok.unified.SharedVocabulary`. In the delayed layout each of the S streams has its
own embedding table (summed on the way in) and its own output head. Continuous tokenizers' latents replace the
embeddings at their placeholder positions through a learned projection (understanding inputs).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from omnitok.unified.rope import apply_rope, default_sections, rope_angles, rope_frequencies
from omnitok.unified.row_packing import block_causal_mask
from omnitok.unified.spans import ContinuousInput


@dataclasses.dataclass
class TransformerConfig:
    """Size and shape of a :class:`UnifiedTransformer`.

    Attributes:
        vocab_size: ``SharedVocabulary.size``.
        dim, depth, heads: model width, number of blocks, attention heads (``dim % heads == 0``).
        mlp_dim: SwiGLU hidden width; default 8/3 * dim rounded up to a multiple of 8.
        num_streams: ``SharedVocabulary.num_streams`` (S > 1: delayed parallel streams).
        rope_theta: RoPE base.
        rope_sections: rotation pairs per position axis (t, row, col); default: a quarter each to row and col.
        continuous: continuous tokenizer name -> latent channels D, each with its learned projection.
        dropout: dropout on attention weights and residual branches (training only).
        norm_eps: RMSNorm epsilon.
    """

    vocab_size: int
    dim: int = 256
    depth: int = 4
    heads: int = 4
    mlp_dim: int | None = None
    num_streams: int = 1
    rope_theta: float = 10000.0
    rope_sections: tuple[int, int, int] | None = None
    continuous: dict[str, int] = dataclasses.field(default_factory=dict)
    dropout: float = 0.0
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.vocab_size < 1 or self.dim < 1 or self.depth < 1 or self.heads < 1 or self.num_streams < 1:
            raise ConfigError(f"vocab_size, dim, depth, heads and num_streams must be >= 1: {self}")
        if self.dim % self.heads:
            raise ConfigError(f"dim {self.dim} is not divisible by heads {self.heads}")
        head_dim = self.dim // self.heads
        sections = (
            default_sections(head_dim) if self.rope_sections is None else tuple(int(s) for s in self.rope_sections)
        )
        if len(sections) != 3 or min(sections) < 0 or sum(sections) > head_dim // 2:
            raise ConfigError(
                f"rope_sections {sections} need 3 entries summing to at most head_dim / 2 = {head_dim // 2}"
            )
        self.rope_sections = sections
        self.mlp_dim = self.mlp_dim or 8 * math.ceil(8 * self.dim / 3 / 8)
        self.continuous = {str(k): int(v) for k, v in self.continuous.items()}
        for name, d in self.continuous.items():
            if not name or "." in name or d < 1:
                raise ConfigError(f"continuous input {name!r}: names without dots and latent_dim >= 1 ({d})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rope_sections"] = list(self.rope_sections or ())
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TransformerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown TransformerConfig fields {sorted(unknown)}")
        return cls(**data)


class KVCache:
    """Keys and values of every layer for the tokens seen so far, (B, heads, length, head_dim) each.

    Storage grows by doubling, so decoding n tokens one at a time copies O(n) values rather than O(n^2)."""

    def __init__(self, depth: int):
        self.layers: list[tuple[Tensor, Tensor] | None] = [None] * depth
        self._length = [0] * depth

    @property
    def length(self) -> int:
        return self._length[0]

    def extend(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append this step's keys/values to ``layer`` and return all of them."""
        used, n = self._length[layer], k.shape[2]
        store = self.layers[layer]
        if store is None or used + n > store[0].shape[2]:
            capacity = max(2 * (used + n), 16)
            grown = tuple(t.new_empty(*t.shape[:2], capacity, t.shape[3]) for t in (k, v))
            if store is not None:
                for new, old in zip(grown, store):
                    new[:, :, :used] = old[:, :, :used]
            store = self.layers[layer] = (grown[0], grown[1])
        store[0][:, :, used : used + n] = k
        store[1][:, :, used : used + n] = v
        self._length[layer] = used + n
        return store[0][:, :, : used + n], store[1][:, :, : used + n]


class RMSNorm(nn.Module):
    """x / rms(x) * weight over the last axis (computed in float32)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        h = x.float()
        return (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class SwiGLU(nn.Module):
    """w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1, self.w3 = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Attention(nn.Module):
    """Multi-head self-attention with RoPE on queries and keys."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.heads, self.head_dim, self.dropout = config.heads, config.dim // config.heads, config.dropout
        self.qkv = nn.Linear(config.dim, 3 * config.dim, bias=False)
        self.out = nn.Linear(config.dim, config.dim, bias=False)

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None, cache: KVCache | None, layer: int
    ) -> Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, n, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.extend(layer, k, v)  # (B, H, past + n, hd)
        p = self.dropout if self.training else 0.0
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=n > 1, dropout_p=p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(b, n, -1))


class Block(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.attn_norm, self.mlp_norm = RMSNorm(config.dim, config.norm_eps), RMSNorm(config.dim, config.norm_eps)
        self.attn = Attention(config)
        self.mlp = SwiGLU(config.dim, config.mlp_dim or 0)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None, cache: KVCache | None, layer: int
    ) -> Tensor:
        x = x + self.drop(self.attn(self.attn_norm(x), cos, sin, mask, cache, layer))
        return x + self.drop(self.mlp(self.mlp_norm(x)))


class UnifiedTransformer(nn.Module):
    """Decoder-only Transformer over shared-vocabulary ids.

    Args:
        config: a :class:`TransformerConfig`.
    """

    supports_packing = True  # forward takes ``segments`` (several samples per row)

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.embed = nn.ModuleList(nn.Embedding(config.vocab_size, config.dim) for _ in range(config.num_streams))
        self.project = nn.ModuleDict(
            {
                name: nn.Sequential(nn.Linear(d, config.dim), nn.GELU(), nn.Linear(config.dim, config.dim))
                for name, d in config.continuous.items()
            }
        )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.heads = nn.ModuleList(
            nn.Linear(config.dim, config.vocab_size, bias=False) for _ in range(config.num_streams)
        )
        self.register_buffer(
            "rope_frequencies", rope_frequencies(config.rope_sections or (), config.rope_theta), persistent=False
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal(0, 0.02) weights; residual output projections scaled by 1 / sqrt(2 * depth) (GPT-2)."""
        for name, p in self.named_parameters():
            if p.ndim < 2:
                continue
            std = (
                0.02 / math.sqrt(2 * self.config.depth) if name.endswith(("attn.out.weight", "mlp.w2.weight")) else 0.02
            )
            nn.init.normal_(p, std=std)
        for module in self.modules():
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def new_cache(self) -> KVCache:
        """An empty KV cache for :meth:`forward`'s incremental decoding."""
        return KVCache(self.config.depth)

    def forward(
        self,
        ids: Tensor,
        positions: Tensor,
        continuous: Mapping[str, ContinuousInput] | None = None,
        attention_mask: Tensor | None = None,
        cache: KVCache | None = None,
        segments: Tensor | None = None,
    ) -> Tensor:
        """Next-token logits.

        Args:
            ids: LongTensor [B, L] (one stream) or [B, L, S] (``num_streams`` S).
            positions: LongTensor [B, L, 3], (t, row, col) per token.
            continuous: name -> ContinuousInput whose mask [B, L] marks this chunk's placeholder positions.
            attention_mask: bool [B, past + L], True for real tokens (False: padding no query may attend to).
            cache: a KV cache from :meth:`new_cache`; this chunk's keys/values are appended to it.
            segments: LongTensor [B, L], several samples per row (1, 2, ... per sample, 0 on padding; from
                ``omnitok.unified.pack_rows``): each token attends within its own sample only. Not with ``cache``.

        Returns:
            logits [B, L, V] (one stream) or [B, L, S, V], float32.
        """
        ids = self._check_ids(ids)
        b, n = ids.shape[:2]
        if positions.shape != (b, n, 3):
            raise ShapeError(f"positions must be [B, L, 3] = {(b, n, 3)}, got {tuple(positions.shape)}")
        x = sum(embed(ids[..., s]) for s, embed in enumerate(self.embed))  # (B, L, dim)
        x = self._place_continuous(x, continuous or {})
        angles = rope_angles(positions, self.config.rope_sections or (), self.rope_frequencies)[
            :, None
        ]  # (B, 1, L, pairs)
        cos, sin = angles.cos(), angles.sin()
        past = cache.length if cache is not None else 0
        mask = self._mask(attention_mask, b, n, past, x.device)
        if segments is not None:
            if cache is not None or segments.shape != (b, n):
                raise ShapeError(f"segments must be [B, L] = {(b, n)} without a cache, got {tuple(segments.shape)}")
            mask = block_causal_mask(segments.to(x.device))
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, mask, cache, i)
        h = self.norm(x)
        logits = torch.stack([head(h) for head in self.heads], dim=2).float()  # (B, L, S, V)
        return logits[:, :, 0] if self.config.num_streams == 1 else logits

    def _check_ids(self, ids: Tensor) -> Tensor:
        if ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise DTypeError(f"ids must be integers, got {ids.dtype}")
        s = self.config.num_streams
        if s == 1 and ids.ndim == 2:
            ids = ids[..., None]
        if ids.ndim != 3 or ids.shape[-1] != s:
            raise ShapeError(
                f"ids must be [B, L]{' or [B, L, 1]' if s == 1 else f', S = {s}: [B, L, {s}]'}, got {tuple(ids.shape)}"
            )
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise IndexRangeError(
                f"ids must lie in [0, {self.config.vocab_size}), got [{int(ids.min())}, {int(ids.max())}]"
            )
        return ids

    def _place_continuous(self, x: Tensor, continuous: Mapping[str, ContinuousInput]) -> Tensor:
        for name, item in continuous.items():
            if name not in self.project:
                raise ConfigError(f"no projection for continuous input {name!r}; the config has {sorted(self.project)}")
            if item.mask.shape != x.shape[:2]:
                raise ShapeError(f"{name!r}: mask must be [B, L] = {tuple(x.shape[:2])}, got {tuple(item.mask.shape)}")
            want = (int(item.mask.sum()), self.config.continuous[name])
            if tuple(item.values.shape) != want:
                raise ShapeError(f"{name!r}: values must be [N, D] = {want}, got {tuple(item.values.shape)}")
            projected = self.project[name](item.values.to(x.device, x.dtype))
            x = x.masked_scatter(item.mask.to(x.device)[..., None], projected)
        return x

    @staticmethod
    def _mask(attention_mask: Tensor | None, b: int, n: int, past: int, device: torch.device) -> Tensor | None:
        """Boolean [B, 1, n, past + n] mask (True = may attend), or None for a plain causal mask."""
        total = past + n
        if attention_mask is not None:
            if attention_mask.shape != (b, total):
                raise ShapeError(
                    f"attention_mask must be [B, past + L] = {(b, total)}, got {tuple(attention_mask.shape)}"
                )
            if past == 0 and bool(attention_mask.all()):
                attention_mask = None  # no padding: the plain causal path (faster kernels)
        if attention_mask is None and (past == 0 or n == 1):
            return None
        query = torch.arange(past, total, device=device)[:, None]
        key = torch.arange(total, device=device)[None]
        allowed = (key <= query)[None]  # (1, n, total)
        if attention_mask is not None:
            # a query always sees itself, so a padding query has one key and no NaN row
            allowed = allowed & (attention_mask.to(device, torch.bool)[:, None, :] | (key == query)[None])
        return allowed[:, None]
