"""Data-parallel helpers for codebook state: decided at call time, so a quantizer built before the process
group starts (as Lightning does) still synchronises once training runs on several ranks.

Every helper here is a collective: all ranks must call it, whatever their local batch holds (an empty local
batch is allowed), so no rank ever waits on a collective the others skipped.

Random draws over rows (k-means seeds, dead-code restarts) are made over the rows of all ranks in the order one process
holding the global batch would see them. That order is each rank's rows one rank after the other when each rank holds
a contiguous slice of the global batch (omnitok's samplers); a pool of several batches (an omni step's image, video and
audio tokens quantized together) is ordered segment by segment instead, which :func:`pooled_rows` declares.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

import torch
import torch.distributed as dist
from torch import Tensor

_POOL: ContextVar[tuple[int, ...] | None] = ContextVar("omnitok_pooled_rows", default=None)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum_(*tensors: Tensor) -> None:
    """Sum each tensor over all ranks in place (no-op in a single process)."""
    if is_distributed():
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)


def all_reduce_mean_(*tensors: Tensor) -> None:
    """Average each tensor over all ranks in place (no-op in a single process)."""
    if is_distributed():
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t.div_(dist.get_world_size())


def rank_offset(local_count: int, device: torch.device | str = "cpu") -> tuple[int, int]:
    """(where this rank's items start in the global order, how many items all ranks hold together).

    The global order is the ranks' items one rank after the other, which is the order of the single-process batch
    when each rank holds a contiguous slice of the global batch (as omnitok's samplers give it)."""
    if not is_distributed():
        return 0, local_count
    counts = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, torch.tensor([local_count], dtype=torch.int64, device=device))
    sizes = [int(c) for c in counts]
    return sum(sizes[: dist.get_rank()]), sum(sizes)


@contextlib.contextmanager
def pooled_rows(segment_sizes: Sequence[int]) -> Iterator[None]:
    """Within this block, the rows given to :func:`sample_rows` are one pool of segments, ``segment_sizes[s]`` rows
    each, one after the other (an omni step: the image tokens, then the video tokens, then the audio tokens), each
    segment holding this rank's contiguous slice of that segment's global rows; and the pool is one sample.

    One process holding the global batch pools segment by segment, so its row order is segment 0 of rank 0, segment 0
    of rank 1, ..., segment 1 of rank 0, ... (not rank 0's whole pool, then rank 1's): :func:`row_positions` gives
    that order, and :func:`sample_offset` puts the one pooled sample first on every rank. Draws over a pool then depend
    on the global pool, not on the number of ranks. Every rank must enter the block with its own sizes (any may be 0).
    """
    sizes = tuple(int(n) for n in segment_sizes)
    if any(n < 0 for n in sizes):
        raise ValueError(f"segment sizes must be >= 0, got {sizes}")
    token = _POOL.set(sizes)
    try:
        yield
    finally:
        _POOL.reset(token)


def row_positions(local_count: int, device: torch.device | str = "cpu") -> tuple[Tensor, int]:
    """(the global position of each of this rank's ``local_count`` rows [local_count] int64, ascending; how many rows
    all ranks hold together), in the order of one process holding the global batch: :func:`rank_offset`'s, or inside
    :func:`pooled_rows` segment by segment.

    Inside a pool, rows that are a subset of some rank's pool (neither all its rows nor none: e.g. the rows a residual
    level keeps under per-row dropout) have no segment layout to follow; they are then ordered rank by rank, the same
    decision on every rank."""
    sizes = _POOL.get()
    if sizes is None:
        offset, total = rank_offset(local_count, device)
        return torch.arange(offset, offset + local_count, device=device), total
    held = list(sizes) if local_count else [0] * len(sizes)
    mine = torch.tensor([local_count, *held], dtype=torch.int64, device=device)  # [1 + S]
    if is_distributed():
        table = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
        dist.all_gather(table, mine)
        every, rank = torch.stack(table), dist.get_rank()  # [W, 1 + S]
    else:
        every, rank = mine[None], 0
    counts, segments = every[:, 0], every[:, 1:]  # [W], [W, S]
    if not bool((counts == segments.sum(1)).all()):  # a subset of a pool somewhere: rank by rank
        offset = int(counts[:rank].sum())
        return torch.arange(offset, offset + local_count, device=device), int(counts.sum())
    totals = segments.sum(0)  # [S]
    starts = totals.cumsum(0) - totals + segments[:rank].sum(0)  # where this rank's slice of each segment starts
    parts = [torch.arange(int(start), int(start) + int(n), device=device) for start, n in zip(starts, held)]
    positions = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64, device=device)
    return positions, int(totals.sum())


def sample_offset(local_count: int, device: torch.device | str = "cpu") -> int:
    """Where this rank's ``local_count`` samples start in the global batch (:func:`rank_offset`, a collective); inside
    :func:`pooled_rows` 0 on every rank (no collective): the pool is one sample, the global batch's only one."""
    if _POOL.get() is not None:
        if local_count != 1:
            raise ValueError(f"a pool is one sample; {local_count} samples were asked for inside pooled_rows")
        return 0
    return rank_offset(local_count, device)[0]


def sample_rows(x: Tensor, n: int, generator: torch.Generator) -> Tensor | None:
    """n rows drawn at random from the rows of x [N, D] of all ranks together; None when no rank has any rows.

    The draw is made by ``generator`` over the global row order (see :func:`row_positions`), so it depends on the
    generator's state and the global batch, not on how many ranks share the batch: two ranks holding halves of a
    batch draw the rows one process holding the whole batch draws. Rows are drawn without replacement when there are
    at least n of them. Every rank must pass a generator in the same state."""
    positions, total = row_positions(x.shape[0], x.device)
    if total == 0:
        return None
    picks = torch.randperm(total, generator=generator)[:n] if total >= n else torch.randint(total, (n,), generator=generator)
    picks = picks.to(x.device)
    rows = x.new_zeros(n, x.shape[1])
    if x.shape[0]:
        local = torch.searchsorted(positions, picks).clamp_max(x.shape[0] - 1)  # where each pick would sit here
        mine = positions[local] == picks
        rows[mine] = x[local[mine]]
    all_reduce_sum_(rows)  # each row is non-zero on exactly one rank
    return rows


def global_mean(row_sum: Tensor, count: float) -> Tensor:
    """(sum of rows over all ranks) / (row count over all ranks), differentiable: each rank's gradient flows to its
    own rows, and data-parallel gradient averaging then gives the single-process gradient of the global mean."""
    total = torch.tensor(float(count), device=row_sum.device)
    if is_distributed():
        import torch.distributed.nn.functional as dist_fn

        row_sum = dist_fn.all_reduce(row_sum)
        dist.all_reduce(total)
    return row_sum / total.clamp_min(1)
