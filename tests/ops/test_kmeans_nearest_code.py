"""nearest_code and kmeans against the plain formula, brute force and scipy."""

import numpy as np
import pytest
import torch
from scipy.cluster.vq import kmeans2

from omnitok.errors import ShapeError
from omnitok.ops import kmeans, nearest_code


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("n,k,d", [(1, 1, 1), (37, 13, 5), (257, 1000, 3), (500, 64, 17)])
def test_nearest_code_backends_agree_with_brute_force(metric, n, k, d):
    x, codebook = torch.randn(n, d), torch.randn(k, d)
    chunked = nearest_code(x, codebook, metric=metric, backend="torch", chunk_rows=7)
    reference = nearest_code(x, codebook, metric=metric, backend="reference")
    if metric == "l2":
        brute = ((x[:, None].double() - codebook[None].double()) ** 2).sum(-1)
    else:
        xn, cn = torch.nn.functional.normalize(x.double(), dim=1), torch.nn.functional.normalize(codebook.double(), dim=1)
        brute = 1 - xn @ cn.T
    best = brute.min(1)
    sorted_d = brute.sort(1).values
    clear = (sorted_d[:, 1] - sorted_d[:, 0] > 1e-6 * sorted_d[:, 0].abs().clamp_min(1)) if k > 1 else torch.ones(n, dtype=torch.bool)
    assert torch.equal(chunked.indices, reference.indices)
    assert torch.equal(chunked.indices[clear], best.indices[clear])  # near-ties excluded explicitly
    torch.testing.assert_close(chunked.distance.double(), best.values, rtol=1e-4, atol=1e-5)


def test_nearest_code_ties_go_to_the_lowest_index():
    codebook = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert nearest_code(x, codebook).indices.tolist() == [0, 1, 0]


def test_nearest_code_rejects_mismatched_shapes():
    with pytest.raises(ShapeError):
        nearest_code(torch.randn(4, 3), torch.randn(5, 4))


def test_kmeans_matches_scipy_lloyd_from_the_same_start():
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(c, 0.3, size=(80, 3)) for c in rng.normal(0, 5, size=(6, 3))]).astype(np.float32)
    init = data[rng.choice(len(data), 6, replace=False)]
    ours, _ = kmeans(torch.from_numpy(data), 6, iters=15, init=torch.from_numpy(init))
    theirs, _ = kmeans2(data.astype(np.float64), init.astype(np.float64), iter=15, minit="matrix", missing="raise")
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-4)
