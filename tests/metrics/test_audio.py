"""Audio metrics against written-out formulas (numpy), their registration, and the bitrate of an audio spec."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnitok.metrics import build_metrics, metric_factories, token_figures
from omnitok.metrics.audio import MelDistance, STFTDistance, si_sdr, snr_db, stft_distance
from omnitok.metrics.checks import MetricInputError
from omnitok.protocol import TokenizerSpec


@pytest.fixture
def pair():
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(8000) / 16_000
    clean = 0.4 * torch.sin(2 * torch.pi * 220 * t) + 0.2 * torch.sin(2 * torch.pi * 1330 * t)
    original = torch.stack([clean, 0.5 * clean.roll(37)]).view(1, 2, -1).repeat(3, 1, 1)
    noise = torch.randn(original.shape, generator=generator) * torch.tensor([0.01, 0.05, 0.2]).view(3, 1, 1)
    return original, 0.8 * original + noise


def test_si_sdr_matches_the_written_out_formula(pair):
    original, degraded = pair
    expected = []
    for b in range(3):
        values = []
        for c in range(2):
            s = original[b, c].double().numpy()
            s_hat = degraded[b, c].double().numpy()
            s, s_hat = s - s.mean(), s_hat - s_hat.mean()
            target = np.dot(s_hat, s) / np.dot(s, s) * s
            values.append(10 * np.log10(np.sum(target**2) / np.sum((s_hat - target) ** 2)))
        expected.append(np.mean(values))
    got = si_sdr(original, degraded)
    assert got.shape == (3,) and np.allclose(got.numpy(), expected, atol=1e-4)
    assert got[0] > got[1] > got[2]
    assert torch.allclose(si_sdr(original, 3.0 * degraded), got, atol=1e-4)  # scale-invariant
    assert float(si_sdr(original, original).min()) > 100  # identical: the eps floor, not infinity
    assert snr_db(original, 3.0 * original).max() < 0  # plain SNR is not scale-invariant


def test_stft_distance_matches_written_out_formula(pair):
    original, degraded = pair
    n_fft = 512
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)

    def magnitude(v: np.ndarray) -> np.ndarray:
        padded = np.pad(v, (n_fft // 2, n_fft // 2), mode="reflect")
        frames = np.stack([padded[i : i + n_fft] * window for i in range(0, len(padded) - n_fft + 1, n_fft // 4)])
        return np.sqrt(np.maximum(np.abs(np.fft.rfft(frames, axis=1)) ** 2, 1e-7))

    for b in range(3):
        mag = np.stack([magnitude(original[b, c].double().numpy()) for c in range(2)])
        mag_hat = np.stack([magnitude(degraded[b, c].double().numpy()) for c in range(2)])
        expected = np.linalg.norm(mag_hat - mag) / np.linalg.norm(mag) + np.abs(np.log(mag_hat) - np.log(mag)).mean()
        assert float(stft_distance(original[b : b + 1], degraded[b : b + 1], sizes=(n_fft,))) == pytest.approx(expected, rel=1e-4)
    full = STFTDistance()(original, degraded)
    assert full[0] < full[1] < full[2] and float(STFTDistance()(original, original).max()) < 1e-5


def test_mel_distance_orders_degradations_and_needs_the_rate(pair):
    original, degraded = pair
    metric = MelDistance()
    with pytest.raises(MetricInputError, match="sample rate"):
        metric(original, degraded)
    metric.sample_rate = 16_000
    got = metric(original, degraded)
    assert got.shape == (3,) and got[0] < got[1] < got[2] and float(metric(original, original).max()) == 0.0
    assert torch.allclose(MelDistance()(original, degraded, sample_rate=16_000), got)


def test_inputs_are_checked(pair):
    original, degraded = pair
    with pytest.raises(MetricInputError, match="differ"):
        si_sdr(original, degraded[..., :-1])
    with pytest.raises(MetricInputError, match=r"\[B, C, S\]"):
        si_sdr(original[0], degraded[0])
    with pytest.raises(MetricInputError, match="too short"):
        stft_distance(original[..., :200], degraded[..., :200])


def test_audio_metrics_are_registered():
    names = [name for name, _ in metric_factories("audio")]
    assert names[:3] == ["si_sdr", "mel_distance", "stft_distance"] and {"pesq", "stoi"} <= set(names)
    ready, unavailable = build_metrics("audio", torch.device("cpu"))
    ready_names = {m.name for m in ready}
    assert {"si_sdr", "mel_distance", "stft_distance"} <= ready_names
    for name, package in (("pesq", "pesq"), ("stoi", "pystoi")):
        try:
            __import__(package)
        except ImportError:
            assert name in unavailable and package in unavailable[name]
        else:
            assert name in ready_names


def test_bitrate_of_an_audio_spec():
    spec = TokenizerSpec("audio", True, codebook_sizes=(1024,) * 8, codebook_kind="residual", downsample=(320,),
                         channels=1, sample_rate=24_000)
    figures = token_figures(spec, (24_000,))
    assert figures["kbps"] == pytest.approx(8 * 10 * 75 / 1000)  # 8 levels x 10 bits x 75 frames/s = 6 kbps
