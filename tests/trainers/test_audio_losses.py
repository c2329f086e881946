"""Spectral losses against written-out numpy STFT / mel computations, and the audio discriminators' GAN loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnitok import ShapeError
from omnitok.trainers.audio_discriminators import (
    CombinedDiscriminator,
    DiscriminatorOutput,
    FeatureMatchingGANLoss,
    MultiPeriodDiscriminator,
    MultiScaleSTFTDiscriminator,
    feature_matching,
)
from omnitok.trainers.audio_losses import MultiResolutionSTFTLoss, MultiScaleMelLoss, SISDRLoss


def stft_numpy(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| written out: reflect-pad n_fft/2 each side, periodic Hann window, frames every hop, rfft."""
    padded = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[i : i + n_fft] * window for i in range(0, len(padded) - n_fft + 1, hop)])
    spectrum = np.fft.rfft(frames, axis=1).T  # (bins, frames)
    return np.sqrt(np.maximum(np.abs(spectrum) ** 2, 1e-7))


def mel_filters_numpy(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """HTK triangular mel filters [bins, n_mels] over 0 .. sample_rate / 2, no area normalization."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    points = 700 * (10 ** (np.linspace(mel(0), mel(sample_rate / 2), n_mels + 2) / 2595) - 1)
    filters = np.zeros((len(freqs), n_mels))
    for m in range(n_mels):
        lo, mid, hi = points[m : m + 3]
        filters[:, m] = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return filters


def mel_numpy(v: torch.Tensor, n_fft: int, filters: np.ndarray) -> np.ndarray:
    """Mel magnitudes written out: the framing of :func:`stft_numpy` without the floor, through ``filters``."""
    padded = np.pad(v.double().numpy(), (n_fft // 2, n_fft // 2), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[i : i + n_fft] * window for i in range(0, len(padded) - n_fft + 1, n_fft // 4)])
    return filters.T @ np.abs(np.fft.rfft(frames, axis=1)).T


@pytest.fixture
def pair():
    generator = torch.Generator().manual_seed(3)
    t = torch.arange(4000) / 8000
    x = (0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(4000, generator=generator)).view(1, 1, -1)
    x = torch.cat([x, 0.3 * torch.randn(1, 1, 4000, generator=generator)])  # [2, 1, 4000]
    x_hat = x + 0.1 * torch.randn(x.shape, generator=generator)
    return x_hat, x


def test_multi_resolution_stft_matches_written_out_formula(pair):
    x_hat, x = pair
    resolutions = [(256, 64), (512, 128)]
    loss = MultiResolutionSTFTLoss(n_ffts=[r[0] for r in resolutions], hops=[r[1] for r in resolutions])
    expected = 0.0
    for n_fft, hop in resolutions:
        s_hat = np.stack([stft_numpy(v, n_fft, hop) for v in x_hat[:, 0].double().numpy()])
        s = np.stack([stft_numpy(v, n_fft, hop) for v in x[:, 0].double().numpy()])
        expected += np.linalg.norm(s_hat - s) / np.linalg.norm(s) + np.abs(np.log(s_hat) - np.log(s)).mean()
    assert float(loss(x_hat, x)) == pytest.approx(expected / len(resolutions), rel=1e-4)
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6)


def test_multi_scale_mel_matches_written_out_formula(pair):
    x_hat, x = pair
    scales = [(128, 16), (512, 40)]
    loss = MultiScaleMelLoss(8000, n_ffts=[s[0] for s in scales], n_mels=[s[1] for s in scales], linear_weight=0.5)
    expected = 0.0
    for n_fft, n_mels in scales:
        filters = mel_filters_numpy(8000, n_fft, n_mels)
        m_hat = np.stack([mel_numpy(v, n_fft, filters) for v in x_hat[:, 0]])
        m = np.stack([mel_numpy(v, n_fft, filters) for v in x[:, 0]])
        log_l1 = np.abs(np.log10(np.maximum(m_hat, 1e-5)) - np.log10(np.maximum(m, 1e-5))).mean()
        expected += log_l1 + 0.5 * np.abs(m_hat - m).mean()
    assert float(loss(x_hat, x)) == pytest.approx(expected / len(scales), rel=1e-4)


def test_spectral_losses_fold_stereo_and_check_shapes(pair):
    x_hat, x = pair
    stereo_hat, stereo = x_hat.view(1, 2, -1), x.view(1, 2, -1)
    loss = MultiResolutionSTFTLoss(n_ffts=[256], hops=[64])
    assert torch.allclose(loss(stereo_hat, stereo), loss(x_hat, x))
    with pytest.raises(ShapeError, match="equal shape"):
        loss(x_hat, x[..., :-1])


def test_losses_carry_gradients(pair):
    x_hat, x = pair
    x_hat = x_hat.clone().requires_grad_()
    total = MultiScaleMelLoss(8000, n_ffts=[64, 256], n_mels=[10, 40])(x_hat, x) + MultiResolutionSTFTLoss([256], [64])(
        x_hat, x
    )
    total.backward()
    assert x_hat.grad is not None and torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0


@pytest.mark.parametrize("channels", [1, 2])
def test_discriminator_outputs(channels):
    mpd = MultiPeriodDiscriminator(channels, periods=(2, 3), channels=(4, 8))
    msstft = MultiScaleSTFTDiscriminator(channels, n_ffts=(64, 128), filters=4)
    combined = CombinedDiscriminator([mpd, msstft])
    out = combined(torch.randn(2, channels, 1001))
    assert isinstance(out, DiscriminatorOutput) and len(out.logits) == 4 and len(out.features) == 4
    assert all(logit.shape[0] == 2 and logit.shape[1] == 1 for logit in out.logits)
    assert [len(f) for f in out.features] == [3, 3, 6, 6]  # convs + output per sub-discriminator


def test_feature_matching_and_gan_formulas():
    real = [[torch.ones(2, 3), torch.zeros(4)], [torch.full((5,), 2.0)]]
    fake = [[torch.zeros(2, 3), torch.ones(4)], [torch.full((5,), 1.0)]]
    assert float(feature_matching(real, fake)) == pytest.approx(1.0)

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return DiscriminatorOutput([x.mean().view(1, 1)], [[x]])

    real_x, fake_x = torch.full((1, 1, 4), 0.5), torch.full((1, 1, 4), -0.25)
    hinge = FeatureMatchingGANLoss(Fixed(), kind="hinge", weight=2.0, feature_weight=1.0)
    assert float(hinge.generator_loss(fake_x, real_x)) == pytest.approx(1.25 + 0.5 * 0.75)
    loss, _ = hinge.discriminator_loss(real_x, fake_x)
    assert float(loss) == pytest.approx(0.5 + 0.75)
    lsgan = FeatureMatchingGANLoss(Fixed(), kind="lsgan", weight=1.0, feature_weight=1.0)
    assert float(lsgan.generator_loss(fake_x, real_x)) == pytest.approx(1.25**2 + 0.75)
    assert float(lsgan.discriminator_loss(real_x, fake_x)[0]) == pytest.approx(0.25 + 0.0625)
    assert float(hinge.balance(torch.tensor(1.0), torch.tensor(1.0), None)) == 2.0


def test_si_sdr_loss_matches_written_out_formula_and_ignores_gain():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 800)
    x_hat = 0.7 * x + 0.3 * torch.randn(3, 2, 800)
    expected = []
    for s, e in zip(x.double().flatten(0, 1).numpy(), x_hat.double().flatten(0, 1).numpy()):
        s, e = s - s.mean(), e - e.mean()
        target = (e @ s) / (s @ s) * s
        expected.append(-10 * np.log10((target @ target) / ((e - target) @ (e - target))))
    loss = SISDRLoss(weight=0.5)
    assert loss.name == "si_sdr" and loss.weight == 0.5
    assert loss(x_hat, x).item() == pytest.approx(np.mean(expected), rel=1e-4)
    assert loss(3.0 * x_hat + 0.1, x).item() == pytest.approx(loss(x_hat, x).item(), rel=1e-4)  # gain and offset
    assert loss(x, x).item() < -60 and loss(-x, x).item() < -60  # perfect (sign is part of the gain)
    x_hat.requires_grad_(True)
    loss(x_hat, x).backward()
    assert torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0
    with pytest.raises(ShapeError):
        loss(x_hat[..., :10], x)
