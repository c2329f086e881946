"""shared_codebook_stats: per-modality usage and perplexity of one codebook and the overlap of the modalities'
code sets, against counts done by hand."""

from __future__ import annotations

import math

import pytest
import torch

from omnitok.quantizers import CodebookStats, SharedCodebookStats, shared_codebook_stats


def _perplexity(counts: list[int]) -> float:
    total = sum(counts)
    return 2 ** -sum(c / total * math.log2(c / total) for c in counts if c)


CODES = {  # K = 10
    "image": torch.tensor([0, 0, 1, 2, 2, 2]),  # codes 0 x2, 1 x1, 2 x3
    "video": torch.tensor([[2, 3], [3, 4]]),  # 2 x1, 3 x2, 4 x1 (any shape counts every entry)
    "audio": torch.tensor([4, 5, 0, 7]),  # 4, 5, 0, 7 once each
}
# who uses each code: 0 image+audio, 1 image, 2 image+video, 3 video, 4 video+audio, 5 audio, 6 -, 7 audio, 8 -, 9 -


def test_counts_by_hand():
    stats = shared_codebook_stats(CODES, codebook_size=10)
    assert isinstance(stats, SharedCodebookStats)
    assert stats.codebook_size == 10 and stats.modalities == ("image", "video", "audio")
    assert stats.tokens == {"image": 6, "video": 4, "audio": 4}
    assert stats.used == {"image": 3, "video": 3, "audio": 4}
    assert stats.usage == pytest.approx({"image": 0.3, "video": 0.3, "audio": 0.4})
    assert stats.perplexity == pytest.approx(
        {"image": _perplexity([2, 1, 3]), "video": _perplexity([1, 2, 1]), "audio": 4.0}
    )
    assert stats.perplexity["video"] == pytest.approx(2**1.5)
    assert stats.used_all == 7 and stats.usage_all == pytest.approx(0.7)
    assert stats.perplexity_all == pytest.approx(_perplexity([3, 1, 4, 2, 2, 1, 1]))  # pooled codes 0, 1, 2, 3, 4, 5, 7
    assert stats.used_by == {1: 4, 2: 3, 3: 0}  # only-one: 1, 3, 5, 7; two: 0, 2, 4
    assert stats.used_by_exactly == {
        ("image",): 1,
        ("video",): 1,
        ("audio",): 2,
        ("image", "video"): 1,
        ("image", "audio"): 1,
        ("video", "audio"): 1,
        ("image", "video", "audio"): 0,
    }
    assert stats.unused == 3  # 6, 8, 9
    figures = stats.to_dict()
    assert figures["overlap/used_by_2"] == 3.0 and figures["overlap/only/image+audio"] == 1.0
    assert figures["audio/codebook_usage"] == pytest.approx(0.4) and figures["all/codes_used"] == 7.0
    assert figures["overlap/unused"] == 3.0 and figures["video/tokens"] == 4.0


def test_a_code_used_by_all_three_and_two_modalities():
    stats = shared_codebook_stats(
        {"image": torch.tensor([1, 1]), "video": torch.tensor([1, 2]), "audio": torch.tensor([[1], [3]])}, 4
    )
    assert stats.used_by == {1: 2, 2: 0, 3: 1} and stats.unused == 1
    assert stats.used_by_exactly[("image", "video", "audio")] == 1 and stats.used_by_exactly[("image",)] == 0
    two = shared_codebook_stats({"image": torch.tensor([0, 1]), "audio": torch.tensor([1])}, 3)
    assert two.used_by == {1: 1, 2: 1} and set(two.used_by_exactly) == {("image",), ("audio",), ("image", "audio")}


def test_accumulated_histograms_and_residual_levels():
    """CodebookStats accumulated batch by batch give the same figures; for a residual codebook, one level's."""
    accumulated = {}
    for name, codes in CODES.items():
        stats = CodebookStats([10, 10])
        flat = codes.reshape(-1)
        for part in flat.split(3):  # several batches of [n, 2] (level 0 junk, level 1 the codes)
            stats.update(torch.stack([torch.zeros_like(part), part], dim=-1))
        accumulated[name] = stats
    from_stats = shared_codebook_stats(accumulated, level=1)
    assert from_stats == shared_codebook_stats(CODES, 10)
    assert shared_codebook_stats(accumulated, level=0).used_by == {1: 0, 2: 0, 3: 1}  # all of them use code 0 only


@pytest.mark.parametrize(
    "codes, size, match",
    [
        ({}, 10, "at least one"),
        ({"image": torch.tensor([0, 1])}, None, "codebook_size"),
        ({"image": torch.tensor([0.0, 1.0])}, 10, "integer"),
        ({"image": torch.tensor([0, 10])}, 10, r"\[0, 10\)"),
        ({"image": torch.tensor([-1])}, 10, r"\[0, 10\)"),
        ({"image": CodebookStats([8])}, 10, "disagree"),
    ],
)
def test_errors(codes, size, match):
    with pytest.raises(ValueError, match=match):
        shared_codebook_stats(codes, size)
