"""Neural-network building blocks: the VQGAN / LDM 2-D convolutional encoder and decoder, and their blocks."""

from omnitok.nn.blocks import (
    Downsample2d,
    MidBlock2d,
    ResnetBlock2d,
    ResolutionLevel2d,
    SelfAttention2d,
    Upsample2d,
)
from omnitok.nn.convert import decoder_state_from_diffusers, encoder_state_from_diffusers
from omnitok.nn.vqgan import ConvDecoder2d, ConvEncoder2d

__all__ = [
    "ConvDecoder2d",
    "ConvEncoder2d",
    "Downsample2d",
    "MidBlock2d",
    "ResnetBlock2d",
    "ResolutionLevel2d",
    "SelfAttention2d",
    "Upsample2d",
    "decoder_state_from_diffusers",
    "encoder_state_from_diffusers",
]
