"""Audio discriminators and their GAN loss with feature matching (HiFi-GAN's MPD, EnCodec's MS-STFT).

A discriminator here maps waveforms [B, C, S] in [-1, 1] to a :class:`DiscriminatorOutput`: one logit map per
sub-discriminator and, for feature matching, the activations of each of its layers. :class:`FeatureMatchingGANLoss`
offers the same interface as :class:`omnitok.trainers.AdversarialLoss`, so the generic trainer drives it unchanged.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError


def _wn(module: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.weight_norm(module)


@dataclasses.dataclass
class DiscriminatorOutput:
    """logits: one map per sub-discriminator; features: per sub-discriminator, the activations of its layers."""

    logits: list[Tensor]
    features: list[list[Tensor]]


def _conv_stack(h: Tensor, convs: nn.ModuleList, output: nn.Module, slope: float) -> tuple[Tensor, list[Tensor]]:
    """Leaky-ReLU conv stack of a sub-discriminator -> (logits, every layer's activations + logits, for feature
    matching)."""
    features = []
    for conv in convs:
        h = F.leaky_relu(conv(h), slope)
        features.append(h)
    logits = output(h)
    features.append(logits)
    return logits, features


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN period sub-discriminator: the waveform folded to [B, C, S/p, p], (5, 1) convs strided in time."""

    def __init__(self, period: int, in_channels: int, channels: Sequence[int]):
        super().__init__()
        self.period = period
        sizes = [in_channels, *channels]
        self.convs = nn.ModuleList(
            _wn(nn.Conv2d(c_in, c_out, (5, 1), (3, 1) if i < len(channels) - 1 else 1, padding=(2, 0)))
            for i, (c_in, c_out) in enumerate(itertools.pairwise(sizes))
        )
        self.output = _wn(nn.Conv2d(sizes[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        pad = (-x.shape[-1]) % self.period
        if pad:
            x = F.pad(x, (0, pad), mode="reflect" if x.shape[-1] > pad else "constant")
        h = x.reshape(x.shape[0], x.shape[1], -1, self.period)  # (B, C, S/p, p)
        return _conv_stack(h, self.convs, self.output, slope=0.1)


class MultiPeriodDiscriminator(nn.Module, Configurable):
    """MPD: one :class:`PeriodDiscriminator` per period (HiFi-GAN: 2, 3, 5, 7, 11; channels 32, 128, 512, 1024, 1024).

    Args:
        in_channels: audio channels.
        periods: the folding periods.
        channels: conv channels of each sub-discriminator.
    """

    def __init__(
        self, in_channels: int = 1, periods: Sequence[int] = (2, 3, 5, 7, 11), channels: Sequence[int] = (32, 128, 512, 1024, 1024)
    ):
        super().__init__()
        if not periods or any(p < 1 for p in periods) or not channels:
            raise ConfigError(f"MultiPeriodDiscriminator needs positive periods and channels, got {periods}, {channels}")
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, in_channels, channels) for p in periods)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        outs = [d(x) for d in self.discriminators]
        return DiscriminatorOutput([o[0] for o in outs], [o[1] for o in outs])


class STFTDiscriminator(nn.Module):
    """EnCodec's STFT sub-discriminator: real and imaginary parts as channels [B, 2C, frames, bins], 2-D convs
    dilated in time (1, 2, 4) and strided in frequency."""

    def __init__(self, n_fft: int, in_channels: int, filters: int, dilations: Sequence[int]):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        layers = [_wn(nn.Conv2d(2 * in_channels, filters, (3, 9), padding=(1, 4)))]
        for d in dilations:
            layers.append(_wn(nn.Conv2d(filters, filters, (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4))))
        layers.append(_wn(nn.Conv2d(filters, filters, (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(layers)
        self.output = _wn(nn.Conv2d(filters, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        b, c, s = x.shape
        spec = torch.stft(x.reshape(b * c, s), self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        spec = torch.view_as_real(spec).reshape(b, c, *spec.shape[-2:], 2)  # (B, C, bins, frames, 2)
        h = spec.permute(0, 1, 4, 3, 2).reshape(b, 2 * c, spec.shape[-2], spec.shape[-3])  # (B, 2C, frames, bins)
        return _conv_stack(h, self.convs, self.output, slope=0.2)


class MultiScaleSTFTDiscriminator(nn.Module, Configurable):
    """MS-STFT (EnCodec): one :class:`STFTDiscriminator` per FFT size (1024, 2048, 512; hop n_fft / 4).

    Args:
        in_channels: audio channels.
        n_ffts: FFT sizes.
        filters: conv channels.
        dilations: time dilations of the strided convs.
    """

    def __init__(
        self, in_channels: int = 1, n_ffts: Sequence[int] = (1024, 2048, 512), filters: int = 32,
        dilations: Sequence[int] = (1, 2, 4),
    ):
        super().__init__()
        if not n_ffts or any(n < 4 for n in n_ffts):
            raise ConfigError(f"MultiScaleSTFTDiscriminator needs FFT sizes >= 4, got {n_ffts}")
        self.discriminators = nn.ModuleList(STFTDiscriminator(n, in_channels, filters, dilations) for n in n_ffts)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        outs = [d(x) for d in self.discriminators]
        return DiscriminatorOutput([o[0] for o in outs], [o[1] for o in outs])


class CombinedDiscriminator(nn.Module, Configurable):
    """Several multi-discriminators judged together (DAC: MPD + multi-band STFT; here MPD + MS-STFT)."""

    def __init__(self, discriminators: Sequence[nn.Module]):
        super().__init__()
        if not discriminators:
            raise ConfigError("CombinedDiscriminator needs at least one discriminator")
        self.discriminators = nn.ModuleList(discriminators)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        logits, features = [], []
        for discriminator in self.discriminators:
            out = discriminator(x)
            logits += out.logits
            features += out.features
        return DiscriminatorOutput(logits, features)


def feature_matching(real: list[list[Tensor]], fake: list[list[Tensor]]) -> Tensor:
    """Mean over sub-discriminators and layers of ``L1(fake_features, real_features)`` (real ones detached)."""
    terms = [F.l1_loss(f, r.detach()) for rs, fs in zip(real, fake) for r, f in zip(rs, fs)]
    return torch.stack(terms).mean()


class FeatureMatchingGANLoss(nn.Module, Configurable):
    """Multi-discriminator GAN loss plus feature matching; the generic trainer adds ``weight * generator_loss``.

    ``generator_loss(fake, real)`` is ``adversarial + (feature_weight / weight) * feature_matching``, so the
    generator's total gains ``weight * adversarial + feature_weight * feature_matching`` (EnCodec: 3 and 3 against
    a mel/L1 reconstruction weight of 1; DAC: 1 and 2 against mel 15). The weights are fixed, not adapted.

    Args:
        discriminator: a module whose output is a :class:`DiscriminatorOutput`.
        kind: "hinge" (EnCodec) or "lsgan" (least squares, HiFi-GAN / DAC).
        weight: weight of the adversarial term.
        feature_weight: weight of the feature-matching term.
        start_step: training step at which the discriminator and both generator terms switch on.
    """

    def __init__(
        self,
        discriminator: nn.Module,
        kind: Literal["hinge", "lsgan"] = "hinge",
        weight: float = 1.0,
        feature_weight: float = 2.0,
        start_step: int = 0,
    ):
        super().__init__()
        if kind not in ("hinge", "lsgan"):
            raise ConfigError(f"FeatureMatchingGANLoss kind must be hinge or lsgan, got {kind!r}")
        if weight <= 0 and feature_weight > 0:
            raise ConfigError("feature matching needs a positive adversarial weight (set both to 0 to disable)")
        self.discriminator, self.kind = discriminator, kind
        self.weight, self.feature_weight, self.start_step = float(weight), float(feature_weight), int(start_step)

    def active(self, step: int) -> bool:
        return step >= self.start_step and self.weight > 0

    def _judge(self, x: Tensor) -> DiscriminatorOutput:
        out = self.discriminator(x.float())
        if not isinstance(out, DiscriminatorOutput):
            raise ConfigError(f"{type(self.discriminator).__name__} must return a DiscriminatorOutput for feature matching")
        return out

    def generator_loss(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        """Adversarial loss of the reconstructions plus (feature_weight / weight) x feature matching against real."""
        if real is None:
            raise ConfigError("feature matching needs the real media: call generator_loss(fake, real)")
        fake_out = self._judge(fake)
        with torch.no_grad():
            real_out = self._judge(real)
        if self.kind == "hinge":
            adversarial = torch.stack([F.relu(1 - logit).mean() for logit in fake_out.logits]).mean()
        else:
            adversarial = torch.stack([(1 - logit).pow(2).mean() for logit in fake_out.logits]).mean()
        matching = feature_matching(real_out.features, fake_out.features)
        return adversarial + (self.feature_weight / self.weight) * matching

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        real_out, fake_out = self._judge(real), self._judge(fake.detach())
        terms = []
        for r, f in zip(real_out.logits, fake_out.logits):
            if self.kind == "hinge":
                terms.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
            else:
                terms.append((1 - r).pow(2).mean() + f.pow(2).mean())
        figures = {
            "logits_real": torch.stack([r.detach().mean() for r in real_out.logits]).mean(),
            "logits_fake": torch.stack([f.detach().mean() for f in fake_out.logits]).mean(),
        }
        return torch.stack(terms).mean(), figures

    def balance(self, reconstruction_loss: Tensor, generator_loss: Tensor, last_layer: Tensor | None) -> Tensor:
        """The fixed weight of the generator term (audio codecs do not use VQGAN's adaptive weight)."""
        return torch.tensor(self.weight, device=generator_loss.device)
