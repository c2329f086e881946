"""A pool of several batches quantized in one call (an omni step: image tokens, then audio tokens) under data
parallelism: 2 gloo processes, each pooling its half of every segment, against one process pooling the whole
segments (segment by segment, each segment rank 0's half first, as ``omnitok.models.OmniTokenizer.forward``
pools a global batch). ``omnitok.distributed.pooled_rows`` declares the layout; k-means seeds and dead-code restarts
must draw the rows the one process draws (measured on these data: k-means at step 1, 2 codes restarted at step 3),
and residual dropout must draw one depth for the whole pool (its levels restart 9 codes over the 3 steps).

Tolerance as ``test_distributed.py`` (the same sums in another order: float32 rounding, 1e-5 relative over the
steps); a row drawn from the wrong place in the pool moves a code by O(1).
"""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from omnitok.distributed import pooled_rows
from omnitok.quantizers import ResidualQuantizer, VectorQuantizer

from .test_distributed import free_port

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)
STEPS = 3
SEGMENTS = (12, 5)  # rows per rank per step: an "image" segment, then an "audio" segment
KINDS = ("restart_kmeans", "residual_dropout")


def make_quantizer(kind: str):
    torch.manual_seed(123)
    if kind == "restart_kmeans":
        return VectorQuantizer(4, 16, decay=0.5, kmeans_init=True, kmeans_iters=2, dead_code_threshold=0.5)
    return ResidualQuantizer(VectorQuantizer(4, 8, decay=0.5, dead_code_threshold=1.0), num_levels=3, dropout=0.9)


def segments(rank: int) -> list[list[torch.Tensor]]:
    """Per step, this rank's rows of each segment [n_s, 4] (distinct values on each rank)."""
    g = torch.Generator().manual_seed(rank)
    return [[torch.randn(n, 4, generator=g) for n in SEGMENTS] for _ in range(STEPS)]


def train(quantizer, steps: list[list[torch.Tensor]]) -> dict:
    """Each step: the segments pooled into [1, 4, N] and quantized once inside ``pooled_rows``."""
    quantizer.train()
    outputs, levels = [], []
    for parts in steps:
        with pooled_rows([p.shape[0] for p in parts]):
            out = quantizer(torch.cat(parts).t().unsqueeze(0))
        outputs.append(out.quantized[0].t().detach())  # [N, 4]
        levels.append(float(out.metrics.get("mean_levels", -1)))
    return {"state": {k: v.clone() for k, v in quantizer.state_dict().items()}, "outputs": outputs, "levels": levels}


def worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = {kind: train(make_quantizer(kind), segments(rank)) for kind in KINDS}
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("pooled")
    mp.start_processes(worker, args=(2, free_port(), str(folder)), nprocs=2, join=True, start_method="spawn")
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(2)]


@pytest.mark.parametrize("kind", KINDS)
def test_two_ranks_pooling_halves_equal_one_process_pooling_the_whole_segments(kind, two_ranks):
    halves = [segments(0), segments(1)]
    whole = [[torch.cat([halves[0][t][s], halves[1][t][s]]) for s in range(len(SEGMENTS))] for t in range(STEPS)]
    single = make_quantizer(kind)
    initial = {k: v.clone() for k, v in single.state_dict().items()}
    expected = train(single, whole)
    assert any(not torch.equal(expected["state"][k], initial[k]) for k in initial if not k.endswith("draws.state"))
    if kind == "residual_dropout":  # the draws really dropped levels for the pool (one sample: one depth per step)
        assert min(expected["levels"]) < 3
    # the test tells the orders apart: the same rows pooled rank by rank (rank 0's segments, then rank 1's) draw
    # other rows, so a run that ignored the pool's layout would fail the comparison below
    rank_by_rank = train(make_quantizer(kind), [[*halves[0][t], *halves[1][t]] for t in range(STEPS)])
    moved = max(
        (rank_by_rank["state"][k] - v).abs().max().item() for k, v in expected["state"].items() if v.is_floating_point()
    )
    assert moved > 0.1, moved  # O(1), far beyond the rounding the comparison below tolerates (1e-6)
    for rank, results in enumerate(two_ranks):
        result = results[kind]
        for key, value in expected["state"].items():
            torch.testing.assert_close(result["state"][key], value, rtol=1e-5, atol=1e-6, msg=f"rank {rank}: {key}")
        for step in range(STEPS):  # this rank's rows of each segment, out of the whole pool's output
            a, b = SEGMENTS
            mine = torch.cat([expected["outputs"][step][rank * a : (rank + 1) * a],
                              expected["outputs"][step][2 * a + rank * b : 2 * a + (rank + 1) * b]])  # fmt: skip
            torch.testing.assert_close(result["outputs"][step], mine, rtol=1e-5, atol=1e-6)
