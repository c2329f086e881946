"""rFID: torchmetrics' path with a random feature extractor against an independent numpy/scipy Fréchet distance,
our own float64 formula, and the real Inception refusing to run without its weights."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from omnitok.errors import ShapeError
from omnitok.metrics import (
    RFID,
    DatasetMetric,
    MetricInputError,
    MetricUnavailable,
    feature_statistics,
    frechet_distance,
)
from omnitok.metrics.fid import to_uint8

from .conftest import DISTORTIONS, photo_crops


class RandomFeatures(nn.Module):
    """A random-init stand-in for Inception: uint8 [B, 3, H, W] -> [B, 24] features."""

    num_features = 24

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.conv = nn.Conv2d(3, self.num_features, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.3)
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=generator) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.uint8  # the same input the real Inception gets
        return 10 * torch.tanh(self.conv(x.float() / 255 - 0.5)).square().mean((2, 3))  # local energy: blur moves it


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula on feature matrices [N, D]: numpy means/covariances and scipy's sqrtm."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """60 real 48x48 photo crops and their blurred, noisy reconstructions."""
    originals = photo_crops(48, 20, seed=5)
    return originals, DISTORTIONS["noise+blur"](originals)


def test_rfid_matches_scipy_on_the_same_features(pairs) -> None:
    originals, reconstructions = pairs
    extractor = RandomFeatures()
    metric = RFID(feature_extractor=extractor)
    for start in range(0, len(originals), 16):  # batches of uneven size
        metric.update(originals[start : start + 16], reconstructions[start : start + 16])
    assert metric.count == len(originals)
    got = metric.compute()
    with torch.no_grad():
        a = extractor(to_uint8(originals)).double().numpy()
        b = extractor(to_uint8(reconstructions)).double().numpy()
    want = scipy_frechet(a, b)
    assert want > 0.05  # a real distance, not a degenerate zero
    assert got == pytest.approx(want, rel=1e-5)
    ours = frechet_distance(*feature_statistics(torch.from_numpy(a)), *feature_statistics(torch.from_numpy(b)))
    assert ours == pytest.approx(want, rel=1e-8)
    assert "custom feature extractor RandomFeatures" in metric.implementation
    assert isinstance(metric, DatasetMetric) and not metric.higher_is_better


def test_rfid_is_deterministic_and_resets(pairs) -> None:
    originals, reconstructions = pairs
    metric = RFID(feature_extractor=RandomFeatures())
    metric.update(originals, reconstructions)
    first = metric.compute()
    metric.reset()
    assert metric.count == 0
    metric.update(originals, reconstructions)
    assert metric.compute() == first
    same = RFID(feature_extractor=RandomFeatures())
    same.update(originals, originals)
    assert abs(same.compute()) < 1e-6


def test_images_enter_as_rounded_uint8() -> None:
    levels = torch.arange(256, dtype=torch.float32) / 255  # what 8-bit files decode to
    assert torch.equal(to_uint8(levels), torch.arange(256, dtype=torch.uint8))
    assert to_uint8(torch.tensor([0.4 / 255, 0.6 / 255])).tolist() == [0, 1]


def test_frechet_distance_of_diagonal_gaussians_by_hand() -> None:
    var1, var2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    mean1, mean2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    # |dm|^2 + sum (sqrt(v1) - sqrt(v2))^2 = (1 + 0 + 4) + (1 + 0 + 4)
    assert frechet_distance(mean1, torch.diag(var1), mean2, torch.diag(var2)) == pytest.approx(10.0, abs=1e-12)


def test_frechet_distance_with_rank_deficient_covariances() -> None:
    """Fewer samples than dimensions (the small-sample rFID case): scipy and ours still agree."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(12, 40, generator=generator, dtype=torch.float64)
    b = torch.randn(12, 40, generator=generator, dtype=torch.float64) * 1.5 + 0.2
    ours = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert ours == pytest.approx(scipy_frechet(a.numpy(), b.numpy()), rel=1e-6)


def test_rfid_refuses_bad_input(pairs) -> None:
    originals, reconstructions = pairs
    metric = RFID(feature_extractor=RandomFeatures())
    with pytest.raises(ShapeError, match="RGB"):
        metric.update(originals[:, :1], reconstructions[:, :1])
    with pytest.raises(ShapeError, match="one shape"):
        metric.update(originals, reconstructions[:-1])
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        metric.update(originals * 255, reconstructions * 255)
    metric.update(originals[:1], reconstructions[:1])
    with pytest.raises(MetricInputError, match="at least 2 samples, got 1"):
        metric.compute()
    with pytest.raises(MetricInputError):
        feature_statistics(torch.zeros(1, 4))


def test_real_rfid_is_unavailable_offline_quickly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(MetricUnavailable, match=r"^weights not found: .*weights-inception-2015-12-05-6726825d\.pth"):
        RFID.pretrained(torch.device("cpu"))
    assert time.monotonic() - start < 5


def test_real_rfid_builds_from_cached_weights_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The real construction path: Inception weights found in the torch hub cache (here random ones of the right
    architecture), no network, torch-fidelity's TF1-compatible resize, 2048-d features, the same update."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with monkeypatch.context() as patch:  # build the architecture without its weights, to save random ones
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        random_inception = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(random_inception.state_dict(), cache / "weights-inception-2015-12-05-6726825d.pth")

    metric = RFID.pretrained(torch.device("cpu"))
    assert metric._fid.inception.use_antialias is False
    assert "torch-fidelity" in metric.implementation and "2048-d pool3" in metric.implementation
    originals = photo_crops(40, 1)[:2]  # Inception on the CPU is slow, and compute() on 2048-d features more so:
    metric.update(originals, DISTORTIONS["blur"](originals))  # the arithmetic is checked above on small features
    assert metric.count == 2
    assert metric._fid.real_features_sum.shape == (2048,) and torch.isfinite(metric._fid.fake_features_sum).all()
