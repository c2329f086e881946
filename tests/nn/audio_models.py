"""Tiny SEANet codecs for tests: hop 8 (strides 2, 4), a few channels, any shared quantizer."""

from __future__ import annotations

from omnitok.models import Autoencoder
from omnitok.nn import SEANetDecoder, SEANetEncoder
from omnitok.quantizers import (
    FiniteScalarQuantizer,
    IdentityQuantizer,
    Quantizer,
    ResidualQuantizer,
    VectorQuantizer,
)

QUANTIZERS = {
    "rvq_dropout": lambda: ResidualQuantizer(VectorQuantizer(8, 32), num_levels=4, dropout=1.0),
    "residual_fsq": lambda: ResidualQuantizer(
        FiniteScalarQuantizer(8, [5, 5, 5]), num_levels=3, level_scales=[1.0, 0.2, 0.04]
    ),
    "vq": lambda: VectorQuantizer(8, 64),
    "fsq": lambda: FiniteScalarQuantizer(8, [8, 5, 5]),
    "continuous": lambda: IdentityQuantizer(8),
}


def tiny_codec(
    quantizer: Quantizer | None = None,
    channels: int = 1,
    causal: bool = True,
    lstm_layers: int = 0,
    activation: str = "elu",
    strides: tuple[int, ...] = (2, 4),
    sample_rate: int = 16_000,
    attention_layers: int = 0,
) -> Autoencoder:
    quantizer = quantizer or QUANTIZERS["rvq_dropout"]()
    common = {
        "base_channels": 4,
        "dilations": (1, 3),
        "lstm_layers": lstm_layers,
        "activation": activation,
        "causal": causal,
        "attention_layers": attention_layers,
        "attention_heads": 2,
        "attention_window": 3,
    }
    return Autoencoder(
        encoder=SEANetEncoder(channels, quantizer.input_dim, strides=strides, **common),
        quantizer=quantizer,
        decoder=SEANetDecoder(quantizer.dim, channels, strides=tuple(reversed(strides)), **common),
        modality="audio",
        channels=channels,
        sample_rate=sample_rate,
        pad_to_multiple=True,
    )
