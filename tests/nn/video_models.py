"""A tiny causal video tokenizer for tests that need any working one (random weights)."""

from __future__ import annotations

from omnitok.models import Autoencoder
from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder
from omnitok.quantizers import FiniteScalarQuantizer


def tiny_causal_video_tokenizer(base_channels: int = 8) -> Autoencoder:
    """A causal FSQ video tokenizer, f2x2x2, 625 codes, 8 fps (eval mode)."""
    knobs = {"base_channels": base_channels, "channel_multipliers": [1, 2], "num_res_blocks": 1, "temporal_downsample": 2}
    return Autoencoder(
        CausalVideoEncoder(out_channels=4, norm_groups=4, **knobs),
        FiniteScalarQuantizer(4, [5, 5, 5, 5]),
        CausalVideoDecoder(in_channels=4, norm_groups=4, **knobs),
        modality="video",
        causal_time=True,
        fps=8.0,
    ).eval()
