"""Tokenizers composed of encoder + quantizer + decoder."""

from omnitok.models.autoencoder import Autoencoder, AutoencoderOutput

__all__ = ["Autoencoder", "AutoencoderOutput"]
