"""Token figures checked against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from omnitok.errors import ShapeError
from omnitok.metrics import codebook_stats, token_figures
from omnitok.protocol import TokenizerSpec
from omnitok.quantizers.stats import CodebookStats


def test_single_codebook_image() -> None:
    spec = TokenizerSpec("image", True, codebook_sizes=(1024,), latent_dim=8, downsample=(16, 16))
    figures = token_figures(spec, (256, 256))
    # 16 x 16 = 256 tokens of 10 bits = 2560 bits over 65536 pixels of 24 bits
    assert figures == {
        "tokens_per_sample": 256.0,
        "bits_per_pixel": 2560 / 65536,
        "compression_ratio": 24 * 65536 / 2560,
    }


def test_residual_and_grouped_sum_bits_over_levels() -> None:
    residual = TokenizerSpec(
        "image", True, codebook_sizes=(4096,) * 4, codebook_kind="residual", latent_dim=8, downsample=(8, 8)
    )
    figures = token_figures(residual, (64, 96))
    assert figures["tokens_per_sample"] == 8 * 12 * 4
    assert figures["bits_per_pixel"] == pytest.approx(8 * 12 * 48 / (64 * 96))
    grouped = TokenizerSpec(
        "image", True, codebook_sizes=(8, 16), codebook_kind="grouped", latent_dim=8, downsample=(4, 4)
    )
    figures = token_figures(grouped, (32, 32))
    assert figures["bits_per_pixel"] == pytest.approx(64 * (3 + 4) / 1024)
    assert figures["compression_ratio"] == pytest.approx(24 * 1024 / (64 * 7))


def test_continuous_reports_latent_floats_and_no_bits() -> None:
    spec = TokenizerSpec("image", False, latent_dim=4, downsample=(8, 8))
    figures = token_figures(spec, (256, 256))
    assert figures == {"tokens_per_sample": 1024.0, "latent_floats_per_pixel": 1024 * 4 / 65536}
    with pytest.raises(ValueError, match="continuous"):
        token_figures(spec, (256, 256), CodebookStats((16,)))
    assert codebook_stats(spec) is None


def test_video_and_audio() -> None:
    video = TokenizerSpec("video", True, codebook_sizes=(2**18,), latent_dim=18, downsample=(4, 8, 8), causal_time=True)
    figures = token_figures(video, (17, 64, 64))  # causal: 1 + 16 / 4 = 5 time steps
    assert figures["tokens_per_sample"] == 5 * 8 * 8
    assert figures["bits_per_pixel"] == pytest.approx(5 * 64 * 18 / (17 * 64 * 64))
    audio = TokenizerSpec(
        "audio",
        True,
        codebook_sizes=(1024,) * 8,
        codebook_kind="residual",
        latent_dim=128,
        downsample=(320,),
        channels=1,
        sample_rate=24000,
    )
    figures = token_figures(audio, (48000,))
    # 75 frames per second x 8 levels x 10 bits = 6 kbps, against 16-bit PCM at 24 kHz (384 kbps)
    assert figures == {
        "tokens_per_sample": 150 * 8.0,
        "kbps": pytest.approx(6.0),
        "compression_ratio": pytest.approx(64.0),
    }


def test_codebook_figures_come_from_codebook_stats() -> None:
    spec = TokenizerSpec("image", True, codebook_sizes=(8,), latent_dim=4, downsample=(2, 2))
    stats = codebook_stats(spec)
    stats.update(torch.tensor([[[0, 0], [1, 1]]]))  # [B, h, w]: two codes, equally often
    figures = token_figures(spec, (4, 4), stats)
    assert figures["codebook_usage"] == 2 / 8
    assert figures["dead_codes"] == 6
    assert figures["perplexity"] == pytest.approx(2.0)
    assert figures["entropy_bits"] == pytest.approx(1.0)


def test_per_level_figures_for_residual() -> None:
    spec = TokenizerSpec(
        "image", True, codebook_sizes=(4, 4), codebook_kind="residual", latent_dim=4, downsample=(2, 2)
    )
    stats = codebook_stats(spec)
    indices = torch.tensor([[[[0, 0], [1, 0]], [[2, 0], [3, 0]]]])  # [B, h, w, Q]: level 0 uses all 4, level 1 one
    stats.update(indices)
    figures = token_figures(spec, (4, 4), stats)
    assert figures["level0/codebook_usage"] == 1.0 and figures["level1/codebook_usage"] == 0.25
    assert figures["level0/perplexity"] == pytest.approx(4.0) and figures["level1/perplexity"] == pytest.approx(1.0)
    assert figures["level0/dead_codes"] == 0 and figures["level1/dead_codes"] == 3
    assert figures["codebook_usage"] == pytest.approx(0.625)  # mean over levels
    assert not any(name.endswith("/tokens") or name == "tokens" for name in figures)
    assert all(isinstance(value, float) and math.isfinite(value) for value in figures.values())


def test_mismatches_are_refused() -> None:
    spec = TokenizerSpec("image", True, codebook_sizes=(16,), latent_dim=4, downsample=(16, 16))
    with pytest.raises(ValueError, match="sizes"):
        token_figures(spec, (32, 32), CodebookStats((32,)))
    with pytest.raises(ShapeError, match="multiple of 16"):
        token_figures(spec, (30, 32))
    with pytest.raises(ShapeError):
        token_figures(spec, (3, 32, 32))  # channels do not belong in input_shape
