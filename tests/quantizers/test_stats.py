"""Codebook statistics against hand-computed figures."""

import math

import pytest
import torch

from omnitok.quantizers import CodebookStats, ResidualQuantizer, VectorQuantizer


def test_stats_accumulate_over_batches():
    stats = CodebookStats([8])
    stats.update(torch.tensor([[0, 0, 1]]))
    stats.update(torch.tensor([[1, 2, 3, 3, 3, 3]]))  # counts over both: 0:2 1:2 2:1 3:4 -> 9 tokens
    figures = stats.compute()
    probs = torch.tensor([2, 2, 1, 4]) / 9
    entropy = -(probs * probs.log2()).sum().item()
    assert figures["usage"] == 4 / 8
    assert figures["dead_codes"] == 4
    assert figures["tokens"] == 9
    assert figures["entropy_bits"] == pytest.approx(entropy)
    assert figures["perplexity"] == pytest.approx(2**entropy)
    assert figures["max_entropy_bits"] == 3
    stats.reset()
    assert stats.compute()["tokens"] == 0


def test_stats_per_level_for_residual_quantizers():
    rvq = ResidualQuantizer(VectorQuantizer(4, 16), num_levels=3).eval()
    stats = CodebookStats(rvq.codebook_sizes)
    indices = rvq.encode(torch.randn(2, 4, 8, 8))
    stats.update(indices)
    stats.update(indices[..., :2])  # a bitrate subset counts for its levels only
    figures = stats.compute()
    for q in range(3):
        expected = torch.unique(indices[..., q]).numel() / 16
        assert figures[f"level{q}/usage"] == pytest.approx(expected)
    assert figures["usage"] == pytest.approx(sum(figures[f"level{q}/usage"] for q in range(3)) / 3)


def test_batch_metrics_in_forward():
    vq = VectorQuantizer(4, 16).eval()
    out = vq(torch.randn(2, 4, 8, 8))
    counts = torch.bincount(out.indices.reshape(-1), minlength=16).double()
    probs = counts[counts > 0] / counts.sum()
    assert out.metrics["perplexity"].item() == pytest.approx(math.exp(-(probs * probs.log()).sum().item()), rel=1e-5)
    assert out.metrics["batch_usage"].item() == pytest.approx((counts > 0).double().mean().item())
