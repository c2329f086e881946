"""Tokenizers composed of encoder + quantizer + decoder."""

from omnitok.models.autoencoder import Autoencoder, AutoencoderOutput
from omnitok.models.hybrid import HybridOutput, ParallelEncoder, SemanticAutoencoder
from omnitok.models.hybrid_decoupled import DecoupledTokenizer, TeacherTokenizer
from omnitok.models.omni import JointOutput, OmniBranch, OmniTokenizer, OmniView
from omnitok.models.streaming import decode_chunked, decode_stream, encode_chunked, encode_stream
from omnitok.models.video_chunked import (
    decode_video_chunked,
    decode_video_stream,
    decode_video_tiled,
    encode_video_chunked,
    encode_video_stream,
    encode_video_tiled,
)

__all__ = [
    "Autoencoder",
    "AutoencoderOutput",
    "DecoupledTokenizer",
    "HybridOutput",
    "JointOutput",
    "OmniBranch",
    "OmniTokenizer",
    "OmniView",
    "ParallelEncoder",
    "SemanticAutoencoder",
    "TeacherTokenizer",
    "decode_chunked",
    "decode_stream",
    "decode_video_chunked",
    "decode_video_stream",
    "decode_video_tiled",
    "encode_chunked",
    "encode_stream",
    "encode_video_chunked",
    "encode_video_stream",
    "encode_video_tiled",
]
