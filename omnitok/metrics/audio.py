"""Per-sample audio metrics: waveforms [B, C, S] as float32 in [-1, 1]; each returns [B] (channels averaged).

- SI-SDR (Le Roux et al., 2019), dB, higher is better: both signals made zero-mean, ``target = <s_hat, s> s /
  ||s||^2``, ``10 log10(||target||^2 / ||s_hat - target||^2)``.
- Mel distance, lower is better: mean over two scales (windows of 20 and 80 ms, hop a quarter window, 40 and 80
  HTK mel bands, magnitudes) of ``mean |log10 max(mel_hat, 1e-5) - log10 max(mel, 1e-5)|``. Needs the sample rate.
- Multi-resolution STFT distance, lower is better: mean over FFT sizes 512, 1024, 2048 (hop a quarter, Hann) of
  spectral convergence ``||S_hat - S||_F / ||S||_F`` plus ``mean |log S_hat - log S|`` (per sample).
- PESQ (wide band, at 16 kHz) and STOI, higher is better, through the ``pesq`` and ``pystoi`` packages when they
  are installed; their factories raise :class:`MetricUnavailable` otherwise.

Metrics that depend on the sample rate take it as ``sample_rate=`` in the call or as the ``sample_rate``
attribute, which the evaluation runner sets from the tokenizer's spec.
"""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.metrics.checks import MetricInputError

MEL_WINDOWS_SECONDS = (0.02, 0.08)
MEL_BANDS = (40, 80)
STFT_SIZES = (512, 1024, 2048)


def check_audio_pair(original: Tensor, reconstruction: Tensor) -> None:
    """Raise MetricInputError unless both are finite float waveforms [B, C, S] of one shape."""
    for name, x in (("original", original), ("reconstruction", reconstruction)):
        if not isinstance(x, Tensor) or x.ndim != 3 or not x.is_floating_point():
            raise MetricInputError(f"audio metrics take float waveforms [B, C, S]; {name} is {getattr(x, 'shape', x)}")
        if not torch.isfinite(x).all():
            raise MetricInputError(f"{name} audio holds NaN or Inf")
    if original.shape != reconstruction.shape:
        raise MetricInputError(f"audio shapes differ: {tuple(original.shape)} vs {tuple(reconstruction.shape)}")


def si_sdr(original: Tensor, reconstruction: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale-invariant SDR in dB per sample, [B, C, S] -> [B] (mean over channels)."""
    check_audio_pair(original, reconstruction)
    s = original.double() - original.double().mean(-1, keepdim=True)
    s_hat = reconstruction.double() - reconstruction.double().mean(-1, keepdim=True)
    alpha = (s_hat * s).sum(-1, keepdim=True) / (s.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * s
    noise = s_hat - target
    ratio = (target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps)
    return (10 * torch.log10(ratio)).mean(1).float()


def stft_magnitude(x: Tensor, n_fft: int, hop: int, window: Tensor) -> Tensor:
    """|STFT| of x [N, S] (centred, reflect padding), floored at 1e-7 in power: [N, n_fft // 2 + 1, frames]."""
    spec = torch.stft(x, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True)
    return (spec.real.pow(2) + spec.imag.pow(2)).clamp_min(1e-7).sqrt()


def stft_distance(original: Tensor, reconstruction: Tensor, sizes: tuple[int, ...] = STFT_SIZES) -> Tensor:
    """Multi-resolution STFT distance per sample (see the module docstring), [B, C, S] -> [B]."""
    check_audio_pair(original, reconstruction)
    b, c, s = original.shape
    x, x_hat = original.float().reshape(b * c, s), reconstruction.float().reshape(b * c, s)
    total = x.new_zeros(b)
    for n_fft in sizes:
        if s <= n_fft // 2:
            raise MetricInputError(f"audio of {s} samples is too short for the {n_fft}-point STFT distance")
        window = torch.hann_window(n_fft, device=x.device)
        mag, mag_hat = (stft_magnitude(v, n_fft, n_fft // 4, window).reshape(b, c, -1) for v in (x, x_hat))
        convergence = (mag_hat - mag).flatten(1).norm(dim=1) / mag.flatten(1).norm(dim=1).clamp_min(1e-7)
        log_l1 = (mag_hat.log() - mag.log()).abs().flatten(1).mean(1)
        total = total + convergence + log_l1
    return total / len(sizes)


def mel_distance(original: Tensor, reconstruction: Tensor, sample_rate: int) -> Tensor:
    """Two-scale log-mel L1 per sample (see the module docstring), [B, C, S] -> [B]."""
    import torchaudio

    check_audio_pair(original, reconstruction)
    b, c, s = original.shape
    x, x_hat = original.float().reshape(b * c, s), reconstruction.float().reshape(b * c, s)
    total = x.new_zeros(b)
    for seconds, bands in zip(MEL_WINDOWS_SECONDS, MEL_BANDS):
        n_fft = max(8, round(seconds * sample_rate))
        if s <= n_fft // 2:
            raise MetricInputError(f"audio of {s} samples is too short for the {seconds * 1000:.0f} ms mel distance")
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=n_fft, hop_length=n_fft // 4, n_mels=bands, power=1.0, pad_mode="reflect"
        ).to(x.device)
        log, log_hat = (mel(v).clamp_min(1e-5).log10().reshape(b, -1) for v in (x, x_hat))
        total = total + (log_hat - log).abs().mean(1)
    return total / len(MEL_WINDOWS_SECONDS)


class _RateMetric:
    sample_rate: int | None = None

    def _rate(self, sample_rate: int | None) -> int:
        rate = sample_rate or self.sample_rate
        if not rate:
            raise MetricInputError(f"{self.name} needs the sample rate: pass sample_rate= or set metric.sample_rate")
        return int(rate)


class SISDR:
    name, higher_is_better = "si_sdr", True
    implementation = "omnitok SI-SDR (zero-mean, float64)"

    def __call__(self, original: Tensor, reconstruction: Tensor, sample_rate: int | None = None) -> Tensor:
        return si_sdr(original, reconstruction)


class MelDistance(_RateMetric):
    name, higher_is_better = "mel_distance", False

    @property
    def implementation(self) -> str:
        import torchaudio

        return f"torchaudio {torchaudio.__version__} MelSpectrogram, log10 L1, windows 20/80 ms, 40/80 bands"

    def __call__(self, original: Tensor, reconstruction: Tensor, sample_rate: int | None = None) -> Tensor:
        return mel_distance(original, reconstruction, self._rate(sample_rate))


class STFTDistance:
    name, higher_is_better = "stft_distance", False
    implementation = f"torch.stft, FFT sizes {STFT_SIZES}, spectral convergence + log-magnitude L1"

    def __call__(self, original: Tensor, reconstruction: Tensor, sample_rate: int | None = None) -> Tensor:
        return stft_distance(original, reconstruction)


class PESQ(_RateMetric):
    """Wide-band PESQ (ITU-T P.862.2) at 16 kHz of the channel mean; needs the ``pesq`` package."""

    name, higher_is_better = "pesq", True

    def __init__(self) -> None:
        import pesq

        self._pesq = pesq.pesq
        self.implementation = f"pesq {getattr(pesq, '__version__', '')} wide band at 16 kHz".replace("  ", " ")

    def __call__(self, original: Tensor, reconstruction: Tensor, sample_rate: int | None = None) -> Tensor:
        from omnitok.data.audio import resample

        check_audio_pair(original, reconstruction)
        rate = self._rate(sample_rate)
        ref, deg = (resample(v.float().mean(1).cpu(), rate, 16_000).double().numpy() for v in (original, reconstruction))
        return torch.tensor([float(self._pesq(16_000, r, d, "wb")) for r, d in zip(ref, deg)])


class STOI(_RateMetric):
    """Short-time objective intelligibility of the channel mean; needs the ``pystoi`` package."""

    name, higher_is_better = "stoi", True

    def __init__(self) -> None:
        import pystoi

        self._stoi = pystoi.stoi
        self.implementation = "pystoi"

    def __call__(self, original: Tensor, reconstruction: Tensor, sample_rate: int | None = None) -> Tensor:
        check_audio_pair(original, reconstruction)
        rate = self._rate(sample_rate)
        ref, deg = (v.float().mean(1).cpu().double().numpy() for v in (original, reconstruction))
        return torch.tensor([float(self._stoi(r, d, rate, extended=False)) for r, d in zip(ref, deg)])


def snr_db(original: Tensor, reconstruction: Tensor) -> Tensor:
    """Plain SNR in dB per sample (not scale-invariant), for reference: 10 log10(||s||^2 / ||s_hat - s||^2)."""
    check_audio_pair(original, reconstruction)
    signal = original.double().pow(2).flatten(1).sum(1)
    noise = (reconstruction.double() - original.double()).pow(2).flatten(1).sum(1)
    return (10 * torch.log10((signal + 1e-12) / (noise + 1e-12))).float()


__all__ = ["PESQ", "SISDR", "STOI", "MelDistance", "STFTDistance", "mel_distance", "si_sdr", "snr_db", "stft_distance"]
