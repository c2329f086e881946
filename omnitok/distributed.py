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


def sample_rows(x: Tensor, n: int) -> Tensor | None:
    """n rows of x [N, D] drawn at random, identical on every rank; None when no rank has any rows.

    Row j comes from the j-th rank (cyclically) among those with a non-empty local batch.
    """
    has_rows = x.shape[0] > 0
    if has_rows:
        pick = torch.randperm(x.shape[0], device=x.device)[:n] if x.shape[0] >= n else torch.randint(x.shape[0], (n,), device=x.device)
        local = x[pick]
    else:
        local = x.new_zeros(n, x.shape[1])
    if not is_distributed():
        return local if has_rows else None
    world = dist.get_world_size()
    flags = torch.tensor([float(has_rows)], device=x.device)
    gathered_flags = [torch.empty_like(flags) for _ in range(world)]
    dist.all_gather(gathered_flags, flags)
    gathered = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(gathered, local.contiguous())
    sources = torch.cat(gathered_flags).nonzero().flatten()
    if sources.numel() == 0:
        return None
    rows = torch.arange(n, device=x.device)
    return torch.stack(gathered)[sources[rows % sources.numel()], rows]  # (n, D)
