"""Data-parallel helpers for codebook state: decided at call time, so a quantizer built before the process
group starts (as Lightning does) still synchronises once training runs on several ranks.

Every helper here is a collective: all ranks must call it, whatever their local batch holds (an empty local
batch is allowed), so no rank ever waits on a collective the others skipped.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


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


def sample_rows(x: Tensor, n: int, generator: torch.Generator) -> Tensor | None:
    """n rows drawn at random from the rows of x [N, D] of all ranks together; None when no rank has any rows.

    The draw is made by ``generator`` over the global row order (see :func:`rank_offset`), so it depends on the
    generator's state and the global batch, not on how many ranks share the batch: two ranks holding halves of a
    batch draw the rows one process holding the whole batch draws. Rows are drawn without replacement when there are
    at least n of them. Every rank must pass a generator in the same state."""
    offset, total = rank_offset(x.shape[0], x.device)
    if total == 0:
        return None
    picks = torch.randperm(total, generator=generator)[:n] if total >= n else torch.randint(total, (n,), generator=generator)
    picks = picks.to(x.device)
    mine = (picks >= offset) & (picks < offset + x.shape[0])
    rows = x.new_zeros(n, x.shape[1])
    rows[mine] = x[picks[mine] - offset]
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
