"""Codebook statistics: per-batch figures for logging and a running histogram over many batches.

Everything rests on one ``bincount`` per level, so it is cheap enough to run every training step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
            raise ValueError(f"CodebookStats keeps a dense histogram; codebooks above 2^26 codes are not supported, got {max(codebook_sizes)}")
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
