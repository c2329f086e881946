"""The codebook state every EMA-updated quantizer keeps (``codebook``, ``ema_count``, ``ema_sum``, ``initialized``),
and the two ways it changes: seeded by k-means, then one exponential-moving-average step per training batch with
dead-code restarts. Written once for ``VectorQuantizer`` and ``DualCodebookQuantizer``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from omnitok.distributed import all_reduce_sum_
from omnitok.ops.codebook_update import cluster_sums, ema_codebook, ema_update_
from omnitok.quantizers.dead_codes import restart_dead_codes_, warn_if_threshold_churns


@torch.no_grad()
def seed_from_kmeans_(owner: nn.Module, codebook: Tensor, centroids: Tensor, counts: Tensor) -> None:
    """Start ``owner``'s codebook at k-means ``centroids`` [K, D] with their cluster ``counts`` [K] as EMA state."""
    codebook.copy_(centroids)
    owner.ema_count.copy_(counts)
    owner.ema_sum.copy_(centroids * counts[:, None])
    owner.initialized.fill_(True)


@torch.no_grad()
def ema_step_(
    owner: nn.Module,
    codebook: Tensor,
    vectors: Tensor,
    indices: Tensor,
    active: Tensor | None,
    *,
    learn_codes: bool = True,
    project: Callable[[Tensor], Tensor] = lambda codes: codes,
) -> None:
    """One training step of ``owner``'s codebook state from ``vectors`` [N, D] assigned to ``indices`` [N].

    Counts and sums are summed over data-parallel ranks (every rank takes the same step); the counts' EMA always
    moves (it drives dead-code restarts), the codes follow the sums' EMA when ``learn_codes`` (``project`` maps
    them back onto the code space, e.g. unit length for cosine), and codes whose count fell below
    ``owner.dead_code_threshold`` restart on vectors of the batch.

    Args:
        active: rows [N] that count (e.g. samples a residual level's dropout kept); None: all.
    """
    if active is not None:
        vectors, indices = vectors[active], indices[active]
    counts, sums = cluster_sums(vectors, indices, owner.codebook_size)
    all_reduce_sum_(counts, sums)
    ema_update_(owner.ema_count, counts, owner.decay)
    if learn_codes:
        ema_update_(owner.ema_sum, sums, owner.decay)
        codebook.copy_(project(ema_codebook(owner.ema_count, owner.ema_sum, owner.eps)))
    if owner.dead_code_threshold > 0:
        warn_if_threshold_churns(owner, owner.dead_code_threshold, counts, owner.codebook_size)
        restart_dead_codes_(
            codebook, owner.ema_count, owner.ema_sum, vectors, owner.dead_code_threshold, owner.draws.generator()
        )
