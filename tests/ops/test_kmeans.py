"""k-means and the EMA codebook statistics against scipy, one-hot formulas and each backend."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.cluster.vq import kmeans2

from omnitok.errors import ShapeError
from omnitok.ops import cluster_sums, ema_codebook, ema_update_, kmeans
from tests.ops.draws import device_for, fresh_generator


def test_kmeans_matches_scipy_lloyd_from_the_same_start():
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(c, 0.3, size=(80, 3)) for c in rng.normal(0, 5, size=(6, 3))]).astype(np.float32)
    init = data[rng.choice(len(data), 6, replace=False)]
    ours, _ = kmeans(torch.from_numpy(data), 6, iters=15, init=torch.from_numpy(init))
    theirs, _ = kmeans2(data.astype(np.float64), init.astype(np.float64), iter=15, minit="matrix", missing="raise")
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_kmeans_on_the_kernel_equals_kmeans_on_the_torch_path(metric):
    gen, seed = fresh_generator()
    centers = torch.randn(12, 5, generator=gen) * 6
    x = (centers[:, None] + 0.2 * torch.randn(12, 40, 5, generator=gen)).reshape(-1, 5)
    init = x[torch.randperm(x.shape[0], generator=gen)[:12]]
    dev = device_for("triton")
    kernel, kernel_counts = kmeans(x.to(dev), 12, iters=4, metric=metric, init=init.to(dev), backend="triton")
    kernel, kernel_counts = kernel.cpu(), kernel_counts.cpu()
    torch_path, torch_counts = kmeans(x, 12, iters=4, metric=metric, init=init, backend="torch")
    torch.testing.assert_close(kernel, torch_path, rtol=1e-5, atol=1e-6, msg=f"seed {seed}")
    assert torch.equal(kernel_counts, torch_counts) and kernel_counts.sum() == x.shape[0]


def test_cluster_sums_equal_the_one_hot_products():
    gen, _ = fresh_generator()
    x, indices = torch.randn(97, 6, generator=gen), torch.randint(0, 11, (97,), generator=gen)
    counts, sums = cluster_sums(x, indices, 11)
    one_hot = F.one_hot(indices, 11).double()
    torch.testing.assert_close(counts.double(), one_hot.sum(0))
    torch.testing.assert_close(sums.double(), one_hot.T @ x.double(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ShapeError, match="indices"):
        cluster_sums(x, indices[:5], 11)


def test_ema_codebook_is_the_laplace_smoothed_average():
    count, total_sum = torch.tensor([3.0, 0.0, 1.0]), torch.tensor([[3.0, 6.0], [0.0, 0.0], [2.0, 2.0]])
    ema_update_(count, torch.tensor([1.0, 1.0, 0.0]), decay=0.5)  # -> [2, 0.5, 0.5]
    assert count.tolist() == [2.0, 0.5, 0.5]
    eps = 0.1
    smoothed = [(c + eps) / (3.0 + 3 * eps) * 3.0 for c in count.tolist()]
    expected = torch.tensor([[v / s for v in row] for row, s in zip(total_sum.tolist(), smoothed)])
    torch.testing.assert_close(ema_codebook(count, total_sum, eps), expected)
