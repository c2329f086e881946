"""Video metrics: per-frame PSNR/SSIM/LPIPS against per-frame formulas and scikit-image, flicker on hand-made clips
and by hand, input checks, and the registered "video" metrics in the report's order."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from omnitok.errors import ShapeError
from omnitok.metrics import LPIPS, PSNR, SSIM, MetricInputError, SampleMetric, build_metrics, metric_factories
from omnitok.metrics.video import Flicker, PerFrame, flicker, fold_frames

from .conftest import add_noise, photo_crops


@pytest.fixture(scope="module")
def clips() -> tuple[torch.Tensor, torch.Tensor]:
    """2 clips of 4 frames of 32x32 real photo crops (frames from different crops) and noisy reconstructions."""
    frames = photo_crops(32, 3, seed=2)[:8]  # (8, 3, 32, 32)
    original = frames.reshape(2, 4, 3, 32, 32).transpose(1, 2).contiguous()  # (B=2, C, T=4, H, W)
    noisy = torch.stack([add_noise(original[:, :, t], 0.02 * (t + 1), seed=t) for t in range(4)], dim=2)
    return original, noisy


def test_fold_frames_is_clip_major(clips) -> None:
    original, _ = clips
    folded = fold_frames(original)
    assert folded.shape == (8, 3, 32, 32)
    assert torch.equal(folded[5], original[1, :, 1])  # clip 1, frame 1


def test_per_frame_psnr_is_the_frame_formula(clips) -> None:
    original, noisy = clips
    metric = PerFrame(PSNR())
    curve = metric.per_frame(original, noisy)
    assert curve.shape == (2, 4) and curve.dtype == torch.float32
    for b in range(2):
        for t in range(4):
            mse = float((original[b, :, t].double() - noisy[b, :, t].double()).pow(2).mean())
            assert float(curve[b, t]) == pytest.approx(10 * np.log10(1 / mse), abs=1e-4)
    assert (curve[:, :-1] > curve[:, 1:]).all()  # noise grows with the frame index, PSNR falls
    assert torch.allclose(metric(original, noisy), curve.mean(1))
    assert isinstance(metric, SampleMetric) and metric.name == "psnr" and metric.higher_is_better
    assert metric.implementation.startswith("per frame") and "10*log10" in metric.implementation


def test_per_frame_ssim_matches_scikit_image(clips) -> None:
    from skimage.metrics import structural_similarity

    original, noisy = clips
    curve = PerFrame(SSIM()).per_frame(original, noisy)
    for b, t in [(0, 0), (1, 3)]:
        want = structural_similarity(
            original[b, :, t].permute(1, 2, 0).double().numpy(),
            noisy[b, :, t].permute(1, 2, 0).double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1,
            channel_axis=2,
        )
        assert float(curve[b, t]) == pytest.approx(want, abs=1e-4)


def test_per_frame_lpips_scores_each_frame_and_chunks(clips, monkeypatch: pytest.MonkeyPatch) -> None:
    import lpips

    from omnitok.metrics import video

    original, noisy = clips
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        network = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    image_metric = LPIPS(network)
    monkeypatch.setattr(video, "FRAME_CHUNK", 3)  # 8 frames in calls of 3, 3, 2
    curve = PerFrame(image_metric).per_frame(original, noisy)
    with torch.no_grad():
        want = torch.stack([network(original[:, :, t] * 2 - 1, noisy[:, :, t] * 2 - 1).flatten() for t in range(4)], 1)
    torch.testing.assert_close(curve, want, rtol=1e-5, atol=1e-6)
    assert "RANDOM backbone" in PerFrame(image_metric).implementation


def test_flicker_by_hand() -> None:
    original = torch.full((1, 1, 3, 1, 1), 0.5)
    reconstruction = original + torch.tensor([0.0, 0.1, -0.1]).reshape(1, 1, 3, 1, 1)
    # error 0, 0.1, -0.1 -> transitions |0.1 - 0| = 0.1 and |-0.1 - 0.1| = 0.2
    torch.testing.assert_close(Flicker().per_frame(original, reconstruction), torch.tensor([[0.1, 0.2]]))
    torch.testing.assert_close(Flicker()(original, reconstruction), torch.tensor([0.15]))


def test_per_frame_noise_flickers_a_constant_offset_does_not() -> None:
    """A static scene reconstructed with fresh noise per frame vs. with one constant offset of the same size: equal
    PSNR, but only the noise flickers."""
    scene = photo_crops(32, 1, seed=4)[:2] * 0.8 + 0.1  # (2, 3, 32, 32), kept away from 0 and 1
    static = scene.unsqueeze(2).repeat(1, 1, 6, 1, 1)  # (B=2, C, T=6, H, W): nothing moves
    generator = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, static.shape, generator=generator) * 2 - 1
    noisy = static + 0.05 * signs  # |error| = 0.05 everywhere, a fresh sign pattern each frame
    offset = static + 0.05  # |error| = 0.05 everywhere, the same each frame
    torch.testing.assert_close(
        PSNR()(fold_frames(static), fold_frames(noisy)), PSNR()(fold_frames(static), fold_frames(offset))
    )
    steady, flickering = Flicker()(static, offset), Flicker()(static, noisy)
    assert torch.all(steady < 1e-6)
    # a sign change moves the error by 0.1, and half the pixels change sign: about 0.05
    assert torch.allclose(flickering, torch.full((2,), 0.05), atol=0.005)


def test_flicker_formula_matches_its_definition(clips) -> None:
    original, noisy = clips
    want = ((noisy[:, :, 1:] - noisy[:, :, :-1]) - (original[:, :, 1:] - original[:, :, :-1])).abs().mean((1, 3, 4))
    torch.testing.assert_close(flicker(original, noisy), want)


def test_bad_video_input_is_a_clear_error(clips) -> None:
    original, noisy = clips
    with pytest.raises(ShapeError, match=r"\[B, C, T, H, W\]"):
        PerFrame(PSNR())(original[:, :, 0], noisy[:, :, 0])
    with pytest.raises(ShapeError, match="one shape"):
        PerFrame(PSNR())(original, noisy[:, :, :3])
    with pytest.raises(ShapeError, match="at least 2 frames"):
        Flicker()(original[:, :, :1], noisy[:, :, :1])
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        Flicker()(original * 2 - 1, noisy * 2 - 1)
    with pytest.raises(ShapeError, match="11x11"):
        PerFrame(SSIM())(original[..., :8, :8], noisy[..., :8, :8])


def test_video_metrics_are_registered_in_report_order(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert [name for name, _ in metric_factories("video")] == ["psnr", "ssim", "lpips", "flicker", "fvd"]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ready, unavailable = build_metrics("video", torch.device("cpu"))
    assert [m.name for m in ready] == ["psnr", "ssim", "flicker"]
    assert set(unavailable) == {"lpips", "fvd"}
    assert unavailable["fvd"].startswith("weights not found") and "rgb_imagenet.pt" in unavailable["fvd"]
    assert isinstance(ready[0], PerFrame) and isinstance(ready[0].image_metric, PSNR)
