"""Loss terms for audio codecs: multi-scale mel L1 (DAC), multi-resolution STFT (Parallel WaveGAN) and negative
SI-SDR (a scale-invariant waveform term: the spectral terms are blind to phase, L1 pulls an out-of-phase output
towards silence; SI-SDR rewards the waveform itself, whatever its gain).

Both take waveforms [B, C, S] (stereo channels are folded into the batch) and, like every generator loss term,
carry ``name`` and ``weight``. Spectrograms come from torchaudio (imported when a term is built).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError
from omnitok.metrics.audio import stft_magnitude


def _fold(reconstruction: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    if reconstruction.shape != target.shape or reconstruction.ndim != 3:
        raise ShapeError(
            f"audio losses need waveforms [B, C, S] of equal shape, got {tuple(reconstruction.shape)} and {tuple(target.shape)}"
        )
    return reconstruction.float().flatten(0, 1), target.float().flatten(0, 1)  # (B*C, S)


class MultiScaleMelLoss(nn.Module, Configurable):
    """Mean over scales of ``L1(log mel(x_hat), log mel(x)) * log_weight + L1(mel(x_hat), mel(x)) * linear_weight``.

    Mel spectrograms are magnitudes (power 1), Hann window of n_fft samples, hop ``n_fft // 4``, centred with
    reflect padding, HTK mel scale without band normalization (torchaudio's defaults); the log is
    ``log10(max(mel, clamp))``.

    Args:
        sample_rate: of the waveforms.
        n_ffts: window length of each scale (DAC: 32 ... 2048).
        n_mels: mel bands per scale (one per n_fft).
        log_weight, linear_weight: weights of the log-mel and linear-mel L1 parts.
        clamp: floor of the mel magnitude before the log.
        weight: weight of the whole term in the generator loss.
    """

    def __init__(
        self,
        sample_rate: int,
        n_ffts: Sequence[int] = (32, 64, 128, 256, 512, 1024, 2048),
        n_mels: Sequence[int] = (5, 10, 20, 40, 80, 160, 320),
        log_weight: float = 1.0,
        linear_weight: float = 0.0,
        clamp: float = 1e-5,
        weight: float = 1.0,
    ):
        super().__init__()
        import torchaudio

        if len(n_ffts) != len(n_mels) or not n_ffts:
            raise ConfigError(f"n_ffts and n_mels need one entry per scale, got {list(n_ffts)} and {list(n_mels)}")
        self.name, self.weight = "mel", float(weight)
        self.log_weight, self.linear_weight, self.clamp = float(log_weight), float(linear_weight), float(clamp)
        self.transforms = nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate,
                n_fft=n_fft,
                hop_length=max(1, n_fft // 4),
                n_mels=mels,
                power=1.0,
                center=True,
                pad_mode="reflect",
            )
            for n_fft, mels in zip(n_ffts, n_mels)
        )

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        x_hat, x = _fold(reconstruction, target)
        total = x.new_zeros(())
        with torch.autocast(x.device.type, enabled=False):
            for transform in self.transforms:
                mel_hat, mel = transform(x_hat), transform(x)
                if self.log_weight:
                    log_hat, log = (m.clamp_min(self.clamp).log10() for m in (mel_hat, mel))
                    total = total + self.log_weight * F.l1_loss(log_hat, log)
                if self.linear_weight:
                    total = total + self.linear_weight * F.l1_loss(mel_hat, mel)
        return total / len(self.transforms)


class MultiResolutionSTFTLoss(nn.Module, Configurable):
    """Mean over resolutions of spectral convergence ``||S_hat - S||_F / ||S||_F`` plus log-magnitude L1
    ``mean |log S_hat - log S|`` (Yamamoto et al., Parallel WaveGAN), each on Hann-windowed STFT magnitudes.

    Args:
        n_ffts, hops: one FFT size and hop per resolution (window length = n_fft).
        weight: weight of the term.
    """

    def __init__(
        self, n_ffts: Sequence[int] = (512, 1024, 2048), hops: Sequence[int] = (128, 256, 512), weight: float = 1.0
    ):
        super().__init__()
        if len(n_ffts) != len(hops) or not n_ffts:
            raise ConfigError(f"n_ffts and hops need one entry per resolution, got {list(n_ffts)} and {list(hops)}")
        self.name, self.weight = "stft", float(weight)
        self.resolutions = [(int(n), int(h)) for n, h in zip(n_ffts, hops)]
        for n_fft, _ in self.resolutions:
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        x_hat, x = _fold(reconstruction, target)
        total = x.new_zeros(())
        with torch.autocast(x.device.type, enabled=False):
            for n_fft, hop in self.resolutions:
                window = getattr(self, f"window_{n_fft}")
                s_hat, s = stft_magnitude(x_hat, n_fft, hop, window), stft_magnitude(x, n_fft, hop, window)
                convergence = torch.linalg.norm(s_hat - s) / torch.linalg.norm(s).clamp_min(1e-7)
                total = total + convergence + F.l1_loss(s_hat.log(), s.log())
        return total / len(self.resolutions)


class SISDRLoss(nn.Module, Configurable):
    """Negative scale-invariant SDR in dB, averaged over batch and channels (Le Roux et al., 2019).

    Per signal (both made zero-mean): ``target = <x_hat, x> x / ||x||^2``, loss ``-10 log10(||target||^2 /
    ||x_hat - target||^2)``; ``eps`` keeps silent segments finite. Lower is better; 0 is equal energy of signal and
    error, -20 is an error 20 dB below the signal.

    Args:
        weight: weight of the term (1 dB of SI-SDR is ``weight`` units of loss).
        eps: added to both energies.
    """

    def __init__(self, weight: float = 0.05, eps: float = 1e-8):
        super().__init__()
        self.name, self.weight, self.eps = "si_sdr", float(weight), float(eps)

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        x_hat, x = _fold(reconstruction, target)
        with torch.autocast(x.device.type, enabled=False):
            x, x_hat = x - x.mean(-1, keepdim=True), x_hat - x_hat.mean(-1, keepdim=True)
            alpha = (x_hat * x).sum(-1, keepdim=True) / (x.pow(2).sum(-1, keepdim=True) + self.eps)
            projection = alpha * x
            ratio = (projection.pow(2).sum(-1) + self.eps) / ((x_hat - projection).pow(2).sum(-1) + self.eps)
            return -10 * torch.log10(ratio).mean()
