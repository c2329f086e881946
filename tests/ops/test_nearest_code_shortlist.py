"""The bf16 shortlist search behind nearest_code's CPU torch path: the exactly nearest code (float64 brute force over
the float32 values, lowest index on ties) on random, near-tied, duplicated, badly scaled and non-finite inputs, its
error bound entry by entry, the fallback rows, and tiles of bounded size."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F

import omnitok.ops.nearest_code_shortlist as shortlist
from omnitok.ops import nearest_code
from omnitok.ops.nearest_code import _chunked_indices
from omnitok.ops.nearest_code_shortlist import shortlist_indices
from tests.ops.draws import clear_winners, fresh_generator

METRICS = ["l2", "cosine", "inner"]
dispatch = importlib.import_module("omnitok.ops.nearest_code")  # the module (omnitok.ops.nearest_code is the function)


def exact_nearest(x: torch.Tensor, codebook: torch.Tensor, metric: str) -> torch.Tensor:
    """Float64 brute force over the float32 values (x rows normalized in float32 for cosine, as every path does):
    the first minimum of ((x - c)^2).sum for l2, of -x.c otherwise."""
    x, codes = x.float(), codebook.float()
    if metric == "cosine":
        x, codes = F.normalize(x, dim=1), F.normalize(codes, dim=1)
    x, codes = x.double(), codes.double()
    out = []
    for rows in x.split(64):
        if metric == "l2":
            dist = ((rows[:, None, :] - codes[None]) ** 2).sum(-1)  # (64, K)
        else:
            dist = -(rows[:, None, :] * codes[None]).sum(-1)
        out.append(dist.argmin(1))  # the first minimum
    return torch.cat(out)


@pytest.mark.parametrize("metric", METRICS)
def test_random_draws_take_the_shortlist_path_and_find_the_exact_nearest(metric, monkeypatch):
    gen, seed = fresh_generator()
    x, codebook = torch.randn(1500, 48, generator=gen), torch.randn(700, 48, generator=gen)
    monkeypatch.setattr(dispatch, "_SHORTLIST_MIN_WORK", 10**6)
    monkeypatch.setattr(dispatch, "_SHORTLIST_MIN_CODES", 500)
    monkeypatch.setattr(dispatch, "bf16_matmul_is_fast", lambda: True)  # the path runs on any CPU, slower
    calls = []  # what nearest_code's shortlist call returned: proof it took that path
    monkeypatch.setattr(shortlist, "shortlist_indices", lambda *a: calls.append(shortlist_indices(*a)) or calls[-1])
    got = nearest_code(x, codebook, metric=metric, chunk_rows=400)  # 4 chunks, the last ragged
    assert len(calls) == 1 and torch.equal(calls[0].indices, got.indices)
    assert torch.equal(got.indices, exact_nearest(x, codebook, metric)), f"seed {seed}"
    fp32 = _chunked_indices(x, codebook, metric, None)
    _, clear = clear_winners(x, codebook, metric)
    assert torch.equal(got.indices[clear], fp32[clear]), f"seed {seed}"
    result = calls[0]
    assert not result.fallback.any() and 0 < result.reranked < x.shape[0], result.reranked


@pytest.mark.parametrize("metric", METRICS)
def test_near_ties_below_bf16_resolution_and_duplicates_get_the_float32_answer(metric):
    """Clusters of codes 1e-2 apart around the queries: bf16 scores cannot order them (their error is ~0.1 here),
    float32 can (~1e-5); and exact duplicates. The re-rank must find the exact answer, the float32 path's one
    wherever float32 itself is clear, and give duplicates to the lowest index."""
    gen, seed = fresh_generator()
    base = torch.randn(6, 32, generator=gen)
    near = base.repeat_interleave(5, 0) + 1e-2 * torch.randn(30, 32, generator=gen)  # 6 clusters of 5 near-ties
    far = 0.5 * torch.randn(300, 32, generator=gen)
    codebook = torch.cat([far[:100], near, far[100:]])
    codebook[[250, 300]] = codebook[[100, 131]]  # duplicates, behind their originals
    x = base.repeat(40, 1) + 1e-2 * torch.randn(240, 32, generator=gen)
    x[:4] = codebook[[100, 131, 250, 300]]  # queries sitting exactly on duplicated codes
    result = shortlist_indices(x, codebook, metric)
    assert torch.equal(result.indices, exact_nearest(x, codebook, metric)), f"seed {seed}"
    if metric == "l2":
        assert result.indices[:4].tolist() == [100, 131, 100, 131]
    _, clear = clear_winners(x, codebook, metric)
    fp32 = _chunked_indices(x, codebook, metric, None)
    assert torch.equal(result.indices[clear], fp32[clear]) and clear.float().mean() > 0.6, f"seed {seed}"
    assert result.reranked >= 200 and not result.fallback.any(), "the near-ties never reached the exact re-rank"


def test_exact_ties_of_small_integers_go_to_the_lowest_index_as_in_the_float32_path():
    """Small integers: every l2 / inner score is exact in float32 and float64, so ties are real ties (many: 343
    points for 300 codes) and both paths must pick the lowest index. (Cosine ties between parallel integer codes are
    broken by float32 normalization, differently in each path: cosine is checked on clear winners only.)"""
    gen, seed = fresh_generator()
    x = torch.randint(-3, 4, (400, 3), generator=gen).float()
    codebook = torch.randint(-3, 4, (300, 3), generator=gen).float()
    for metric in METRICS:
        got = shortlist_indices(x, codebook, metric)
        assert torch.equal(got.indices, exact_nearest(x, codebook, metric)), f"{metric} (seed {seed})"
        fp32 = _chunked_indices(x, codebook, metric, None)
        clear = clear_winners(x, codebook, metric)[1] if metric == "cosine" else torch.ones(400, dtype=torch.bool)
        assert torch.equal(got.indices[clear], fp32[clear]), f"{metric} (seed {seed})"


@pytest.mark.parametrize("metric", METRICS)
def test_wildly_different_norms_and_a_shared_offset(metric):
    gen, seed = fresh_generator()
    scale = 10 ** torch.empty(900, 1).uniform_(-3, 3, generator=gen)
    codebook = torch.randn(900, 24, generator=gen) * scale
    x = torch.randn(800, 24, generator=gen) * 10 ** torch.empty(800, 1).uniform_(-3, 3, generator=gen)
    x[:300] = codebook[:300] * (1 + 1e-3 * torch.randn(300, 24, generator=gen))  # close to a code of their scale
    for offset in (0.0, 50.0):  # 50: codes and queries far from the origin (the mean shift)
        xs, cs = x + offset, codebook + offset
        got = shortlist_indices(xs, cs, metric)
        settled = ~got.fallback  # the bound takes the largest code norm: small codes crowd, the float32 path decides
        assert torch.equal(got.indices[settled], exact_nearest(xs, cs, metric)[settled]), f"{offset} seed {seed}"
        fp32 = _chunked_indices(xs[got.fallback], cs, metric, None)
        assert torch.equal(got.indices[got.fallback], fp32), f"{offset} seed {seed}"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64], ids=str)
def test_half_and_double_inputs_are_searched_on_their_float32_values(dtype):
    gen, seed = fresh_generator()
    x, codebook = torch.randn(600, 40, generator=gen).to(dtype), torch.randn(500, 40, generator=gen).to(dtype)
    for metric in METRICS:
        got = shortlist_indices(x, codebook, metric)
        assert torch.equal(got.indices, exact_nearest(x, codebook, metric)), f"{metric} (seed {seed})"


def test_crowded_and_non_finite_rows_fall_back_to_the_float32_path():
    gen, seed = fresh_generator()
    base = torch.randn(1, 16, generator=gen)
    codebook = torch.cat([base + 1e-5 * torch.randn(40, 16, generator=gen), 0.5 * torch.randn(200, 16, generator=gen)])
    x = torch.cat([base.repeat(8, 1), torch.randn(50, 16, generator=gen)])  # 8 rows with 40 near-tied codes
    x[10, 3], x[11, 5], x[12] = float("nan"), float("inf"), 0.0
    for metric in METRICS:
        got = shortlist_indices(x, codebook, metric)
        assert got.fallback[:8].all() and got.fallback[10:12].all(), f"{metric}: {got.fallback.nonzero().tolist()}"
        fp32 = _chunked_indices(x[got.fallback], codebook, metric, None)
        assert torch.equal(got.indices[got.fallback], fp32), f"{metric} (seed {seed})"  # as the float32 path decides
        settled = ~got.fallback
        assert torch.equal(got.indices[settled], exact_nearest(x[settled], codebook, metric)), f"seed {seed}"
    codebook[7, 0] = float("nan")  # a NaN code: every row falls back
    got = shortlist_indices(x, codebook, "l2")
    assert got.fallback.all() and torch.equal(got.indices, _chunked_indices(x, codebook, "l2", None))


def test_zero_rows_zero_codes_and_tiny_codebooks():
    gen, seed = fresh_generator()
    x = torch.randn(70, 9, generator=gen)
    x[:5] = 0
    for k in (1, 3, 63, 64, 65, 130):  # K under, at and over one block of 64 codes
        codebook = torch.randn(k, 9, generator=gen)
        codebook[0] = 0
        for metric in ("l2", "inner"):
            got = shortlist_indices(x, codebook, metric).indices
            assert torch.equal(got, exact_nearest(x, codebook, metric)), f"K={k} {metric} (seed {seed})"


def test_many_code_tiles_row_chunks_and_re_rank_batches(monkeypatch):
    """Small budgets: 16 rows x 64-code tiles (candidates of early tiles are pruned and merged), re-rank batches of
    a few pairs flushed every few chunks."""
    monkeypatch.setattr(shortlist, "_SCORE_ELEMENTS", 2**10)
    monkeypatch.setattr(shortlist, "_RERANK_ELEMENTS", 2**8)
    gen, seed = fresh_generator()
    x, codebook = torch.randn(300, 12, generator=gen), torch.randn(1000, 12, generator=gen)
    codebook[[10, 500, 990]] = codebook[700].clone()  # duplicates in different tiles
    x[:3] = codebook[700]
    for metric in METRICS:
        got = shortlist_indices(x, codebook, metric, chunk_rows=16)
        assert torch.equal(got.indices, exact_nearest(x, codebook, metric)), f"{metric} (seed {seed})"
        if metric == "l2":
            assert got.indices[:3].tolist() == [10, 10, 10], f"seed {seed}"


def test_the_score_tile_never_grows_with_n_or_k():
    for k in (64, 1000, 8192, 2**18, 2**22):
        for d in (8, 256, 4096):
            k_padded = -(-k // shortlist._GROUP) * shortlist._GROUP
            rows, codes = shortlist._tile_sizes(k_padded, d, None)
            assert rows * codes <= shortlist._SCORE_ELEMENTS and codes % shortlist._GROUP == 0, (k, d)
            assert rows * (d + 2) <= max(shortlist._SCORE_ELEMENTS, shortlist._MIN_TILE_ROWS * (d + 2)), (k, d)
    assert shortlist._tile_sizes(8192, 256, None) == (2048, 8192)  # the benchmark case: rows only, 32 MiB of bf16


@pytest.mark.parametrize("case", ["gaussian", "offset", "large", "tiny", "bf16"])
def test_every_bf16_score_is_within_the_bound_of_the_exact_score(case):
    """|t - s| <= A and |bf16 score - s| <= A + rho |bf16 score| for every (row, code), s in float64 from the float32
    values; t is the float32 sum of the same bf16 factors (a matmul in float32: products of bf16 numbers are exact)."""
    gen, seed = fresh_generator()
    scale, offset = {"gaussian": (1, 0), "offset": (1, 20), "large": (1e4, 0), "tiny": (1e-5, 0), "bf16": (1, 0)}[case]
    x = torch.randn(300, 256, generator=gen) * scale + offset
    codebook = torch.randn(1000, 256, generator=gen) * scale * torch.rand(1000, 1, generator=gen) + offset
    if case == "bf16":
        x, codebook = x.bfloat16().float(), codebook.bfloat16().float()
    prepared = shortlist._prepare(codebook, "l2", 1024, exact_bf16=case == "bf16")
    shifted = bool(prepared.shift.any())
    v = x - prepared.shift if shifted else x
    y_hat = torch.ones(300, 258, dtype=torch.bfloat16)
    y_hat[:, :256] = v
    norm_v, norm_rounding = torch.linalg.vector_norm(v, dim=1), torch.linalg.vector_norm(v - y_hat[:, :256], dim=1)
    bound = shortlist._row_bounds(norm_v, norm_rounding, 256, prepared, shifted)  # [300]
    weights = prepared.weights[:1000]
    scores = y_hat @ weights.T  # what the search reads
    t = y_hat.float() @ weights.float().T
    y, d = x.double() - prepared.shift.double(), codebook.double() - prepared.shift.double()
    exact = y @ d.T - 0.5 * (d * d).sum(1)
    worst = ((t.double() - exact).abs() / bound[:, None]).max().item()
    assert worst <= 1, f"{case}: |t - s| / A up to {worst:.3f} (seed {seed})"
    slack = bound[:, None] + shortlist._RHO * scores.double().abs()
    assert ((scores.double() - exact).abs() <= slack).all(), f"{case} (seed {seed})"
    assert worst > {"bf16": 0, "tiny": 0.05}.get(case, 0.1), f"{case}: the bound is loose ({worst:.3f})"
