"""A tiny omni tokenizer for tests: image (16x16 -> 4x4), causal video (5x16x16 -> 3x8x8) and audio (hop 8) branches
around one learned VQ codebook, and one input batch per modality."""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.models import OmniBranch, OmniTokenizer
from omnitok.nn import (
    CausalVideoDecoder,
    CausalVideoEncoder,
    ConvDecoder2d,
    ConvEncoder2d,
    GridTransformer,
    SEANetDecoder,
    SEANetEncoder,
)
from omnitok.quantizers import VectorQuantizer

DIM = 4
CONV = {"base_channels": 8, "channel_multipliers": [1, 2, 2], "num_res_blocks": 1, "mid_attention": False,
        "norm_groups": 4}  # fmt: skip
VIDEO = {"base_channels": 8, "channel_multipliers": [1, 2], "num_res_blocks": 1, "temporal_downsample": 2,
         "norm_groups": 4}  # fmt: skip
AUDIO = {"base_channels": 4, "dilations": [1, 3], "causal": True}


def tiny_branches(modalities: tuple[str, ...] = ("image", "video", "audio")) -> dict[str, OmniBranch]:
    make = {
        "image": lambda: OmniBranch(ConvEncoder2d(out_channels=DIM, **CONV), ConvDecoder2d(in_channels=DIM, **CONV)),
        "video": lambda: OmniBranch(
            CausalVideoEncoder(out_channels=DIM, **VIDEO), CausalVideoDecoder(in_channels=DIM, **VIDEO),
            causal_time=True, fps=8.0,
        ),
        "audio": lambda: OmniBranch(
            SEANetEncoder(1, DIM, strides=[2, 4], **AUDIO), SEANetDecoder(DIM, 1, strides=[4, 2], **AUDIO),
            channels=1, sample_rate=16_000, token_rate=2000.0, pad_to_multiple=True,
        ),
    }  # fmt: skip
    return {name: make[name]() for name in modalities}


def tiny_omni(
    modalities: tuple[str, ...] = ("image", "video", "audio"), codebook_size: int = 32, bottleneck: bool = False
) -> OmniTokenizer:
    """Eval mode, float32, seeded: the same weights on every call with the same arguments."""
    torch.manual_seed(0)
    quantizer = VectorQuantizer(DIM, codebook_size, update="learned")
    branches = tiny_branches(modalities)
    shared = GridTransformer(DIM, heads=2) if bottleneck else None  # drawn last: the same branches either way
    return OmniTokenizer(quantizer, branches, bottleneck=shared).eval()


def inputs() -> dict[str, Tensor]:
    """One batch per modality, in [-1, 1] (audio within +-0.8)."""
    generator = torch.Generator().manual_seed(1)
    return {
        "image": torch.rand(2, 3, 16, 16, generator=generator) * 2 - 1,
        "video": torch.rand(1, 3, 5, 16, 16, generator=generator) * 2 - 1,
        "audio": torch.rand(2, 1, 64, generator=generator) * 1.6 - 0.8,
    }
