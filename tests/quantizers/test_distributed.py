"""Codebook state under data parallelism: 2 gloo processes on the CPU, each with its own data."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from omnitok.quantizers import ResidualQuantizer, VectorQuantizer

pytestmark = pytest.mark.distributed
STEPS = 4


def make_data(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(STEPS, 2, 8, 6, 6, generator=g)  # per rank: STEPS batches of [2, 8, 6, 6]


def make_quantizer(kind: str):
    torch.manual_seed(123)  # identical initial codebooks on every rank, as DDP's broadcast would give
    if kind == "ema":
        return VectorQuantizer(8, 32, decay=0.8)
    if kind == "restart_kmeans":
        return VectorQuantizer(8, 32, decay=0.8, kmeans_init=True, kmeans_iters=3, dead_code_threshold=2.0)
    return ResidualQuantizer(VectorQuantizer(8, 16, decay=0.8, dead_code_threshold=1.0), num_levels=2, dropout=0.5)


def train(quantizer, batches):
    quantizer.train()
    for batch in batches:
        quantizer(batch)
    return {k: v.clone() for k, v in quantizer.state_dict().items()}


def worker(rank: int, world: int, port: int, kind: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    quantizer = make_quantizer(kind)  # built after init, as Lightning may also build it before
    torch.manual_seed(1000 + rank)  # different random draws per rank (restarts, dropout)
    state = train(quantizer, make_data(rank))
    torch.save(state, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.barrier()  # every rank done with every collective before any tears its gloo pairs down
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_ranks(kind: str, tmp_path) -> list[dict]:
    mp.start_processes(worker, args=(2, free_port(), kind, str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_ema_codebook_equals_single_process_on_concatenated_data(tmp_path):
    ranks = run_two_ranks("ema", tmp_path)
    single = make_quantizer("ema")
    initial = single.codebook.clone()
    data = torch.cat([make_data(0), make_data(1)], dim=1)  # each step: rank 0's batch then rank 1's
    expected = train(single, data)
    assert not torch.allclose(expected["codebook"], initial)  # the EMA really moved
    for state in ranks:
        torch.testing.assert_close(state["codebook"], expected["codebook"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(state["ema_count"], expected["ema_count"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["restart_kmeans", "residual_dropout"])
def test_ranks_stay_identical_with_restarts_kmeans_and_dropout(kind, tmp_path):
    rank0, rank1 = run_two_ranks(kind, tmp_path)
    initial = make_quantizer(kind).state_dict()
    assert any(not torch.equal(rank0[k], initial[k]) for k in rank0)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
