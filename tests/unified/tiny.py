"""Tiny tokenizers for the unified tests: real omnitok Autoencoders and one plain-python object (no subclassing)."""

from __future__ import annotations

import torch
from torch import nn

from omnitok.models import Autoencoder
from omnitok.nn import ConvDecoder2d, ConvEncoder2d
from omnitok.protocol import TokenizerSpec, check_tokens
from omnitok.quantizers import GroupedQuantizer, IdentityQuantizer, ResidualQuantizer, VectorQuantizer
from omnitok.unified import TransformerConfig, UnifiedTransformer
from tests.nn.audio_models import tiny_codec

TINY = {"base_channels": 8, "num_res_blocks": 1, "norm_groups": 4, "channel_multipliers": (1, 2, 2)}


def image_vq(codebook_size: int = 32) -> Autoencoder:
    """16x16 RGB -> 4x4 grid of one VQ codebook."""
    vq = VectorQuantizer(dim=4, codebook_size=codebook_size)
    return Autoencoder(
        ConvEncoder2d(out_channels=4, **TINY),
        vq,
        ConvDecoder2d(in_channels=4, **TINY),
        modality="image",
        downsample=(4, 4),
    ).eval()


def image_grouped() -> Autoencoder:
    """16x16 RGB -> 4x4 grid, 2 groups of 12 codes each."""
    quantizer = GroupedQuantizer(VectorQuantizer(dim=2, codebook_size=12), num_groups=2)
    return Autoencoder(
        ConvEncoder2d(out_channels=4, **TINY),
        quantizer,
        ConvDecoder2d(in_channels=4, **TINY),
        modality="image",
        downsample=(4, 4),
    ).eval()


def image_continuous() -> Autoencoder:
    """16x16 RGB -> [3, 4, 4] latents."""
    return Autoencoder(
        ConvEncoder2d(out_channels=3, **TINY),
        IdentityQuantizer(3),
        ConvDecoder2d(in_channels=3, **TINY),
        modality="image",
        downsample=(4, 4),
    ).eval()


def audio_rvq() -> Autoencoder:
    """Mono audio, hop 8 -> frames of 4 residual levels of 32 codes."""
    return tiny_codec(ResidualQuantizer(VectorQuantizer(8, 32), num_levels=4)).eval()


def video_vq() -> Autoencoder:
    """[B, 3, T, 8, 8] -> [B, T, 4, 4] (frame by frame, spatial factor 2), one codebook of 20."""
    return Autoencoder(
        nn.Conv3d(3, 4, kernel_size=(1, 2, 2), stride=(1, 2, 2)),
        VectorQuantizer(dim=4, codebook_size=20),
        nn.ConvTranspose3d(4, 3, kernel_size=(1, 2, 2), stride=(1, 2, 2)),
        modality="video",
        downsample=(1, 2, 2),
    ).eval()


class PlainAudioTokenizer:
    """A tokenizer written outside omnitok: frames of 10 samples -> 2 grouped codes (mean and sign pattern)."""

    def __init__(self) -> None:
        self.spec = TokenizerSpec(
            "audio", True, codebook_sizes=(7, 5), codebook_kind="grouped", downsample=(10,), channels=1, sample_rate=100
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        frames = x[:, 0].unflatten(-1, (-1, 10))  # (B, F, 10)
        level = ((frames.mean(-1) + 1) * 3).round().clamp(0, 6).long()
        signs = (frames[..., :2] > 0).long()
        return torch.stack([level, signs[..., 0] * 2 + signs[..., 1]], dim=-1)  # (B, F, 2)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        check_tokens(tokens, self.spec)
        return (tokens[..., 0].float() / 3 - 1).repeat_interleave(10, dim=1)[:, None]


def tiny_model(vocab_size: int = 60, streams: int = 1, **kw) -> UnifiedTransformer:
    """A 2-block, 32-wide unified Transformer in eval mode, seeded."""
    torch.manual_seed(0)
    return UnifiedTransformer(TransformerConfig(vocab_size, dim=32, depth=2, heads=2, num_streams=streams, **kw)).eval()
