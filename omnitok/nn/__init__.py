"""Neural-network building blocks: the VQGAN / LDM 2-D convolutional encoder and decoder, the SEANet-style 1-D
audio encoder and decoder, the spectral (log-mel in, inverse STFT out) speech codec networks, and their blocks."""

from omnitok.nn.blocks import (
    Downsample2d,
    MidBlock2d,
    ResnetBlock2d,
    ResolutionLevel2d,
    SelfAttention2d,
    Upsample2d,
)
from omnitok.nn.causal3d import CausalConv3d
from omnitok.nn.causal_transformer import CausalTransformerBlock
from omnitok.nn.convert import decoder_state_from_diffusers, encoder_state_from_diffusers
from omnitok.nn.grid_transformer import GridTransformer
from omnitok.nn.seanet import SEANetDecoder, SEANetEncoder, Snake1d
from omnitok.nn.spectral_codec import ConvNeXtBlock1d, ISTFTDecoder, MelEncoder
from omnitok.nn.streaming import CausalConv1d, CausalConvTranspose1d, ResidualLSTM, streaming
from omnitok.nn.video_attention import CausalTemporalAttention, SpatialAttention3d
from omnitok.nn.video_networks import CausalVideoDecoder, CausalVideoEncoder
from omnitok.nn.vqgan import ConvDecoder2d, ConvEncoder2d

__all__ = [
    "CausalConv1d",
    "CausalConv3d",
    "CausalConvTranspose1d",
    "CausalTemporalAttention",
    "CausalTransformerBlock",
    "CausalVideoDecoder",
    "CausalVideoEncoder",
    "ConvDecoder2d",
    "ConvEncoder2d",
    "ConvNeXtBlock1d",
    "Downsample2d",
    "GridTransformer",
    "ISTFTDecoder",
    "MelEncoder",
    "MidBlock2d",
    "ResidualLSTM",
    "ResnetBlock2d",
    "ResolutionLevel2d",
    "SEANetDecoder",
    "SEANetEncoder",
    "SelfAttention2d",
    "Snake1d",
    "SpatialAttention3d",
    "Upsample2d",
    "decoder_state_from_diffusers",
    "encoder_state_from_diffusers",
    "streaming",
]
