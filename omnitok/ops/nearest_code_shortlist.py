"""Exact nearest-code search on CPUs with fast bfloat16 matmuls: one bf16 score pass, a proven shortlist, and an
exact re-rank of the rows whose shortlist holds more than one code.

Codes are ranked by a score whose argmax is the nearest code (equal to the usual one up to a per-row constant):

    l2:             s_j = y . d_j - ||d_j||^2 / 2,  y = x - mu, d_j = c_j - mu
    cosine / inner: s_j = x . d_j,                  d_j = c_j - mu       (x, c_j unit rows for cosine)

where mu (the codebook mean when that shrinks the codes' rms norm by 10%, else zero; zero for bf16 codebooks, which
it keeps exact) only makes the norms in the error bound smaller. Per chunk of rows and tile of codes:

1. One bf16 matmul gives every score: rows [bf16(y), 1, 1] times codes [bf16(d_j), b_hi, b_lo], the bias split in
   two bf16 numbers so that it costs no extra pass and almost no rounding. The float32 sums are rounded to bf16.
2. One pass over the bf16 tile takes block maxima, G = 64 strided codes a block (a vectorized max of G slices).
3. A rigorous per-row bound A >= |t_j - s_j| (t_j: the float32 sum before the bf16 rounding; see :func:`_row_bounds`)
   gives a threshold: a code whose bf16 score is below it is provably farther than the top-scoring code, so it can
   neither be the nearest nor tie with it (see :func:`_threshold`). Only blocks whose maximum reaches the threshold
   are read again; their codes that reach it are the row's candidates.
4. A row with one candidate is settled: it is the nearest code. Rows with several are re-ranked exactly (float32
   distances with rigorous error bounds settle most; float64 distances the rest, the first minimum in codebook
   order). Rows with more than ``_MAX_CANDIDATES`` candidates, non-finite values or values near float32 overflow go
   to the float32 path (the fallback).

Besides the matmul and the one pass over its tile, the work is many small ops; they run in steps of rows small
enough that torch keeps each on one thread (a parallel region costs more than such an op, and far more when other
processes share the cores).

So the answer is the nearest code in exact arithmetic over the float32 values of the inputs (ties: the lowest index).
The float32 path returns the same code except where its own rounding (~1e-7 of ||x||^2 + ||c||^2) decides a
near-tie the other way. Extra memory: one bf16 score tile of ``_SCORE_ELEMENTS`` values (32 MiB), its block maxima,
at most ``_MAX_CANDIDATES`` candidate blocks a row, and re-ranks in batches of ``_RERANK_ELEMENTS`` values (plus
O(N) indices and flags, like the output).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok.ops.nearest_code import Metric, _chunked_indices

_U_BF16 = 2.0**-8  # unit roundoff of bfloat16 (8 significant bits)
_U_FP32 = 2.0**-24
_RHO = 2.02 * _U_BF16  # |bf16(t) - t| <= rho |bf16(t)|: 2u / (1 - 2u) covers round-to-nearest and even truncation
_OVERFLOW = 2.0**120  # rows whose partial sums could reach this go to the float32 path (overflow at 2^128)
_GROUP = 64  # codes per block: block b of a tile of T codes holds codes b, b + T/G, b + 2T/G, ...
_MAX_CANDIDATES = 16  # candidate blocks, and candidate codes, a row; a row with more goes to the float32 path
_SCORE_ELEMENTS = 2**24  # one bf16 score tile: 32 MiB whatever N and K are
_MIN_TILE_ROWS = 2048  # rows per matmul (fewer rows run the bf16 matmul slower)
_PARALLEL_GRAIN = 32768  # at::internal::GRAIN_SIZE: torch runs smaller elementwise ops on one thread
_RERANK_ELEMENTS = 2**22  # values of one re-rank operand ((row, code) pairs x D): 16 MiB in float32, 32 in float64


@dataclasses.dataclass
class ShortlistResult:
    """indices: [N] int64, the nearest codes; reranked: how many rows had several candidates (re-ranked exactly);
    fallback: [N] bool, the rows the float32 path searched (too many candidates, or non-finite or huge values)."""

    indices: Tensor
    reranked: int
    fallback: Tensor


@dataclasses.dataclass
class _Codes:
    """The codebook side of the bf16 matmul and its error constants (maxima over the real codes, not the padding)."""

    weights: Tensor  # [K', D + 2] bf16: bf16(c - mu), b_hi, b_lo; padding rows 0 ... 0, -inf, 0 (score -inf)
    shift: Tensor  # [D] float32: mu
    norm_max: float  # >= max_j ||bf16(d_j)||
    error_max: float  # >= max_j ||bf16(d_j) - d_j||
    bias_error_max: float  # >= max_j |b_hi + b_lo - b_j|
    bias_abs_max: float  # max_j |b_hi| + |b_lo|


def _norm_above(computed: Tensor, d: int) -> Tensor:
    """Upper bounds [R] float64 of row norms of D float32 values from their float32 ``vector_norm`` [R], whatever
    order torch sums in: squares and sums in float32 are off by at most gamma_(D+1) relative, the sqrt by u32, and
    squares that underflow by D 2^-126 in all."""
    return computed.double() * (1 + (d + 3) * _U_FP32) + math.sqrt(d) * 2.0**-63


def _row_norms(v: Tensor) -> Tensor:
    return _norm_above(torch.linalg.vector_norm(v, dim=1), v.shape[1])


def _prepare(codes: Tensor, metric: str, pad_to: int, exact_bf16: bool) -> _Codes:
    """Codes [K, D] float32 (unit rows for cosine) -> the matmul side. The shift is the codebook mean when it shrinks
    the codes' rms norm by 10% or more, unless the codes are bf16 numbers (``exact_bf16``: zero keeps them exact).

    The l2 bias b_j = -||d_j||^2 / 2 comes from the computed norms of v_j = fl32(c_j - mu): ||d_j|| lies within
    (D + 4) u32 ||d_j|| (+ the underflow term of :func:`_norm_above`) of the float32 norm, so the bias within
    (2D + 10) u32 ||d_j||^2 / 2 (+ 2^-60 sqrt(D) (||d_j|| + 1)), on top of the bf16 split's |b_hi + b_lo - b|.
    """
    k, d = codes.shape
    shift = codes.mean(0)
    rms_sq = torch.linalg.vector_norm(codes).item() ** 2 / k  # mean ||c||^2; the shift takes ||mu||^2 off it
    if exact_bf16 or shift.square().sum().item() < 0.19 * rms_sq:
        shift = torch.zeros_like(shift)
    shifted = codes - shift if shift.any() else codes  # v_j = fl32(c_j - mu)
    weights = torch.zeros(pad_to, d + 2, dtype=torch.bfloat16)
    weights[:k, :d] = shifted  # bf16(v_j) = d^_j
    weights[k:, d] = -math.inf  # padding codes: never candidates
    computed = torch.linalg.vector_norm(shifted, dim=1)
    norm_v = _norm_above(computed, d)
    # ||d^ - d|| <= ||d^ - v|| + ||v - d|| (v - d^ is exact in float32; |v - d| <= u32 |d| when shifted)
    error = _row_norms(shifted - weights[:k, :d]) + (norm_v * _U_FP32 / (1 - _U_FP32) if shift.any() else 0.0)
    bias_error = bias_abs = torch.zeros(1, dtype=torch.float64)
    if metric == "l2":
        bias = -0.5 * computed.double() ** 2
        hi = bias.to(torch.bfloat16)
        lo = (bias - hi.double()).to(torch.bfloat16)
        weights[:k, d], weights[:k, d + 1] = hi, lo
        norm_d = norm_v / (1 - _U_FP32)
        rounding = (2 * d + 10) * _U_FP32 * 0.5 * norm_d**2 + 2.0**-60 * math.sqrt(d) * (norm_d + 1)
        bias_error = (hi.double() + lo.double() - bias).abs() + rounding
        bias_abs = hi.double().abs() + lo.double().abs()
    return _Codes(
        weights=weights,
        shift=shift,
        norm_max=(norm_v + error).max().item(),  # ||d^|| <= ||v|| + ||d^ - v||
        error_max=error.max().item(),
        bias_error_max=bias_error.max().item(),
        bias_abs_max=bias_abs.max().item(),
    )


def _row_bounds(norm_v: Tensor, norm_rounding: Tensor, d: int, codes: _Codes, shifted: bool) -> Tensor:
    """A [R] float64 with |t_j - s_j| <= A for every code j (t_j: the float32 result of the bf16 matmul), from the
    computed float32 norms ||v|| and ||v - y^|| [R] of v = fl32(x - mu) (x itself when not shifted), y^ = bf16(v).

    With y = x - mu exactly, d^_j = bf16(d_j) and the bias split b^_j (products of bf16 numbers are exact in float32):
        y^.d^_j - y.d_j = (y^ - y).d^_j + y.(d^_j - d_j)      <= ||y^ - y|| max||d^|| + ||y|| max||d^ - d||
        |b^_j - b_j|                                           <= max |b_hi + b_lo - b|
        float32 sums of n = D + 2 exact products, any order    <= gamma_2n (||y^|| max||d^|| + max|b^|)
        flush-to-zero of denormal inputs, products and sums    <= 2^-120 (sqrt(n) (max||d^|| + ||y^|| + 2) + 3n)
    with ||y^ - y|| <= ||y^ - v|| + u32 ||y|| (the shift's float32 rounding) and gamma_m = m u32 / (1 - m u32), 2n
    terms instead of n - 1 to cover any blocking. A relative 2^-30 covers the float64 arithmetic of the bound. Rows
    with non-finite values get NaN, rows whose partial sums could overflow inf (both fail every check).
    """
    n = d + 2
    norm_v, err_y = _norm_above(norm_v, d), _norm_above(norm_rounding, d)
    norm_y = norm_v / (1 - _U_FP32) if shifted else norm_v
    err_y = err_y + _U_FP32 * norm_y if shifted else err_y
    norm_y_hat = norm_v + err_y
    gamma = 2 * n * _U_FP32 / (1 - 2 * n * _U_FP32)
    magnitude = norm_y_hat * codes.norm_max + codes.bias_abs_max  # >= every partial sum of the matmul
    bound = (
        err_y * codes.norm_max
        + norm_y * codes.error_max
        + codes.bias_error_max
        + gamma * magnitude
        + 2.0**-120 * (math.sqrt(n) * (codes.norm_max + norm_y_hat + 2) + 3 * n)
    )
    bound = bound * (1 + 2.0**-30) + 2.0**-30 * (magnitude + norm_y * codes.norm_max)
    return torch.where(magnitude < _OVERFLOW, bound, math.inf)


def _threshold(top: Tensor, bound: Tensor) -> Tensor:
    """[R] bf16 threshold from the largest bf16 score v1 [R] float64 and the bound A [R] float64.

    A bf16 score v comes from a float32 t with t <= h(v) + 2^-126 (h(v) = v + rho |v|; 2^-126 if the output is
    flushed to zero), so its code has s <= h(v) + 2^-126 + A, while the top code has s >= v1 - rho |v1| - 2^-126 - A.
    Hence s < s_top whenever h(v) < w := v1 - rho |v1| - 2A - 2^-125, i.e. v < h^-1(w): codes scoring below the
    threshold (h^-1(w), rounded down to bf16) are strictly farther than the top code. NaN where anything is
    non-finite or the threshold nears overflow (every comparison then fails).
    """
    w = top - _RHO * top.abs() - 2 * bound - 2.0**-125
    thr = torch.where(w >= 0, w / (1 + _RHO), w / (1 - _RHO))
    thr = thr - 2.0**-40 * (top.abs() + bound)  # float64 rounding of the lines above
    thr = torch.where(torch.isfinite(thr) & (thr > -(2.0**126)), thr, math.nan)
    low = thr.to(torch.bfloat16)
    return torch.where(low.double() > thr, torch.nextafter(low, low.new_tensor(-math.inf)), low)


def _tile_sizes(k_padded: int, d: int, chunk_rows: int | None) -> tuple[int, int]:
    """(rows per chunk, codes per tile): a bf16 score tile of at most ``_SCORE_ELEMENTS`` values in whole blocks of
    G codes, and rows of at most ``_SCORE_ELEMENTS`` values a chunk."""
    rows = chunk_rows or min(max(_MIN_TILE_ROWS, _SCORE_ELEMENTS // k_padded), _SCORE_ELEMENTS // (d + 2))
    rows = max(1, rows)
    return rows, min(k_padded, max(_GROUP, _SCORE_ELEMENTS // rows // _GROUP * _GROUP))


@dataclasses.dataclass
class _TileCandidates:
    """Codes of a few rows that reach their threshold in one tile: rows [P] (within the rows passed), codes [P],
    bf16 scores [P]; crowded: [R_s] bool, rows with more than ``_MAX_CANDIDATES`` candidate blocks (not read)."""

    rows: Tensor
    codes: Tensor
    scores: Tensor
    crowded: Tensor

    def without(self, crowded: Tensor | None = None, below: Tensor | None = None) -> _TileCandidates:
        """Drops the pairs of newly ``crowded`` rows [R_s] bool (marking them), and those scoring below ``below``
        [R_s] bf16 (a row's threshold)."""
        crowded = self.crowded if crowded is None else self.crowded | crowded
        keep = ~crowded.index_select(0, self.rows)
        if below is not None:
            keep &= self.scores >= below.index_select(0, self.rows)
        rows, codes, scores = (t.masked_select(keep) for t in (self.rows, self.codes, self.scores))
        return _TileCandidates(rows, codes, scores, crowded)

    def plus(self, parts: list[_TileCandidates], step: int) -> _TileCandidates:
        """These pairs and those of ``parts``, the candidates of consecutive steps of ``step`` rows from row 0."""
        rows = [self.rows] + [part.rows + i * step for i, part in enumerate(parts)]
        crowded = self.crowded | torch.cat([part.crowded for part in parts])
        codes, scores = [self.codes] + [p.codes for p in parts], [self.scores] + [p.scores for p in parts]
        return _TileCandidates(torch.cat(rows), torch.cat(codes), torch.cat(scores), crowded)


def _tile_candidates(scores: Tensor, block_max: Tensor, thr: Tensor, start: int) -> _TileCandidates:
    """Candidates of a few rows in one bf16 score tile: scores [R_s, T] bf16 (codes ``start`` onwards, T a multiple
    of G), block_max [R_s, B] bf16 (B = T / G; block b holds codes b, b + B, ...), thr [R_s] bf16. Rows with more
    than ``_MAX_CANDIDATES`` candidate blocks are not read (the gather stays within R_s x _MAX_CANDIDATES x G values)
    and, like rows with more candidate codes, come back as crowded, without pairs. The blocks are read a few hundred
    at a time, so that every op stays under torch's parallel grain."""
    r, t = scores.shape
    blocks = block_max.shape[1]
    hot = (block_max >= thr[:, None]).view(-1).nonzero().squeeze(1)  # flat (row, block) of the blocks reaching thr
    crowded = torch.bincount(hot // blocks, minlength=r) > _MAX_CANDIDATES
    if crowded.any():
        hot = hot.masked_select(~crowded.index_select(0, hot // blocks))
    found_rows, found_codes, found_scores = [], [], []
    for part in hot.split(_serial_rows(_GROUP)):
        part_rows = part // blocks
        where = (part + part_rows * (t - blocks))[:, None] + torch.arange(0, t, blocks)  # (P_b, G) positions in scores
        members = scores.reshape(-1).index_select(0, where.view(-1))
        pick = (members.view(-1, _GROUP) >= thr.index_select(0, part_rows)[:, None]).view(-1).nonzero().squeeze(1)
        rows = part_rows.index_select(0, pick // _GROUP)
        found_rows.append(rows)
        found_codes.append(where.view(-1).index_select(0, pick) - rows * t + start)
        found_scores.append(members.index_select(0, pick))
    if not found_rows:
        found_rows = found_codes = [hot]
        found_scores = [scores.new_empty(0)]
    found = _TileCandidates(torch.cat(found_rows), torch.cat(found_codes), torch.cat(found_scores), crowded)
    return found.without(torch.bincount(found.rows, minlength=r) > _MAX_CANDIDATES)


def _pair_distances(x: Tensor, codes: Tensor, rows: Tensor, cand: Tensor, metric: str, dtype: torch.dtype) -> Tensor:
    """Distances [2, P] of (row, code) pairs computed in ``dtype``, and bounds on their rounding errors (valid for
    float32; 0 for float64, whose rounding the answer is defined by). x: [N, D] as given; codes: [K, D] float32, unit
    rows for cosine. l2: ((x - c)^2).sum, within gamma_(D+2) of itself; cosine / inner: -x.c (x rows normalized in
    float32 for cosine), within gamma_D sum |x_i c_i|. Batches of ``_RERANK_ELEMENTS`` values."""
    out = torch.empty(2, rows.shape[0], dtype=torch.float64)
    d = x.shape[1]
    gamma = (d + 2) * _U_FP32 / (1 - (d + 2) * _U_FP32) if dtype == torch.float32 else 0.0
    step = max(1, _RERANK_ELEMENTS // d)
    for i in range(0, rows.shape[0], step):
        xr = x.index_select(0, rows[i : i + step]).float()  # (P, D)
        xr = (F.normalize(xr, dim=1) if metric == "cosine" else xr).to(dtype)
        cr = codes.index_select(0, cand[i : i + step]).to(dtype)
        if metric == "l2":
            xr -= cr
            dist = xr.mul_(xr).sum(1).double()
            size = dist
        else:
            xr *= cr
            dist = -xr.sum(1).double()
            size = xr.abs_().sum(1).double()
        out[0, i : i + xr.shape[0]] = dist
        out[1, i : i + xr.shape[0]] = (gamma * size + d * 2.0**-125) * (1 + 2 * gamma) if gamma else 0.0
    return out


def _first_nearest(dist: Tensor, rows: Tensor, cand: Tensor, n: int) -> Tensor:
    """[P] bool: True at the pair of each row with the smallest distance, the lowest code on ties."""
    best = torch.full((n,), math.inf, dtype=torch.float64).scatter_reduce(0, rows, dist, "amin")
    tied = dist == best.index_select(0, rows)
    first = torch.full((n,), torch.iinfo(torch.long).max)
    first.scatter_reduce_(0, rows.masked_select(tied), cand.masked_select(tied), "amin")
    return tied & (cand == first.index_select(0, rows))


def _exact_rerank(x: Tensor, codes: Tensor, rows: Tensor, cand: Tensor, metric: str) -> Tensor:
    """Nearest code of each row among its candidates (pairs rows [P], cand [P], any order) -> [P] bool, True at the
    winner of each row: the smallest float64 distance of the float32 values, the lowest code on ties.

    Float32 distances with error bounds settle most rows: a pair whose lower end exceeds the row's smallest upper
    end is out, and a row left with one pair has its strictly nearest code. The others get float64 distances.
    """
    n = int(rows.max()) + 1  # rows are local to the batch: the scatter targets stay small
    dist, error = _pair_distances(x, codes, rows, cand, metric, torch.float32)
    upper = torch.full((n,), math.inf, dtype=torch.float64).scatter_reduce(0, rows, dist + error, "amin")
    alive = ~(dist - error > upper.index_select(0, rows))  # an overflow to inf / NaN keeps the pair (float64 next)
    open_rows = torch.bincount(rows.masked_select(alive), minlength=n) > 1
    winners = alive & ~open_rows.index_select(0, rows)
    again = open_rows.index_select(0, rows)
    if again.any():
        rows64, cand64 = rows.masked_select(again), cand.masked_select(again)
        exact = _pair_distances(x, codes, rows64, cand64, metric, torch.float64)[0]
        winners.masked_scatter_(again, _first_nearest(exact, rows64, cand64, n))
    return winners


def _serial_rows(row_elements: int) -> int:
    """Rows per step so that one step's ops stay under torch's parallel grain and run serially."""
    return max(1, (_PARALLEL_GRAIN - 1) // row_elements)


def _chunk_candidates(
    rows: Tensor, lhs: Tensor, tile: Tensor, prepared: _Codes, metric: str, codes_per_tile: int
) -> tuple[Tensor, Tensor, Tensor]:
    """One chunk of rows [R, D] float32 (unit rows for cosine) -> (pair rows [P], pair codes [P], bad [R] bool):
    every code that may be a row's nearest, and the rows that must go to the float32 path.

    Apart from the matmul and the one pass over its tile, the work runs in steps of rows small enough that torch
    runs each op on one thread (see the module docstring).
    """
    r, d = rows.shape
    shifted = metric == "l2" and bool(prepared.shift.any())
    norms = torch.empty(2, r)  # ||v||, ||v - y^|| (float32, as computed)
    step = _serial_rows(d + 2)
    for a in range(0, r, step):
        b = min(r, a + step)
        v = rows[a:b] - prepared.shift if shifted else rows[a:b]
        lhs[a:b, :d] = v  # bf16 rounding
        torch.linalg.vector_norm(v, dim=1, out=norms[0, a:b])
        torch.linalg.vector_norm(v - lhs[a:b, :d], dim=1, out=norms[1, a:b])
    bound = _row_bounds(norms[0], norms[1], d, prepared, shifted)
    top = torch.full((r,), -math.inf, dtype=torch.float64)
    empty = torch.empty(0, dtype=torch.long)
    found = _TileCandidates(empty, empty, torch.empty(0, dtype=torch.bfloat16), torch.zeros(r, dtype=torch.bool))
    for start in range(0, prepared.weights.shape[0], codes_per_tile):
        weights = prepared.weights[start : start + codes_per_tile]
        t = weights.shape[0]
        scores = tile[: r * t].view(r, t)
        torch.mm(lhs[:r], weights.T, out=scores)  # (R, T) bf16 scores: the matmul
        block_max = scores.view(r, _GROUP, t // _GROUP).amax(1)  # (R, B): the one pass over the tile
        step = _serial_rows(t // _GROUP)
        tile_top = torch.empty(r, dtype=torch.bfloat16)
        for a in range(0, r, step):
            torch.amax(block_max[a : a + step], 1, out=tile_top[a : a + step])
        top = torch.maximum(top, tile_top.double())  # NaN propagates
        thr = _threshold(top, bound)  # rises over the tiles: candidates of earlier tiles are pruned
        if start:
            found = found.without(below=thr)
        parts = [_tile_candidates(scores[a : a + step], block_max[a : a + step], thr[a : a + step], start)
                 for a in range(0, r, step)]  # fmt: skip
        found = found.plus(parts, step)
        if start:
            found = found.without(torch.bincount(found.rows, minlength=r) > _MAX_CANDIDATES)
    bad = found.crowded | (torch.bincount(found.rows, minlength=r) == 0) | torch.isnan(thr)
    keep = ~bad.index_select(0, found.rows)
    return found.rows.masked_select(keep), found.codes.masked_select(keep), bad


def shortlist_indices(x: Tensor, codebook: Tensor, metric: Metric, chunk_rows: int | None = None) -> ShortlistResult:
    """x: [N, D] float, codebook: [K, D] float, both on the CPU -> the exact nearest code of each row (see the module
    docstring). Rows the shortlist cannot settle go to :func:`omnitok.ops.nearest_code._chunked_indices`."""
    n, d = x.shape
    codes = codebook.float()
    if metric == "cosine":
        codes = F.normalize(codes, dim=1)
    exact_bf16 = codebook.dtype == torch.bfloat16 and metric != "cosine"
    prepared = _prepare(codes, metric, -(-codes.shape[0] // _GROUP) * _GROUP, exact_bf16)
    rows_per_chunk, codes_per_tile = _tile_sizes(prepared.weights.shape[0], d, chunk_rows)
    tile = torch.empty(rows_per_chunk * codes_per_tile, dtype=torch.bfloat16)
    lhs = torch.ones(rows_per_chunk, d + 2, dtype=torch.bfloat16)  # [y^, 1, 1]
    indices = torch.full((n,), -1, dtype=torch.long)
    fallback = torch.zeros(n, dtype=torch.bool)
    open_rows, open_codes, reranked, first_open = [], [], 0, 0  # rows with several candidates, re-ranked in batches
    for row in range(0, n, rows_per_chunk):
        rows = x[row : row + rows_per_chunk].float()
        rows = F.normalize(rows, dim=1) if metric == "cosine" else rows
        found_rows, found_codes, fallback[row : row + rows.shape[0]] = _chunk_candidates(
            rows, lhs, tile, prepared, metric, codes_per_tile
        )
        found_rows += row
        count = torch.bincount(found_rows - row, minlength=rows.shape[0])
        single = (count == 1).index_select(0, found_rows - row)
        indices.index_copy_(0, found_rows.masked_select(single), found_codes.masked_select(single))
        open_rows.append(found_rows.masked_select(~single))
        open_codes.append(found_codes.masked_select(~single))
        reranked += int((count > 1).sum())
        last = row + rows_per_chunk >= n
        if last or sum(r.numel() for r in open_rows) * d >= _RERANK_ELEMENTS:
            pairs, cand = torch.cat(open_rows) - first_open, torch.cat(open_codes)
            if pairs.numel():
                winners = _exact_rerank(x[first_open:], codes, pairs, cand, metric)
                indices.index_copy_(0, pairs.masked_select(winners) + first_open, cand.masked_select(winners))
            open_rows, open_codes, first_open = [], [], row + rows_per_chunk
    if fallback.any():
        where = fallback.nonzero().squeeze(1)
        found = _chunked_indices(x.index_select(0, where), codebook, metric, None)
        indices.index_copy_(0, where, found)
    return ShortlistResult(indices, reranked, fallback)
