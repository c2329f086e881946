"""Evaluation split across data-parallel ranks by whole batches, gathered in order.

Every rank walks the same evaluation loader; rank ``r`` scores batches ``r, r + W, r + 2W, ...``. Each sample is
scored once, by a forward over exactly the batch one process would have run, and the per-batch results are
gathered back in batch order, so every figure equals the single-process figure bit for bit whatever the number of
ranks (the loader's batches are the same on every rank because validation data is not sharded by a sampler).
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def rank_and_world(trainer: Any) -> tuple[int, int]:
    """(this rank, number of ranks); (0, 1) without a trainer or outside data parallelism."""
    if trainer is None:
        return 0, 1
    return int(trainer.global_rank), int(trainer.world_size)


def is_mine(batch_index: int, trainer: Any) -> bool:
    """Whether this rank scores the evaluation batch ``batch_index``."""
    rank, world = rank_and_world(trainer)
    return batch_index % world == rank


def gather_in_order(results: dict[int, Any], trainer: Any, everywhere: bool = True) -> list[Any] | None:
    """Every rank's ``{batch index: result}`` (CPU objects) merged as a list in batch order: on every rank, or with
    ``everywhere=False`` on rank 0 only (the others get None, and hold nothing of the others' results).

    A collective under data parallelism: every rank calls it, also with no results of its own."""
    rank, world = rank_and_world(trainer)
    if world == 1 or not (dist.is_available() and dist.is_initialized()):
        return [results[k] for k in sorted(results)]
    gathered: list[dict[int, Any] | None] = [None] * world
    if everywhere:
        dist.all_gather_object(gathered, results)
    else:
        dist.gather_object(results, gathered if rank == 0 else None, dst=0)
        if rank != 0:
            return None
    merged = {k: v for part in gathered for k, v in (part or {}).items()}
    return [merged[k] for k in sorted(merged)]


def broadcast_flag(flag: bool, trainer: Any) -> bool:
    """Rank 0's ``flag`` on every rank (so every rank takes the branch rank 0 decided, e.g. on a file it sees)."""
    _, world = rank_and_world(trainer)
    if world == 1:
        return flag
    return bool(trainer.strategy.broadcast(flag, src=0))
