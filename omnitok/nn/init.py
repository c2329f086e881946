"""Fan-in initialisation for the convolutional tokenizers: weights N(0, gain^2 / fan_in), biases zero.

PyTorch's default conv init (uniform weights of variance 1 / (3 fan_in), biases up to 1 / sqrt(fan_in)) is about
1/sqrt(3) smaller per layer. Under Adam, whose early steps move every weight by about the learning rate whatever
its scale, that smaller start lets the first few dozen updates (close to rank one) outweigh the initial weights,
and a network collapses onto one feature direction that it then leaves only slowly. Starting at unit gain keeps
the signal's scale through the layers and the early updates small beside the weights. The pretrained weights a
loader puts in afterwards replace all of this.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from omnitok.nn.streaming import raw_weight


def conv_fan_in(conv: nn.Module) -> float:
    """Input values that reach one output value of ``conv``: in_channels / groups x kernel taps; a transposed conv
    of stride s reaches ``kernel / s`` taps per input channel along each axis."""
    weight = raw_weight(conv)
    if isinstance(conv, nn.modules.conv._ConvTransposeNd):
        taps = math.prod(k / s for k, s in zip(weight.shape[2:], conv.stride))
        return weight.shape[0] / conv.groups * taps
    return weight.shape[1] * math.prod(weight.shape[2:])


def init_conv_fan_in(conv: nn.Module, gain: float = 1.0) -> None:
    """Set ``conv``'s weight to N(0, gain^2 / fan_in) and its bias to zero; a weight-normalized conv gets that weight
    through its parametrization (magnitude and direction follow from it)."""
    weight = raw_weight(conv)
    value = torch.randn_like(weight) * (gain / math.sqrt(conv_fan_in(conv)))
    with torch.no_grad():
        if nn.utils.parametrize.is_parametrized(conv, "weight"):
            conv.weight = value
        else:
            conv.weight.copy_(value)
        if conv.bias is not None:
            conv.bias.zero_()


def init_convs_fan_in(network: nn.Module, gains: dict[int, float] | None = None) -> None:
    """:func:`init_conv_fan_in` on every convolution in ``network``; ``gains`` maps ``id(conv)`` to its gain
    (default 1), e.g. a small gain on the last conv of residual branches."""
    gains = gains or {}
    for module in network.modules():
        if isinstance(module, nn.modules.conv._ConvNd):  # every Conv{1,2,3}d and ConvTranspose{1,2,3}d
            init_conv_fan_in(module, gains.get(id(module), 1.0))
