"""Dead-code restarts for EMA codebooks, shared by :class:`~omnitok.quantizers.VectorQuantizer` and
:class:`~omnitok.quantizers.DualCodebookQuantizer`.

A code is dead when its EMA count (vectors per training step, averaged) falls below ``threshold``; it restarts on a
random vector of the batch. The threshold is absolute, as in vector-quantize-pytorch's ``threshold_ema_dead_code``,
so its meaning depends on the batch: with N vectors per step over K codes, a code in ordinary use has an EMA count
near N / K. A threshold near that mean restarts codes that are alive, every step, and the codebook never settles
(this happened to several audio recipes). :func:`warn_if_threshold_churns` says so once per quantizer.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from omnitok.distributed import sample_rows

__all__ = ["CHURN_FRACTION", "restart_dead_codes_", "warn_if_threshold_churns"]

CHURN_FRACTION = 0.25
"""A threshold above this fraction of the mean code count per step restarts codes that are in use."""


@torch.no_grad()
def restart_dead_codes_(
    codebook: Tensor, ema_count: Tensor, ema_sum: Tensor, vectors: Tensor, threshold: float, generator: torch.Generator
) -> int:
    """In place: codes [K, D] whose ``ema_count`` [K] is below ``threshold`` take random rows of ``vectors`` [N, D],
    with their EMA count set to ``threshold`` and EMA sum to match; ``generator`` draws the rows over all ranks' rows
    together (see :func:`omnitok.distributed.sample_rows`). Returns how many codes restarted.

    The dead set is identical on every rank (counts are all-reduced before); ``sample_rows`` is a collective, so every
    rank calls it even with no local rows."""
    dead = ema_count < threshold
    num_dead = int(dead.sum())
    if num_dead == 0:
        return 0
    samples = sample_rows(vectors, num_dead, generator)
    if samples is None:
        return 0
    codebook[dead] = samples.to(codebook.dtype)
    ema_count[dead] = threshold
    ema_sum[dead] = samples * threshold
    return num_dead


def warn_if_threshold_churns(owner: object, threshold: float, counts: Tensor | float, codebook_size: int) -> None:
    """Warn once per ``owner`` when ``threshold`` exceeds :data:`CHURN_FRACTION` of the mean code count per step
    (``counts`` summed, i.e. the vectors of this step over all ranks, / ``codebook_size``). Judged on the first step
    that has vectors (a step can have none, e.g. a residual level that quantizer dropout switched off); after that it
    returns before reading ``counts``, so it adds no device sync to later steps."""
    if threshold <= 0 or getattr(owner, "_churn_checked", False):
        return
    vectors_per_step = float(counts.sum()) if isinstance(counts, Tensor) else float(counts)
    if vectors_per_step <= 0:
        return
    owner._churn_checked = True  # type: ignore[attr-defined]
    mean_count = vectors_per_step / codebook_size
    if threshold > CHURN_FRACTION * mean_count:
        warnings.warn(
            f"dead_code_threshold={threshold:g} is above {CHURN_FRACTION:g} x the mean code count per step "
            f"({vectors_per_step:g} vectors over {codebook_size} codes = {mean_count:.3g}): codes in use will be "
            f"restarted every step and the codebook will not settle; use at most {CHURN_FRACTION * mean_count:.3g} "
            "at this batch size, or a larger batch",
            UserWarning,
            stacklevel=2,  # the quantizer line that calls this
        )
