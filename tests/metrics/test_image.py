"""PSNR and SSIM against scikit-image on real photographs with realistic distortions; shapes; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnitok.errors import DTypeError, NonFiniteError, ShapeError
from omnitok.metrics import PSNR, SSIM, MetricInputError, SampleMetric, psnr, ssim, to_unit_range

from .conftest import DISTORTIONS


def skimage_figures(x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-image (PSNR, SSIM) from scikit-image with the pinned convention, on the very same float values."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnrs, ssims = [], []
    for a, b in zip(x.double().permute(0, 2, 3, 1).numpy(), y.double().permute(0, 2, 3, 1).numpy()):
        psnrs.append(peak_signal_noise_ratio(a, b, data_range=1))
        ssims.append(
            structural_similarity(
                a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1
            )
        )
    return np.array(psnrs), np.array(ssims)


@pytest.mark.parametrize("distortion", sorted(DISTORTIONS))
def test_psnr_and_ssim_agree_with_scikit_image(photos: torch.Tensor, distortion: str) -> None:
    distorted = DISTORTIONS[distortion](photos)
    want_psnr, want_ssim = skimage_figures(photos, distorted)
    got_psnr, got_ssim = PSNR()(photos, distorted), SSIM()(photos, distorted)
    assert got_psnr.shape == got_ssim.shape == (len(photos),)
    np.testing.assert_allclose(got_psnr.double().numpy(), want_psnr, rtol=1e-4, atol=0)
    np.testing.assert_allclose(got_ssim.double().numpy(), want_ssim, rtol=0, atol=1e-3)
    # the distortions are real ones, not near-identity: figures in the range photos give
    assert 15 < want_psnr.min() and want_psnr.max() < 45
    assert 0.3 < want_ssim.min() and want_ssim.max() < 0.99


def test_ssim_on_odd_sizes_and_grey(photos: torch.Tensor) -> None:
    x = photos[:3, :, :37, :53]
    y = DISTORTIONS["noise"](x)
    _, want = skimage_figures(x, y)
    np.testing.assert_allclose(SSIM()(x, y).double().numpy(), want, atol=1e-3)
    grey = x.mean(1, keepdim=True)
    noisy = DISTORTIONS["noise"](grey)
    _, want_grey = skimage_figures(grey, noisy)
    np.testing.assert_allclose(ssim(grey, noisy).double().numpy(), want_grey, atol=1e-3)


def test_identical_images_score_best(photos: torch.Tensor) -> None:
    assert torch.allclose(SSIM()(photos, photos), torch.ones(len(photos)), atol=1e-5)
    assert torch.equal(PSNR()(photos, photos), torch.full((len(photos),), 100.0))


def test_figures_are_per_sample_and_independent_of_the_batch(photos: torch.Tensor) -> None:
    distorted = DISTORTIONS["jpeg"](photos)
    for metric in (PSNR(), SSIM()):
        whole = metric(photos, distorted)
        one_by_one = torch.cat([metric(photos[i : i + 1], distorted[i : i + 1]) for i in range(len(photos))])
        torch.testing.assert_close(whole, one_by_one, rtol=1e-6, atol=1e-6)
        assert torch.equal(whole, metric(photos, distorted))  # deterministic


def test_ssim_is_not_shift_invariant_so_the_scale_matters(photos: torch.Tensor) -> None:
    """Scoring [-1, 1] images as if they were [0, 1] gives another SSIM: the metrics refuse them."""
    x, y = photos[:2], DISTORTIONS["noise"](photos[:2])
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        SSIM()(x * 2 - 1, y * 2 - 1)
    torch.testing.assert_close(SSIM()(to_unit_range(x * 2 - 1), to_unit_range(y * 2 - 1)), SSIM()(x, y))


def test_metrics_satisfy_the_protocol() -> None:
    for metric in (PSNR(), SSIM()):
        assert isinstance(metric, SampleMetric)
        assert metric.higher_is_better
    assert "torchmetrics" in SSIM().implementation and "sigma 1.5" in SSIM().implementation


@pytest.mark.parametrize("metric", [PSNR(), SSIM()], ids=["psnr", "ssim"])
def test_bad_input_is_refused_clearly(metric, photos: torch.Tensor) -> None:
    x = photos[:2]
    with pytest.raises(ShapeError, match="one shape"):
        metric(x, x[:, :, :-1])
    with pytest.raises(ShapeError, match=r"\[B, C, H, W\]"):
        metric(x[0], x[0])
    with pytest.raises(DTypeError, match="uint8"):
        metric((x * 255).to(torch.uint8), (x * 255).to(torch.uint8))
    with pytest.raises(MetricInputError, match="reconstruction has values in"):
        metric(x, x + 0.5)
    with pytest.raises(MetricInputError, match="original has values in"):
        metric(x - 0.5, x)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        metric(x, bad)


def test_ssim_needs_its_window(photos: torch.Tensor) -> None:
    with pytest.raises(ShapeError, match="11x11"):
        SSIM()(photos[:1, :, :10, :10], photos[:1, :, :10, :10])
    assert psnr(photos[:1, :, :10, :10], photos[:1, :, :10, :10]).shape == (1,)
