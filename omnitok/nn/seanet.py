"""SEANet-style 1-D convolutional encoder and decoder for audio codecs (the SoundStream / EnCodec / DAC family).

Encoder: conv(k7) -> per stride [residual units (dilations 1, 3, 9, ...) -> activation -> strided conv (k = 2s),
channels doubling] -> optional residual LSTM -> optional causal Transformer layers (sliding-window attention,
streamable with a KV cache) -> activation -> conv(k7) to the latent channels. The decoder mirrors it with
transposed convolutions. The hop (samples per token frame) is the product of the strides: 320 at 24 kHz is
75 Hz (strides 2, 4, 5, 8), 1280 at 16 kHz is 12.5 Hz (4, 5, 8, 8). With ``causal=True`` every layer pads on the
left, so :func:`omnitok.nn.streaming.streaming` runs the networks chunk by chunk with the offline result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError
from omnitok.nn.causal_transformer import CausalTransformerBlock
from omnitok.nn.init import init_convs_fan_in
from omnitok.nn.streaming import CausalConv1d, CausalConvTranspose1d, ResidualLSTM, raw_weight

Activation = Literal["elu", "snake"]


class Snake1d(nn.Module):
    """Snake activation (DAC): ``x + sin(alpha x)^2 / alpha`` with one learned alpha per channel; [B, C, S]."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.sin(self.alpha * x).pow(2) / (self.alpha + 1e-9)


def make_activation(kind: Activation, channels: int) -> nn.Module:
    """The activation module named ``kind`` for ``channels`` channels."""
    if kind == "elu":
        return nn.ELU()
    if kind == "snake":
        return Snake1d(channels)
    raise ConfigError(f"activation must be 'elu' or 'snake', got {kind!r}")


class ResidualUnit1d(nn.Module):
    """x + conv1x1(act(conv_k,dilated(act(x)))) with a bottleneck of ``channels // compress``; [B, C, S] -> same."""

    def __init__(
        self,
        channels: int,
        dilation: int,
        kernel_size: int,
        compress: int,
        act: Activation,
        causal: bool,
        weight_norm: bool,
    ):
        super().__init__()
        hidden = max(1, channels // compress)
        self.block = nn.Sequential(
            make_activation(act, channels),
            CausalConv1d(channels, hidden, kernel_size, dilation=dilation, causal=causal, weight_norm=weight_norm),
            make_activation(act, hidden),
            CausalConv1d(hidden, channels, 1, causal=causal, weight_norm=weight_norm),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


def bottleneck_layers(
    channels: int, lstm_layers: int, attention_layers: int, attention_heads: int, attention_window: int
) -> list[nn.Module]:
    """The optional sequence models at the bottleneck: a residual LSTM, then causal Transformer blocks."""
    if lstm_layers < 0 or attention_layers < 0:
        raise ConfigError(f"lstm_layers and attention_layers must be >= 0, got {lstm_layers}, {attention_layers}")
    layers: list[nn.Module] = [ResidualLSTM(channels, lstm_layers)] if lstm_layers else []
    layers += [CausalTransformerBlock(channels, attention_heads, attention_window) for _ in range(attention_layers)]
    return layers


RESIDUAL_BRANCH_GAIN = 0.1


def init_signal_preserving(network: nn.Module, residual_gain: float = RESIDUAL_BRANCH_GAIN) -> None:
    """Initialise a SEANet network so that, untrained, it carries its input at unit gain: fan-in init
    (:mod:`omnitok.nn.init`: N(0, 1 / fan_in), zero biases) with the last conv of every residual branch scaled by
    ``residual_gain``, so the branches start as small corrections and the output starts near the input's level.

    Waveforms at speech levels (RMS ~0.1) keep ELU and Snake near-linear, so each layer keeps the signal's scale.
    With PyTorch's default init the input's share of the output fell by ~1e4 through the dozen convs of encoder
    and decoder while the biases stayed: the latent was a constant offset plus tiny variation and a short run did
    not learn the waveform.
    """
    branch_ends = {
        id(unit.block[-1].conv): residual_gain for unit in network.modules() if isinstance(unit, ResidualUnit1d)
    }
    init_convs_fan_in(network, branch_ends)


def _check(strides: Sequence[int], base_channels: int, dilations: Sequence[int], audio: int, latent: int) -> list[int]:
    strides = [int(s) for s in strides]
    if not strides or any(s < 1 for s in strides):
        raise ConfigError(f"strides must be a non-empty list of positive ints, got {strides}")
    if base_channels < 1 or not dilations or any(d < 1 for d in dilations):
        raise ConfigError(f"need base_channels >= 1 and positive dilations, got {base_channels}, {list(dilations)}")
    if audio not in (1, 2):
        raise ConfigError(f"audio channels must be 1 (mono) or 2 (stereo), got {audio}")
    if latent < 1:
        raise ConfigError(f"latent channels must be >= 1, got {latent}")
    return strides


class SEANetEncoder(nn.Module, Configurable):
    """Waveform -> latent frames.

    x: [B, in_channels, S] (waveform in [-1, 1]) -> [B, out_channels, ceil(S / hop)], hop = ``downsample_factor``
    = prod(strides). A length that is not a multiple of the hop is zero-padded on the right.

    Args:
        in_channels: audio channels (1 mono, 2 stereo).
        out_channels: latent channels; pass ``quantizer.input_dim``.
        base_channels: channels after the first conv; each stride doubles them.
        strides: downsampling strides in order (e.g. [2, 4, 5, 8]: hop 320, 75 Hz at 24 kHz).
        dilations: dilations of the residual units before each strided conv.
        kernel_size, last_kernel_size, residual_kernel_size: kernels of the first conv, last conv and residual units.
        compress: residual units narrow the channels by this factor.
        lstm_layers: layers of the residual LSTM at the bottleneck (0: none).
        attention_layers: causal Transformer blocks at the bottleneck, after the LSTM (0: none); they stream
            exactly (see :class:`omnitok.nn.CausalTransformerBlock`).
        attention_heads: heads of those blocks (the bottleneck channels must divide by it).
        attention_window: frames each bottleneck frame attends to, itself included.
        activation: "elu" (EnCodec) or "snake" (DAC).
        causal: left padding only (streamable) instead of centred padding.
        weight_norm: weight-normalized convolutions.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 128,
        base_channels: int = 32,
        strides: Sequence[int] = (2, 4, 5, 8),
        dilations: Sequence[int] = (1, 3, 9),
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        residual_kernel_size: int = 3,
        compress: int = 2,
        lstm_layers: int = 0,
        activation: Activation = "elu",
        causal: bool = False,
        weight_norm: bool = True,
        attention_layers: int = 0,
        attention_heads: int = 4,
        attention_window: int = 64,
    ):
        super().__init__()
        strides = _check(strides, base_channels, dilations, audio=in_channels, latent=out_channels)
        self.in_channels, self.out_channels, self.strides, self.causal = in_channels, out_channels, strides, causal
        common = {"causal": causal, "weight_norm": weight_norm}
        layers: list[nn.Module] = [CausalConv1d(in_channels, base_channels, kernel_size, **common)]
        channels = base_channels
        for stride in strides:
            layers += [
                ResidualUnit1d(channels, d, residual_kernel_size, compress, activation, **common) for d in dilations
            ]
            layers += [
                make_activation(activation, channels),
                CausalConv1d(channels, 2 * channels, 2 * stride, stride=stride, **common),
            ]
            channels *= 2
        layers += bottleneck_layers(channels, lstm_layers, attention_layers, attention_heads, attention_window)
        layers += [
            make_activation(activation, channels),
            CausalConv1d(channels, out_channels, last_kernel_size, **common),
        ]
        self.layers = nn.Sequential(*layers)
        init_signal_preserving(self)

    @property
    def downsample_factor(self) -> int:
        """Samples per latent frame (the hop)."""
        return math.prod(self.strides)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"SEANetEncoder expects [B, {self.in_channels}, S] waveforms, got {shape}")
        pad = (-x.shape[-1]) % self.downsample_factor
        if pad and not self.layers[0].streaming:  # streaming: the caller completes the last frame
            x = F.pad(x, (0, pad))
        return self.layers(x)


class SEANetDecoder(nn.Module, Configurable):
    """Latent frames -> waveform.

    z: [B, in_channels, n] -> [B, out_channels, n * hop], hop = prod(strides) (no output squashing: values are
    meant to lie in [-1, 1] but are not clamped unless ``final_activation="tanh"``).

    Args:
        in_channels: latent channels; pass ``quantizer.dim``.
        out_channels: audio channels (1 mono, 2 stereo).
        base_channels: channels before the last conv; the first conv has base_channels * 2 ** len(strides).
        strides: upsampling strides in order (the encoder's reversed, e.g. [8, 5, 4, 2]).
        dilations, kernel_size, last_kernel_size, residual_kernel_size, compress, lstm_layers, activation, causal,
        weight_norm, attention_layers, attention_heads, attention_window: as in :class:`SEANetEncoder`.
        final_activation: None or "tanh".
    """

    def __init__(
        self,
        in_channels: int = 128,
        out_channels: int = 1,
        base_channels: int = 32,
        strides: Sequence[int] = (8, 5, 4, 2),
        dilations: Sequence[int] = (1, 3, 9),
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        residual_kernel_size: int = 3,
        compress: int = 2,
        lstm_layers: int = 0,
        activation: Activation = "elu",
        causal: bool = False,
        weight_norm: bool = True,
        final_activation: Literal["tanh"] | None = None,
        attention_layers: int = 0,
        attention_heads: int = 4,
        attention_window: int = 64,
    ):
        super().__init__()
        strides = _check(strides, base_channels, dilations, audio=out_channels, latent=in_channels)
        if final_activation not in (None, "tanh"):
            raise ConfigError(f"final_activation must be None or 'tanh', got {final_activation!r}")
        self.in_channels, self.out_channels, self.strides, self.causal = in_channels, out_channels, strides, causal
        common = {"causal": causal, "weight_norm": weight_norm}
        channels = base_channels * 2 ** len(strides)
        layers: list[nn.Module] = [CausalConv1d(in_channels, channels, kernel_size, **common)]
        layers += bottleneck_layers(channels, lstm_layers, attention_layers, attention_heads, attention_window)
        for stride in strides:
            layers += [
                make_activation(activation, channels),
                CausalConvTranspose1d(channels, channels // 2, stride, **common),
            ]
            channels //= 2
            layers += [
                ResidualUnit1d(channels, d, residual_kernel_size, compress, activation, **common) for d in dilations
            ]
        layers += [
            make_activation(activation, channels),
            CausalConv1d(channels, out_channels, last_kernel_size, **common),
        ]
        self._output_index = len(layers) - 1
        if final_activation == "tanh":
            layers.append(nn.Tanh())
        self.layers = nn.Sequential(*layers)
        init_signal_preserving(self)

    @property
    def upsample_factor(self) -> int:
        return math.prod(self.strides)

    @property
    def last_layer(self) -> Tensor:
        """The last conv's leaf weight (for adaptive adversarial weighting)."""
        return raw_weight(self.layers[self._output_index].conv)

    def forward(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 3 or z.shape[1] != self.in_channels:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ShapeError(f"SEANetDecoder expects latents [B, {self.in_channels}, n], got {shape}")
        return self.layers(z)
