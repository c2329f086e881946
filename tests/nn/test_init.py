"""Fan-in initialisation (omnitok.nn.init): fan-in counted by hand, the weight statistics it sets, weight norm, and
the causal video networks built with it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder
from omnitok.nn.init import conv_fan_in, init_conv_fan_in, init_convs_fan_in


@pytest.mark.parametrize(
    ("conv", "fan_in"),
    [
        (nn.Conv1d(8, 4, 7), 8 * 7),
        (nn.Conv2d(6, 4, 3, groups=2), 3 * 3 * 3),
        (nn.Conv3d(16, 32, (3, 3, 3), stride=(2, 1, 1)), 16 * 27),
        (nn.ConvTranspose1d(32, 16, kernel_size=16, stride=8), 32 * 16 / 8),  # 2 taps per input channel reach a sample
        (nn.ConvTranspose2d(4, 4, kernel_size=4, stride=2), 4 * 2 * 2),
    ],
)
def test_fan_in_by_hand(conv, fan_in):
    assert conv_fan_in(conv) == pytest.approx(fan_in)


def test_weights_have_the_fan_in_variance_and_zero_bias():
    torch.manual_seed(0)
    conv = nn.Conv3d(64, 64, 3)
    init_conv_fan_in(conv, gain=0.5)
    assert float(conv.weight.detach().std()) == pytest.approx(0.5 / math.sqrt(64 * 27), rel=0.02)
    assert float(conv.weight.detach().mean()) == pytest.approx(0.0, abs=1e-3)
    assert torch.count_nonzero(conv.bias) == 0


def test_weight_norm_gets_the_value_through_its_parametrization():
    torch.manual_seed(0)
    conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(64, 64, 7))
    init_conv_fan_in(conv)
    assert float(conv.weight.detach().std()) == pytest.approx(1 / math.sqrt(64 * 7), rel=0.03)
    assert nn.utils.parametrize.is_parametrized(conv, "weight")


def test_gains_per_conv():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(32, 32, 3), nn.ReLU(), nn.Conv1d(32, 32, 3))
    init_convs_fan_in(net, {id(net[2]): 0.0})
    assert float(net[0].weight.detach().std()) == pytest.approx(1 / math.sqrt(96), rel=0.05)
    assert torch.count_nonzero(net[2].weight) == 0


@pytest.mark.parametrize("network", [CausalVideoEncoder, CausalVideoDecoder])
def test_video_networks_start_at_unit_gain(network):
    """Every conv of the causal video nets starts at N(0, 1 / fan_in) with zero bias (PyTorch's default was
    1/sqrt(3) of that with random biases, which let Adam's first, nearly rank-one updates collapse the net onto one
    colour direction: the video quickstart stayed below the per-clip mean colour)."""
    torch.manual_seed(0)
    args = {"base_channels": 16, "channel_multipliers": (1, 2, 2), "num_res_blocks": 1, "norm_groups": 4}
    net = network(**args)
    convs = [m for m in net.modules() if isinstance(m, nn.modules.conv._ConvNd) and m.weight.numel() >= 2000]
    assert len(convs) >= 8
    for conv in convs:
        assert float(conv.weight.detach().std()) == pytest.approx(1 / math.sqrt(conv_fan_in(conv)), rel=0.1)
        assert torch.count_nonzero(conv.bias) == 0
