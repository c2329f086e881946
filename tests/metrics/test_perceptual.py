"""LPIPS: the arithmetic on an explicitly random backbone (against lpips itself and a written-out formula), and
the real network refusing to run without its weights."""

from __future__ import annotations

import time
import warnings

import pytest
import torch

from omnitok.errors import DTypeError, ShapeError
from omnitok.metrics import LPIPS, MetricInputError, MetricUnavailable, SampleMetric

from .conftest import DISTORTIONS


@pytest.fixture(scope="module")
def random_lpips():
    import lpips

    torch.manual_seed(0)
    with warnings.catch_warnings():  # lpips passes torchvision the deprecated pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        return lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()


def written_out_lpips(network, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """LPIPS by its definition, from the network's parts: per layer, unit-normalise the features over channels,
    square the difference, weight the channels (the learned 1x1 layer), average over space; sum over layers."""
    with torch.no_grad():
        fx = network.net(network.scaling_layer(x * 2 - 1))
        fy = network.net(network.scaling_layer(y * 2 - 1))
        total = torch.zeros(len(x))
        for layer, (a, b) in enumerate(zip(fx, fy)):
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            weight = network.lins[layer].model[-1].weight  # [1, C, 1, 1]
            total += ((a - b).pow(2) * weight).sum(1).mean((1, 2))
    return total


def test_lpips_matches_the_library_and_its_definition(random_lpips, photos: torch.Tensor) -> None:
    x = photos[:6, :, :64, :64]
    y = DISTORTIONS["jpeg"](x)
    metric = LPIPS(random_lpips)
    got = metric(x, y)
    assert got.shape == (6,) and got.dtype == torch.float32
    with torch.no_grad():
        library = random_lpips(x, y, normalize=True).reshape(-1)  # lpips' own [0, 1] -> [-1, 1] mapping
    torch.testing.assert_close(got, library, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got, written_out_lpips(random_lpips, x, y), rtol=1e-5, atol=1e-7)
    assert torch.equal(got, metric(x, y))  # deterministic
    assert torch.all(metric(x, x) == 0)
    assert "RANDOM backbone" in metric.implementation and "net=alex" in metric.implementation
    assert isinstance(metric, SampleMetric) and not metric.higher_is_better


def test_lpips_refuses_bad_input(random_lpips, photos: torch.Tensor) -> None:
    metric, x = LPIPS(random_lpips), photos[:2, :, :32, :32]
    with pytest.raises(ShapeError, match=r"RGB"):
        metric(x[:, :1], x[:, :1])
    with pytest.raises(ShapeError, match="one shape"):
        metric(x, x[:1])
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        metric(x * 2 - 1, x)
    with pytest.raises(DTypeError):
        metric(x.to(torch.uint8), x.to(torch.uint8))


def test_real_lpips_is_unavailable_offline_quickly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torch hub cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(MetricUnavailable, match=r"^weights not found: .*alexnet-owt-7be5be79\.pth"):
        LPIPS.pretrained(torch.device("cpu"))
    assert time.monotonic() - start < 5
