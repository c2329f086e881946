"""Codebook statistics: per-batch figures for logging and a running histogram over many batches.

Everything rests on one ``bincount`` per level, so it is cheap enough to run every training step.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from omnitok.distributed import all_reduce_sum_


def _level_columns(indices: Tensor, num_levels: int) -> list[Tensor]:
    if num_levels == 1:
        return [indices.reshape(-1)]
    flat = indices.reshape(-1, indices.shape[-1])
    return [flat[:, q] for q in range(flat.shape[1])]


_BINCOUNT_MAX = 2**20


def _figures(counts: Tensor, size: int | None = None) -> dict[str, Tensor]:
    """Figures from a code histogram; ``counts`` may list used codes only when ``size`` gives the codebook size."""
    size = counts.numel() if size is None else size
    total = counts.sum().clamp_min(1)
    probs = counts / total
    entropy = -(probs * torch.log2(probs.clamp_min(1e-30))).sum()
    used = (counts > 0).sum().float()
    return {
        "usage": used / size,
        "perplexity": torch.exp2(entropy),
        "entropy_bits": entropy,
        "dead_codes": size - used,
    }


@torch.no_grad()
def batch_code_metrics(indices: Tensor, codebook_sizes: Sequence[int]) -> dict[str, Tensor]:
    """Usage and perplexity of one batch of indices [..] or [.., Q]; per level when there are several."""
    levels = _level_columns(indices.detach(), len(codebook_sizes))
    metrics: dict[str, Tensor] = {}
    for q, (column, size) in enumerate(zip(levels, codebook_sizes)):
        if size <= _BINCOUNT_MAX:
            figures = _figures(torch.bincount(column, minlength=size).float())
        else:  # huge implicit codebooks (LFQ 2^24...): histogram of the used codes only
            figures = _figures(torch.unique(column, return_counts=True)[1].float(), size)
        prefix = f"level{q}/" if len(codebook_sizes) > 1 else ""
        metrics[f"{prefix}perplexity"] = figures["perplexity"]
        metrics[f"{prefix}batch_usage"] = figures["usage"]
    return metrics


class CodebookStats:
    """Accumulates code histograms over many batches: usage, dead codes, perplexity and entropy per level.

    Example::

        stats = CodebookStats(quantizer.codebook_sizes)
        for batch in loader:
            stats.update(quantizer.encode(encoder(batch)))
        stats.compute()  # {"usage": ..., "dead_codes": ..., "level0/perplexity": ...}
    """

    def __init__(self, codebook_sizes: Sequence[int]):
        if not codebook_sizes:
            raise ValueError("CodebookStats needs at least one codebook size (continuous quantizers have none)")
        if max(codebook_sizes) > 2**26:
            raise ValueError(
                f"CodebookStats keeps a dense histogram; codebooks above 2^26 codes are not supported, got {max(codebook_sizes)}"
            )
        self.codebook_sizes = tuple(int(s) for s in codebook_sizes)
        self.reset()

    def reset(self) -> None:
        self.counts = [torch.zeros(size, dtype=torch.long) for size in self.codebook_sizes]

    @torch.no_grad()
    def update(self, indices: Tensor) -> None:
        """Add a batch of indices [B, *grid] or [B, *grid, q] (q <= levels, for a residual bitrate subset).

        The histograms live on the device of the indices, so updating never copies tokens to the host.
        """
        for q, column in enumerate(_level_columns(indices, len(self.codebook_sizes))):
            if self.counts[q].device != column.device:
                self.counts[q] = self.counts[q].to(column.device)
            self.counts[q] += torch.bincount(column, minlength=self.codebook_sizes[q])

    def to(self, device: torch.device | str) -> CodebookStats:
        """Move the histograms to ``device`` (a rank that scored no batch still reduces on the device the others use)."""
        self.counts = [c.to(device) for c in self.counts]
        return self

    def sync(self) -> None:
        """Sum the histograms over data-parallel ranks, once, right before ``compute`` (no-op in one process)."""
        all_reduce_sum_(*self.counts)

    def compute(self) -> dict[str, float]:
        """Figures per level (prefixed ``levelQ/`` when there are several) plus their means across levels."""
        out: dict[str, float] = {}
        per_level = [_figures(c.double()) for c in self.counts]
        multi = len(per_level) > 1
        for q, figures in enumerate(per_level):
            for name, value in figures.items():
                out[f"level{q}/{name}" if multi else name] = float(value)
        if multi:
            for name in per_level[0]:
                out[name] = float(sum(float(f[name]) for f in per_level) / len(per_level))
        out["tokens"] = float(self.counts[0].sum().item())
        out["max_entropy_bits"] = float(sum(math.log2(s) for s in self.codebook_sizes) / len(self.codebook_sizes))
        return out


@dataclasses.dataclass(frozen=True)
class SharedCodebookStats:
    """How several modalities use one shared codebook (one level of it), from :func:`shared_codebook_stats`.

    Attributes:
        codebook_size: K, the codes of the shared codebook.
        modalities: the modalities counted, in the order given.
        tokens: modality -> tokens counted.
        used: modality -> codes it used at least once.
        usage: modality -> ``used / K``.
        perplexity: modality -> 2^(entropy in bits of its code histogram), as :class:`CodebookStats` reports it.
        used_all, usage_all, perplexity_all: the same over all modalities' tokens pooled.
        used_by: k -> codes used by exactly k of the modalities (k = 1 .. len(modalities)).
        used_by_exactly: the set of modalities (a tuple in ``modalities`` order) -> codes used by exactly those
            modalities and no other; every non-empty set is listed, zeros included.
        unused: codes no modality used.
    """

    codebook_size: int
    modalities: tuple[str, ...]
    tokens: dict[str, int]
    used: dict[str, int]
    usage: dict[str, float]
    perplexity: dict[str, float]
    used_all: int
    usage_all: float
    perplexity_all: float
    used_by: dict[int, int]
    used_by_exactly: dict[tuple[str, ...], int]
    unused: int

    def to_dict(self) -> dict[str, float]:
        """Flat figures for ``metrics.json`` and loggers: ``{m}/codebook_usage``, ``{m}/perplexity``,
        ``{m}/codes_used``, ``{m}/tokens`` per modality; ``all/...`` pooled; ``overlap/used_by_{k}``,
        ``overlap/only/{a+b}`` (codes used by exactly those modalities) and ``overlap/unused``."""
        out: dict[str, float] = {}
        for m in self.modalities:
            out[f"{m}/codebook_usage"] = self.usage[m]
            out[f"{m}/perplexity"] = self.perplexity[m]
            out[f"{m}/codes_used"] = float(self.used[m])
            out[f"{m}/tokens"] = float(self.tokens[m])
        out["all/codebook_usage"] = self.usage_all
        out["all/perplexity"] = self.perplexity_all
        out["all/codes_used"] = float(self.used_all)
        for k, count in self.used_by.items():
            out[f"overlap/used_by_{k}"] = float(count)
        for group, count in self.used_by_exactly.items():
            out[f"overlap/only/{'+'.join(group)}"] = float(count)
        out["overlap/unused"] = float(self.unused)
        return out


@torch.no_grad()
def shared_codebook_stats(
    codes: Mapping[str, Tensor | CodebookStats], codebook_size: int | None = None, level: int = 0
) -> SharedCodebookStats:
    """Per-modality usage and perplexity of one shared codebook, and how the modalities' code sets overlap.

    Args:
        codes: modality -> its indices into the shared codebook (an integer tensor of any shape, every entry one
            token of this codebook: pass ``indices[..., q]`` for level q of a residual tokenizer) or a
            :class:`CodebookStats` accumulated over its tokens (its level ``level`` is read).
        codebook_size: K; may be left out when a ``CodebookStats`` is given (it knows its sizes).
        level: the level of each ``CodebookStats`` to read.

    Raises:
        ValueError: no modalities, an unknown codebook size, sizes that disagree, float indices or indices outside
            [0, K).
    """
    if not codes:
        raise ValueError("shared_codebook_stats needs at least one modality's codes")
    sizes = {s.codebook_sizes[level] for s in codes.values() if isinstance(s, CodebookStats)}
    if codebook_size is not None:
        sizes.add(int(codebook_size))
    if len(sizes) != 1:
        raise ValueError(
            "give codebook_size (or CodebookStats)" if not sizes else f"the codebook sizes disagree: {sorted(sizes)}"
        )
    size = sizes.pop()
    counts: dict[str, Tensor] = {}
    for name, value in codes.items():
        if isinstance(value, CodebookStats):
            counts[name] = value.counts[level].detach().cpu().double()
            continue
        integer = isinstance(value, Tensor) and not (value.is_floating_point() or value.is_complex())
        if not integer or value.dtype == torch.bool:
            raise ValueError(f"{name}: codes must be an integer tensor, got {getattr(value, 'dtype', value)}")
        flat = value.detach().reshape(-1).long().cpu()
        if flat.numel() and (flat.min() < 0 or flat.max() >= size):
            raise ValueError(f"{name}: indices must lie in [0, {size}), got [{int(flat.min())}, {int(flat.max())}]")
        counts[name] = torch.bincount(flat, minlength=size).double()
    names = tuple(counts)
    figures = {name: _figures(c) for name, c in counts.items()}
    pooled = _figures(torch.stack(list(counts.values())).sum(0))
    present = torch.stack([counts[n] > 0 for n in names])  # (M, K) bool
    how_many = present.sum(0)  # (K,) modalities using each code
    membership = (present.long() * (2 ** torch.arange(len(names)))[:, None]).sum(0)  # (K,) bit set of users
    exactly = {}
    for size_of_set in range(1, len(names) + 1):  # singles first, then pairs, ..., each in ``names`` order
        for group in itertools.combinations(range(len(names)), size_of_set):
            bits = sum(1 << i for i in group)
            exactly[tuple(names[i] for i in group)] = int((membership == bits).sum())
    return SharedCodebookStats(
        codebook_size=size,
        modalities=names,
        tokens={n: int(counts[n].sum()) for n in names},
        used={n: int((counts[n] > 0).sum()) for n in names},
        usage={n: float(figures[n]["usage"]) for n in names},
        perplexity={n: float(figures[n]["perplexity"]) for n in names},
        used_all=int((how_many > 0).sum()),
        usage_all=float(pooled["usage"]),
        perplexity_all=float(pooled["perplexity"]),
        used_by={k: int((how_many == k).sum()) for k in range(1, len(names) + 1)},
        used_by_exactly=exactly,
        unused=int((how_many == 0).sum()),
    )
