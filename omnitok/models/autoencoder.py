"""A tokenizer composed of encoder + quantizer + decoder; satisfies the ``Tokenizer`` protocol.

The encoder and decoder are any modules with the right shapes (the VQGAN-style networks, causal 3-D or
SEANet-style 1-D ones); every family of tokenizer is this one class with other parts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError
from omnitok.modalities import get_modality
from omnitok.models.precision import MixedPrecisionModule
from omnitok.protocol import Modality, TokenizerSpec, check_decodable, check_media, rate_fields
from omnitok.quantizers import Quantizer, QuantizerOutput


@dataclasses.dataclass
class AutoencoderOutput:
    """reconstruction: x-hat in the input layout; quantizer: the bottleneck's output (loss, indices, metrics)."""

    reconstruction: Tensor
    quantizer: QuantizerOutput


class Autoencoder(MixedPrecisionModule, Configurable):
    """encoder -> quantizer -> decoder.

    Precision: cast with ``.to(torch.bfloat16)`` (or ``load_tokenizer(..., dtype=...)``), the encoder and decoder
    run in that dtype and the quantizer stays float32 (:mod:`omnitok.models.precision`); ``encode`` casts media to
    the model's dtype, ``decode`` returns media in it. ``.dtype`` and ``.device`` report where the model runs.

    Args:
        encoder: media [B, C, *axes] -> latents [B, quantizer.input_dim, *grid].
        quantizer: any ``omnitok.quantizers.Quantizer``.
        decoder: quantized [B, quantizer.dim, *grid] -> media [B, C, *axes].
        modality: a registered modality's name ("image", "video", "audio" or a user's own).
        downsample: input samples per token along each grid axis; by default the encoder's ``downsample_factor``
            (an int, repeated over the modality's axes, or one factor per axis).
        channels: input channels.
        value_range: range of input values.
        sample_rate, fps, token_rate, latent_scale, latent_shift, causal_time: see ``TokenizerSpec``.
        frame_rate: the older name of ``fps`` (modalities with a time axis) and ``token_rate`` (others), read from
            recipes and saved tokenizers written before the split.
        pad_to_multiple: see ``TokenizerSpec``; ``None`` takes the encoder's own ``pad_to_multiple`` (False for an
            encoder without one), so a video encoder built to pad gives a spec that rounds the grid up. A value
            that contradicts the encoder's is a ``ConfigError``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        quantizer: Quantizer,
        decoder: nn.Module,
        modality: Modality,
        downsample: Sequence[int] | None = None,
        channels: int = 3,
        value_range: tuple[float, float] = (-1.0, 1.0),
        sample_rate: int | None = None,
        fps: float | None = None,
        token_rate: float | None = None,
        frame_rate: float | None = None,
        latent_scale: float = 1.0,
        latent_shift: float = 0.0,
        causal_time: bool = False,
        pad_to_multiple: bool | None = None,
    ):
        super().__init__()
        downsample = _downsample(encoder, modality, downsample)
        pad_to_multiple = _pad_to_multiple(encoder, pad_to_multiple)
        _check_channels(encoder, quantizer, decoder, self._decoder_channels(quantizer))
        self.encoder, self.quantizer, self.decoder = encoder, quantizer, decoder
        self._spec = TokenizerSpec(
            modality=modality,
            discrete=quantizer.discrete,
            codebook_sizes=quantizer.codebook_sizes,
            codebook_kind=quantizer.kind,
            latent_dim=quantizer.dim,
            downsample=tuple(downsample),
            channels=channels,
            value_range=tuple(value_range),
            sample_rate=sample_rate,
            **{"fps": fps, "token_rate": token_rate, **rate_fields(modality, frame_rate)},
            latent_scale=latent_scale,
            latent_shift=latent_shift,
            causal_time=causal_time,
            pad_to_multiple=pad_to_multiple,
        )

    @property
    def spec(self) -> TokenizerSpec:
        return self._spec

    def forward(self, x: Tensor) -> AutoencoderOutput:
        """x: media batch -> reconstruction and the quantizer's output (for training losses)."""
        check_media(x, self.spec)
        q = self.quantizer(self.encoder(self.to_compute_dtype(x)))
        return AutoencoderOutput(self.decoder(self.to_compute_dtype(q.quantized)), q)

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Media -> tokens, for inference (no gradient: this runs under ``torch.no_grad``; train through ``forward``).

        Args:
            x: float media [B, C, *axes] (image [B, C, H, W], video [B, C, T, H, W], audio [B, C, S]) in
                ``spec.value_range`` (``omnitok.preprocess`` makes it from pixels or waveforms), any floating dtype
                (cast to :attr:`dtype`), on :attr:`device`; each axis fits ``spec.grid`` (a multiple of
                ``spec.downsample``, 1 + a multiple for a causal time axis, anything with ``pad_to_multiple``).

        Returns:
            Discrete: int64 indices [B, *grid] (one codebook) or [B, *grid, Q] (residual / grouped), level q in
            ``[0, spec.codebook_sizes[q])``. Continuous: float32 latents [B, D, *grid], the posterior's mode,
            unscaled (``spec.latent_scale`` / ``latent_shift`` are for consumers to apply). Deterministic in eval
            mode; the code search runs in float32 whatever :attr:`dtype` is.

        Raises:
            ShapeError, DTypeError, NonFiniteError: ``x`` is not media this tokenizer takes (:func:`check_media`).
        """
        check_media(x, self.spec)
        return self.quantizer.encode(self.encoder(self.to_compute_dtype(x)))

    @torch.no_grad()
    def decode(self, tokens: Tensor) -> Tensor:
        """Tokens -> media, for inference (no gradient: this runs under ``torch.no_grad``).

        Args:
            tokens: as :meth:`encode` returns them, on :attr:`device`; a residual tokenizer also decodes a leading
                subset of its levels, [B, *grid, q] with q <= Q (a lower bitrate).

        Returns:
            Media [B, C, *spec.input_extent(grid)] in :attr:`dtype` on :attr:`device`, nominally in
            ``spec.value_range`` but not clamped: a decoder may overshoot the range a little.
            ``omnitok.postprocess`` clamps (and converts to uint8 pixels, PIL images or waveforms); the metrics of
            ``omnitok eval`` clamp too.

        Raises:
            DTypeError, ShapeError, IndexRangeError: tokens this tokenizer cannot decode (:func:`check_decodable`).
        """
        check_decodable(tokens, self.spec)
        return self.decoder(self.to_compute_dtype(self.quantizer.decode(tokens)))

    def _decoder_channels(self, quantizer: Quantizer) -> int:
        """Channels the decoder takes: all of the quantizer's (a hybrid may route only part of them to it)."""
        return quantizer.dim

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` so ``omnitok.load_tokenizer(directory)`` rebuilds this."""
        from omnitok.hub import save_pretrained

        return save_pretrained(self, directory)


def _downsample(encoder: nn.Module, modality: str, downsample: Sequence[int] | None) -> tuple[int, ...]:
    if downsample is not None:
        return tuple(downsample)
    factor = getattr(encoder, "downsample_factor", None)
    if factor is None:
        raise ConfigError(f"{type(encoder).__name__} has no downsample_factor; give the Autoencoder downsample=[...]")
    return tuple(factor) if isinstance(factor, Sequence) else (int(factor),) * len(get_modality(modality).axes)


def _pad_to_multiple(encoder: nn.Module, requested: bool | None) -> bool:
    """The spec's ``pad_to_multiple``: the encoder's own setting unless one is given; the two must agree, since the
    spec promises what the encoder does with sizes off the grid (pad, or refuse)."""
    own = getattr(encoder, "pad_to_multiple", None)
    if requested is None:
        return bool(own)
    if own is not None and bool(own) != bool(requested):
        raise ConfigError(
            f"pad_to_multiple={requested} contradicts the encoder ({type(encoder).__name__} has "
            f"pad_to_multiple={own}); set it on the encoder only, the Autoencoder takes it from there"
        )
    return bool(requested)


def _check_channels(encoder: nn.Module, quantizer: Quantizer, decoder: nn.Module, decoder_channels: int) -> None:
    """Catch the usual config slip (swapping the quantizer without resizing encoder/decoder) with a clear error."""
    emitted = getattr(encoder, "out_channels", None)
    if isinstance(emitted, int) and emitted != quantizer.input_dim:
        raise ConfigError(
            f"the encoder emits {emitted} channels but {type(quantizer).__name__} takes {quantizer.input_dim}; "
            f"set the encoder's out_channels to {quantizer.input_dim}"
        )
    taken = getattr(decoder, "in_channels", None)
    if isinstance(taken, int) and taken != decoder_channels:
        raise ConfigError(
            f"{type(quantizer).__name__} returns {decoder_channels} channels for the decoder but it takes {taken}; "
            f"set the decoder's in_channels to {decoder_channels}"
        )
