"""Data-parallel helpers for codebook state: decided at call time, so a quantizer built before the process
group starts (as Lightning does) still synchronises once training runs on several ranks."""

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


def sample_rows(x: Tensor, n: int) -> Tensor:
    """n rows of x [N, D], drawn at random but identical on every rank (row j comes from rank j mod world)."""
    if x.shape[0] == 0:
        raise ValueError("cannot sample rows from an empty batch")
    if x.shape[0] >= n:
        local = x[torch.randperm(x.shape[0], device=x.device)[:n]]
    else:
        local = x[torch.randint(x.shape[0], (n,), device=x.device)]
    if not is_distributed():
        return local
    world = dist.get_world_size()
    gathered = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(gathered, local.contiguous())
    stacked = torch.stack(gathered)  # (world, n, D)
    rows = torch.arange(n, device=x.device)
    return stacked[rows % world, rows]
