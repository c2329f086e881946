"""A rank whose local batch has no active rows must still join every collective (no deadlock, same state)."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from omnitok.quantizers import LookupFreeQuantizer, VectorQuantizer

from .test_distributed import free_port

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)


def worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=__import__("datetime").timedelta(seconds=60))
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 16, dead_code_threshold=5.0).train()
    lfq = LookupFreeQuantizer(4, 4).train()
    torch.manual_seed(10 + rank)
    x = torch.randn(32, 4)
    active = torch.full((32,), rank == 0)  # rank 1 has no active rows (e.g. all its samples dropped this level)
    for _ in range(2):
        vq.quantize_flat(x, active=active)
        lfq.quantize_flat(x, active=active)
    torch.save(vq.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    dist.barrier()  # every rank done with every collective before any tears its gloo pairs down
    dist.destroy_process_group()


def test_empty_rank_joins_collectives(tmp_path):
    mp.start_processes(worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
