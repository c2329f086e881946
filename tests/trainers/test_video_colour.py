"""The video recipes' networks can carry colour through the last normalisation before their output convolution.

Cause of the old quickstart's grey/purple reconstructions: the encoder's and decoder's ``norm_out`` (a per-frame
GroupNorm) feeds ``conv_out`` with no shortcut around it. On a flat frame (every channel constant over H x W, as the
moving-shapes backgrounds nearly are) a group of 2 channels normalizes to ``(+1, -1)`` or ``(-1, +1)`` whatever the
values, so the output colour of a flat region is locally constant in the features: with ``base_channels: 16`` and
``norm_groups: 8`` the decoder could not set the colour of a flat region, and colour reached the output only through
the few frames' spatial detail. A group of ``g`` channels keeps ``g - 2`` degrees of freedom of a flat frame (mean
and scale are removed), so the recipes need groups of at least 3 channels and enough of them to carry RGB.

The check is exact and fast: the Jacobian of one output pixel's channels with respect to the flat features entering
``norm_out`` (random-init networks built from the recipes) must have full colour rank.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from omnitok.config import instantiate, load_yaml_config
from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder
from omnitok.nn.causal3d import frame_norm_silu

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "video"
QUICKSTARTS = sorted(p.name for p in CONFIGS.glob("quickstart_*.yaml") if p.name != "quickstart_base.yaml")


def flat_frame_rank(net: nn.Module, seed: int = 0) -> int:
    """Rank of d(output channels at the centre pixel) / d(flat features entering ``net.norm_out``)."""
    channels = net.norm_out.num_channels
    torch.manual_seed(seed)
    base = torch.randn(channels, dtype=torch.float64)
    head = nn.ModuleDict({"norm": net.norm_out, "conv": net.conv_out}).double()

    def colour(values: torch.Tensor) -> torch.Tensor:
        h = values.reshape(1, channels, 1, 1, 1).expand(1, channels, 2, 8, 8)
        return head["conv"](frame_norm_silu(head["norm"], h))[0, :, -1, 4, 4]

    jacobian = torch.autograd.functional.jacobian(colour, base)
    # A 2-channel group leaves only the norm's eps (1e-6) to respond: singular values near 1e-4, versus 0.05-1
    # for groups that keep degrees of freedom; count the ones above 1e-3.
    return int(torch.linalg.matrix_rank(jacobian, atol=1e-3, rtol=0.0))


def _nets(name: str) -> tuple[nn.Module, nn.Module]:
    tokenizer = instantiate(load_yaml_config(CONFIGS / name)["model"]["init_args"]["tokenizer"])
    return tokenizer.encoder, tokenizer.decoder


def test_two_channel_groups_lose_the_colour_of_flat_frames():
    """The failure this file guards against, shown on the old quickstart's nets (16 channels in 8 groups)."""
    kw = {"base_channels": 16, "channel_multipliers": [1, 2, 2], "num_res_blocks": 1, "temporal_downsample": 4}
    assert flat_frame_rank(CausalVideoDecoder(in_channels=6, norm_groups=8, **kw)) == 0
    # The encoder's norm_out sits at the last level (32 channels): 16 groups make pairs there.
    assert flat_frame_rank(CausalVideoEncoder(out_channels=6, norm_groups=16, **kw)) == 0
    # 4 channels per group keep 2 degrees of freedom each: 4 groups -> up to 8, enough for RGB.
    assert flat_frame_rank(CausalVideoDecoder(in_channels=6, norm_groups=4, **kw)) == 3


@pytest.mark.parametrize("name", QUICKSTARTS)
def test_quickstart_networks_carry_flat_colours(name):
    encoder, decoder = _nets(name)
    assert flat_frame_rank(decoder) == 3, f"{name}: the decoder cannot set the colour of a flat region"
    assert flat_frame_rank(encoder) >= 3, f"{name}: the encoder's latents lose the colour of flat regions"
