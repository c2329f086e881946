"""Tokenizers composed of encoder + quantizer + decoder."""

from omnitok.models.autoencoder import Autoencoder, AutoencoderOutput
from omnitok.models.streaming import decode_chunked, decode_stream, encode_chunked, encode_stream

__all__ = [
    "Autoencoder",
    "AutoencoderOutput",
    "decode_chunked",
    "decode_stream",
    "encode_chunked",
    "encode_stream",
]
