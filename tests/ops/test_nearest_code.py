"""nearest_code: Triton kernel (interpreted on CPU), chunked torch path and reference against brute force."""

import subprocess
import sys

import pytest
import torch

from omnitok.errors import DTypeError, ShapeError
from omnitok.ops import nearest_code
from omnitok.ops.nearest_code import code_distance
from tests.ops.draws import clear_winners, device_for, fresh_generator

SHAPES = [(1, 1, 1), (37, 13, 5), (70, 300, 33), (129, 257, 200)]  # N, K, D: odd, K off the tile, D over a tile
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("n,k,d", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_backends_agree_with_brute_force_except_at_near_ties(metric, n, k, d, dtype):
    gen, seed = fresh_generator()
    x = torch.randn(n, d, generator=gen).to(dtype)
    codebook = torch.randn(k, d, generator=gen).to(dtype)
    best, clear = clear_winners(x, codebook, metric)
    results = {}
    for b in ("triton", "torch", "reference"):
        dev = device_for(b)
        r = nearest_code(x.to(dev), codebook.to(dev), metric=metric, backend=b)
        results[b] = type(r)(r.indices.cpu(), r.distance.cpu())
    for backend, r in results.items():
        assert r.indices.dtype == torch.int64 and r.distance.dtype == torch.float32, backend
        assert torch.equal(r.indices[clear], best[clear]), f"{backend} (seed {seed})"
        same = r.indices == results["reference"].indices
        torch.testing.assert_close(r.distance[same], results["reference"].distance[same], rtol=1e-6, atol=0)
    assert clear.float().mean() > 0.9, f"too many near-ties to test anything (seed {seed})"


def test_chunked_torch_path_tiles_rows_and_codes():
    gen, seed = fresh_generator()
    x, codebook = torch.randn(301, 9, generator=gen), torch.randn(1000, 9, generator=gen)
    best, clear = clear_winners(x, codebook, "l2")
    chunked = nearest_code(x, codebook, backend="torch", chunk_rows=7)  # 7 rows x all 1000 codes per tile
    assert torch.equal(chunked.indices[clear], best[clear]), f"seed {seed}"
    import omnitok.ops.nearest_code as module  # noqa: F401  (the submodule, not the function)

    ops = sys.modules["omnitok.ops.nearest_code"]
    ragged = nearest_code(x, codebook, backend="torch", chunk_rows=ops._SCORE_ELEMENTS // 6)  # 6 codes a tile, then 4
    assert torch.equal(ragged.indices[clear], best[clear]), f"seed {seed}"
    for k in (1000, 2**18):  # the score tile does not grow with K
        tiles = ops._tile_sizes(10**6, k, None)
        assert tiles[0] * tiles[1] <= ops._SCORE_ELEMENTS and tiles[0] >= ops._MIN_TILE_ROWS


def _integer_draw(n: int, k: int, d: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Small-integer x and codebook: every score is exact in float32 whatever the summation order, so ties are
    real ties (many of them) and the lowest-index rule decides them."""
    gen, seed = fresh_generator()
    x = torch.randint(-3, 4, (n, d), generator=gen).float()
    return x, torch.randint(-3, 4, (k, d), generator=gen).float(), seed


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_exact_ties_go_to_the_lowest_index_in_every_backend(dtype):
    x, codebook, seed = _integer_draw(97, 300, 3)
    expected = (torch.cdist(x.double(), codebook.double()) ** 2).argmin(1)  # argmin returns the first minimum
    for backend in ("triton", "torch", "reference"):
        xs, cs = x.to(device_for(backend), dtype), codebook.to(device_for(backend), dtype)
        got = nearest_code(xs, cs, backend=backend, chunk_rows=5)
        assert torch.equal(got.indices.cpu(), expected), f"{backend} (seed {seed})"


def test_kernel_splits_of_the_codebook_merge_with_the_lowest_index():
    from omnitok.ops.triton_nearest_code import nearest_code_indices

    x, codebook, seed = _integer_draw(50, 1000, 4)
    codebook[700] = codebook[3]  # the same code in the first and the second split
    x[0] = codebook[3]
    expected = (torch.cdist(x.double(), codebook.double()) ** 2).argmin(1)
    bias, scale = (codebook * codebook).sum(1), torch.full((1000,), -2.0)
    dev = device_for("triton")
    indices = nearest_code_indices(x.to(dev), codebook.to(dev), bias.to(dev), scale.to(dev), splits=3).cpu()
    assert indices[0] == 3 and torch.equal(indices, expected), f"seed {seed}"


@pytest.mark.parametrize("backend", ["torch", pytest.param("triton", marks=pytest.mark.slow)])  # ~10 s interpreted
def test_two_hundred_sixty_two_thousand_codes(backend):
    gen, seed = fresh_generator()
    x, codebook = torch.randn(3, 4, generator=gen), torch.randn(2**18, 4, generator=gen)
    best, clear = clear_winners(x, codebook, "l2")
    indices = nearest_code(x.to(device_for(backend)), codebook.to(device_for(backend)), backend=backend).indices
    assert torch.equal(indices.cpu()[clear], best[clear]), f"{backend} (seed {seed})"


@pytest.mark.parametrize("backend", ["triton", "torch", "reference"])
def test_ties_go_to_the_lowest_index(backend):
    far = torch.arange(300.0) + 10
    codebook = torch.stack([far, -far], 1)  # far codes, pointing away from every query
    codebook[[5, 150, 299]] = torch.tensor([1.0, 0.0])  # duplicates in different kernel and torch tiles
    codebook[[7, 200]] = torch.tensor([0.0, 1.0])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [2.0, 2.0]])
    x, codebook = x.to(device_for(backend)), codebook.to(device_for(backend))
    for metric in ("l2", "cosine"):
        got = nearest_code(x, codebook, metric=metric, backend=backend, chunk_rows=2 if backend == "torch" else None)
        assert got.indices.tolist() == [5, 7, 5, 5], (metric, got.indices.tolist())


def test_distance_is_the_squared_distance_or_one_minus_cosine():
    x, codebook = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 0.0], [6.0, 8.0]])
    assert nearest_code(x, codebook).distance.tolist() == [25.0]
    cos = nearest_code(x, torch.tensor([[0.0, 1.0], [-1.0, 0.0]]), metric="cosine")
    assert cos.indices.tolist() == [0] and cos.distance.item() == pytest.approx(0.2)
    assert code_distance(x, codebook, torch.tensor([1]), "l2").item() == 25.0


def test_fast_tf32_mode_and_empty_input_run():
    x, codebook = torch.randn(5, 8, device=device_for("triton")), torch.randn(20, 8, device=device_for("triton"))
    assert nearest_code(x, codebook, backend="triton", fp32_precision="tf32").indices.shape == (5,)
    empty = nearest_code(x[:0], codebook, backend="triton")
    assert empty.indices.shape == (0,) and empty.distance.shape == (0,)


def test_bad_inputs_are_named():
    with pytest.raises(ShapeError, match=r"x \[N, D\] and codebook \[K, D\]"):
        nearest_code(torch.randn(4, 3), torch.randn(5, 4))
    with pytest.raises(ShapeError, match="non-empty codebook"):
        nearest_code(torch.randn(4, 3), torch.randn(0, 3))
    with pytest.raises(DTypeError, match="floating-point"):
        nearest_code(torch.ones(4, 3, dtype=torch.long), torch.randn(5, 3))
    with pytest.raises(ValueError, match="metric"):
        nearest_code(torch.randn(4, 3), torch.randn(5, 3), metric="dot")
    with pytest.raises(ValueError, match="backend"):
        nearest_code(torch.randn(4, 3), torch.randn(5, 3), backend="cuda")


def test_triton_on_cpu_without_the_interpreter_says_how_to_enable_it(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        nearest_code(torch.randn(4, 3), torch.randn(5, 3), backend="triton")


def test_cpu_default_never_imports_triton():
    code = (
        "import sys, torch; from omnitok.ops import nearest_code, fsq_quantize, lfq_quantize, lfq_entropy_terms\n"
        "x = torch.randn(10, 6); nearest_code(x, torch.randn(7, 6)); fsq_quantize(x, [3] * 6)\n"
        "lfq_quantize(x); lfq_entropy_terms(x, group_bits=3)\n"
        "print('triton' in sys.modules)"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
