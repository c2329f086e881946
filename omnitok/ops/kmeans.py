"""k-means for codebook initialisation, built on :func:`nearest_code` and ``index_add_`` (no one-hot matrices).

Each Lloyd iteration is one nearest-code search (the Triton kernel on CUDA tensors, the chunked torch path
elsewhere) plus :func:`cluster_sums`, so memory stays O(N D + K D) and 16384 codes on 10^6 vectors is practical
on a GPU. Under data parallelism every rank contributes its own vectors and all ranks end with the same centroids.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok.distributed import all_reduce_sum_, sample_rows
from omnitok.ops.backend import Backend
from omnitok.ops.codebook_update import cluster_sums
from omnitok.ops.nearest_code import Metric, nearest_code


@torch.no_grad()
def kmeans(
    x: Tensor,
    num_clusters: int,
    *,
    iters: int = 10,
    metric: Metric = "l2",
    init: Tensor | None = None,
    backend: Backend = "auto",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means on x [N, D] -> (centroids [K, D] float32, cluster sizes [K] float32 from the last pass).

    Starts from ``init`` [K, D] or from K random input rows; a cluster that empties keeps its previous centroid.
    ``backend`` is the nearest-code backend (see :func:`nearest_code`); ``generator`` draws the initial rows (over
    all data-parallel ranks' rows together, see :func:`omnitok.distributed.sample_rows`; None: seed 0, the same on
    every rank).
    """
    x = x.float()
    if metric == "cosine":
        x = F.normalize(x, dim=1)
    if init is None:
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        init = sample_rows(x, num_clusters, generator)
        if init is None:
            raise ValueError("k-means needs at least one vector (on at least one rank)")
    centroids = init.float().clone()
    counts = torch.zeros(num_clusters, device=x.device)
    for _ in range(iters):
        assign = nearest_code(x, centroids, metric=metric, backend=backend).indices
        counts, sums = cluster_sums(x, assign, num_clusters)
        all_reduce_sum_(counts, sums)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        if metric == "cosine":
            centroids = F.normalize(centroids, dim=1)
    return centroids, counts
