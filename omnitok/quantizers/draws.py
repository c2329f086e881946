"""Random draws of a quantizer in training (k-means seeds, dead-code restarts, residual dropout, KL noise) that depend
on a seed, on how many draws came before and on the global batch, never on the number of data-parallel ranks.

Each draw gets a fresh generator seeded from ``(seed, count)``; ``count`` is a buffer, so it is saved with the
weights, restored on resume and broadcast by DDP with the other buffers. A run on two ranks at batch B therefore
draws exactly what one process at batch 2B draws, and a resumed run what the uninterrupted run drew.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from omnitok.distributed import row_positions, sample_offset

_MASK = (1 << 63) - 1


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (SplitMix64 finaliser over their running combination)."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = (state ^ (value & _MASK)) * 0xBF58476D1CE4E5B9 & ((1 << 64) - 1)
        state = (state ^ (state >> 31)) * 0x94D049BB133111EB & ((1 << 64) - 1)
    return (state ^ (state >> 29)) & _MASK


class RandomDraws(nn.Module):
    """The draw state of one quantizer: buffer ``state`` = [seed, draws made so far].

    Args:
        seed: None takes ``torch.initial_seed()`` (what ``seed_everything`` set), so a seeded run is reproducible.
    """

    def __init__(self, seed: int | None = None):
        super().__init__()
        seed = torch.initial_seed() if seed is None else seed
        self.register_buffer("state", torch.tensor([seed & _MASK, 0], dtype=torch.int64))

    def _next_seed(self) -> int:
        seed, count = (int(v) for v in self.state.tolist())
        self.state[1] += 1
        return _mix(seed, count)

    def generator(self) -> torch.Generator:
        """A CPU generator for the next draw (identical on every rank: every rank makes the same draws)."""
        return torch.Generator().manual_seed(self._next_seed())

    def per_sample(self, local_count: int, device: torch.device | str = "cpu") -> list[torch.Generator]:
        """One CPU generator per local sample of the next draw, seeded by the sample's place in the global batch
        (a collective under data parallelism: every rank calls it, with its own ``local_count``). Inside
        :func:`omnitok.distributed.pooled_rows` the pool is one sample, the first of the global batch on every rank."""
        base = self._next_seed()
        offset = sample_offset(local_count, device)
        return [torch.Generator().manual_seed(_mix(base, offset + i)) for i in range(local_count)]

    def per_row(self, local_count: int, device: torch.device | str = "cpu") -> list[torch.Generator]:
        """One CPU generator per local row of the next draw, seeded by the row's place among the global batch's rows
        (:func:`omnitok.distributed.row_positions`; a collective under data parallelism). The same generators as
        :meth:`per_sample` when each row is a sample, and inside :func:`omnitok.distributed.pooled_rows` the rows in
        the pool's order."""
        base = self._next_seed()
        positions, _ = row_positions(local_count, device)
        return [torch.Generator().manual_seed(_mix(base, position)) for position in positions.tolist()]

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # weights saved before quantizers had a draw state load with a fresh one
        state_dict.setdefault(prefix + "state", self.state.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
