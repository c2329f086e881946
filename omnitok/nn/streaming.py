"""Causal 1-D layers that run offline on a whole signal or chunk by chunk with carried state, with equal results.

Every layer here works on ``[B, C, S]``. Offline, a causal convolution pads ``kernel_eff - stride`` zeros on the
left (``kernel_eff = (kernel - 1) * dilation + 1``), so an input of ``n * stride`` samples gives ``n`` outputs and
output ``t`` sees only samples before ``(t + 1) * stride``. In streaming mode (:func:`streaming`) the same layer keeps
the samples it has not consumed yet and starts from the zeros the offline padding would have put there, so feeding
a signal in chunks of any size gives the offline output, split differently. A non-causal layer (centred padding)
refuses to stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.errors import ConfigError


def _weight_norm(module: nn.Module, enabled: bool) -> nn.Module:
    return nn.utils.parametrizations.weight_norm(module) if enabled else module


def raw_weight(conv: nn.Module) -> Tensor:
    """The leaf parameter behind ``conv.weight`` (weight norm's direction ``v`` when it is parametrized)."""
    if nn.utils.parametrize.is_parametrized(conv, "weight"):
        return conv.parametrizations.weight.original1
    return conv.weight


class StreamingLayer(nn.Module):
    """Base of layers with streaming state: ``streaming`` switches the mode, ``reset_stream`` clears the state."""

    causal: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.streaming = False

    def reset_stream(self) -> None:
        raise NotImplementedError


class CausalConv1d(StreamingLayer):
    """Conv1d with causal (left) or centred zero padding; ``[B, in, n * stride] -> [B, out, n]``.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation: as ``nn.Conv1d`` (kernel_eff must be >= stride).
        causal: pad on the left only (streamable) instead of on both sides.
        weight_norm: reparametrize the weight as magnitude x direction.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        causal: bool = True,
        weight_norm: bool = True,
    ):
        super().__init__()
        self.kernel_eff = (kernel_size - 1) * dilation + 1
        if self.kernel_eff < stride:
            raise ConfigError(f"conv kernel {kernel_size} (dilation {dilation}) is shorter than its stride {stride}")
        self.conv = _weight_norm(nn.Conv1d(in_channels, out_channels, kernel_size, stride, dilation=dilation), weight_norm)
        self.stride, self.causal = stride, causal
        self.padding = self.kernel_eff - stride
        self._buffer: Tensor | None = None

    def reset_stream(self) -> None:
        self._buffer = None

    def forward(self, x: Tensor) -> Tensor:
        if self.streaming:
            return self._stream(x)
        left = self.padding if self.causal else self.padding - self.padding // 2
        right = self.padding - left
        extra = (-(x.shape[-1] + self.padding - self.kernel_eff)) % self.stride  # complete the last frame
        return self.conv(F.pad(x, (left, right + extra)))

    def _stream(self, x: Tensor) -> Tensor:
        if not self.causal:
            raise ConfigError("a non-causal convolution cannot stream; build the network with causal=True")
        if self._buffer is None:
            self._buffer = x.new_zeros(*x.shape[:-1], self.padding)
        full = torch.cat([self._buffer, x], dim=-1)
        count = (full.shape[-1] - self.kernel_eff) // self.stride + 1 if full.shape[-1] >= self.kernel_eff else 0
        self._buffer = full[..., count * self.stride :]
        if count == 0:
            return x.new_zeros(x.shape[0], self.conv.out_channels, 0)
        return self.conv(full[..., : (count - 1) * self.stride + self.kernel_eff])


class CausalConvTranspose1d(StreamingLayer):
    """ConvTranspose1d trimmed to ``[B, in, n] -> [B, out, n * stride]``: the ``kernel - stride`` extra samples are
    cut on the right (causal) or split between both ends. Streaming carries the overlap into the next chunk."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, kernel_size: int | None = None, causal: bool = True,
        weight_norm: bool = True,
    ):
        super().__init__()
        kernel_size = 2 * stride if kernel_size is None else kernel_size
        if kernel_size < stride:
            raise ConfigError(f"transposed conv kernel {kernel_size} is shorter than its stride {stride}")
        self.conv = _weight_norm(nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride), weight_norm)
        self.stride, self.kernel_size, self.causal = stride, kernel_size, causal
        self._tail: Tensor | None = None

    def reset_stream(self) -> None:
        self._tail = None

    def forward(self, x: Tensor) -> Tensor:
        if self.streaming:
            return self._stream(x)
        y = self.conv(x)
        trim = self.kernel_size - self.stride
        right = trim if self.causal else trim // 2
        return y[..., trim - right : y.shape[-1] - right]

    def _stream(self, x: Tensor) -> Tensor:
        if not self.causal:
            raise ConfigError("a non-causal transposed convolution cannot stream; build the network with causal=True")
        n = x.shape[-1]
        if n == 0:
            return x.new_zeros(x.shape[0], self.conv.out_channels, 0)
        y = F.conv_transpose1d(x, self.conv.weight, None, self.stride)  # (B, out, (n-1)*s + k), bias added below
        if self._tail is not None:
            y = torch.cat([y[..., : self._tail.shape[-1]] + self._tail, y[..., self._tail.shape[-1] :]], dim=-1)
        self._tail = y[..., n * self.stride :]
        return y[..., : n * self.stride] + self.conv.bias[:, None]


class ResidualLSTM(StreamingLayer):
    """x + LSTM(x) over time, ``[B, C, S] -> [B, C, S]`` (EnCodec's bottleneck); streaming carries (h, c)."""

    def __init__(self, channels: int, num_layers: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(channels, channels, num_layers)
        self._state: tuple[Tensor, Tensor] | None = None

    def reset_stream(self) -> None:
        self._state = None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] == 0:
            return x
        seq = x.permute(2, 0, 1)  # (S, B, C)
        out, state = self.lstm(seq, self._state if self.streaming else None)
        if self.streaming:
            self._state = state
        return x + out.permute(1, 2, 0)


def is_causal(module: nn.Module) -> bool:
    """True when every streaming layer inside ``module`` is causal (so chunked runs equal the offline one)."""
    layers = [m for m in module.modules() if isinstance(m, StreamingLayer)]
    return all(layer.causal for layer in layers)


@contextlib.contextmanager
def streaming(*modules: nn.Module) -> Iterator[None]:
    """Run ``modules`` chunk by chunk inside the block: state starts empty and is cleared on exit.

    Raises:
        ConfigError: a module holds a non-causal layer (its chunked output would differ from the offline one).
    """
    layers = [m for module in modules for m in module.modules() if isinstance(m, StreamingLayer)]
    if not all(layer.causal for layer in layers):
        raise ConfigError("this network is not causal, so it cannot stream; build it with causal=True")
    for layer in layers:
        layer.reset_stream()
        layer.streaming = True
    try:
        yield
    finally:
        for layer in layers:
            layer.streaming = False
            layer.reset_stream()
