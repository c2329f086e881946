"""Hybrid semantic-plus-pixel tokenizers: one token grid that reconstructs pixels and carries teacher semantics.

:class:`SemanticAutoencoder` is an :class:`Autoencoder` with a *semantic head*, a small trainable module that maps
token features to a frozen teacher's feature space; a distillation loss term
(:class:`omnitok.trainers.SemanticDistillationLoss`) pulls its output towards the teacher's features at the token
grid, so gradients shape the encoder (and codebook) towards semantics. The head is part of the tokenizer: the
optimizer trains it and ``save_pretrained`` keeps it. Three recipes use it:

- distilled single codebook (VILA-U / UniTok): any quantizer; the head reads the whole quantized latent;
- dual codebook with a shared index (TokenFlow): a :class:`ParallelEncoder` (pixel branch | semantic branch) into
  a :class:`omnitok.quantizers.DualCodebookQuantizer`; ``pixel_channels`` routes the pixel half to the decoder and
  the semantic half to the head, so one id decodes to both (:meth:`SemanticAutoencoder.decode_semantic`);
- SpeechTokenizer / Mimi: a residual quantizer whose first level alone feeds the head
  (``semantic_source="first_level"``), leaving the other levels to acoustics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError
from omnitok.models.autoencoder import Autoencoder, AutoencoderOutput
from omnitok.protocol import Modality, check_decodable, check_media, check_tokens
from omnitok.quantizers import Quantizer

SemanticSource = Literal["quantized", "first_level"]


@dataclasses.dataclass
class HybridOutput(AutoencoderOutput):
    """Adds ``semantic``: the head's prediction of teacher features [B, teacher_dim, *grid] (None if absent)."""

    semantic: Tensor | None = None


class ParallelEncoder(nn.Module, Configurable):
    """Runs several encoders on the same input and concatenates their latents along channels (TokenFlow's pixel
    and semantic encoders). Every branch must reach the same grid.

    Args:
        branches: encoders media -> [B, C_i, *grid]; the output has sum(C_i) channels in branch order.
    """

    def __init__(self, branches: Sequence[nn.Module]):
        super().__init__()
        if len(branches) < 2:
            raise ConfigError(f"ParallelEncoder needs at least two branches, got {len(branches)}")
        factors = {str(getattr(b, "downsample_factor", None)) for b in branches}
        if len(factors) != 1:
            raise ConfigError(f"ParallelEncoder branches downsample differently: {sorted(factors)}")
        self.branches = nn.ModuleList(branches)
        self.downsample_factor = getattr(branches[0], "downsample_factor", None)
        widths = [getattr(b, "out_channels", None) for b in branches]
        self.out_channels = sum(widths) if all(isinstance(w, int) for w in widths) else None

    def forward(self, x: Tensor) -> Tensor:
        latents = [branch(x) for branch in self.branches]
        if len({tuple(z.shape[2:]) for z in latents}) != 1:
            raise ShapeError(f"ParallelEncoder branches gave different grids: {[tuple(z.shape) for z in latents]}")
        return torch.cat(latents, dim=1)


class SemanticAutoencoder(Autoencoder):
    """encoder -> quantizer -> (decoder -> pixels, semantic_head -> teacher features).

    Args:
        encoder, quantizer, decoder, modality, and the rest: as :class:`Autoencoder`.
        semantic_head: token features [B, C, *grid] -> [B, teacher_dim, *grid] (e.g. a 1x1 convolution or a small
            conv/MLP stack); C is the quantizer's ``dim``, or its channels beyond ``pixel_channels``.
        pixel_channels: route only the first ``pixel_channels`` quantized channels to the decoder and the rest to
            the head (dual-branch latents); None: both read all channels.
        semantic_source: "quantized" (the head reads the quantized latent) or "first_level" (residual quantizers:
            the head reads only the first level's code, straight-through to the encoder; SpeechTokenizer's RVQ-1).
    """

    def __init__(
        self,
        encoder: nn.Module,
        quantizer: Quantizer,
        decoder: nn.Module,
        semantic_head: nn.Module,
        modality: Modality,
        pixel_channels: int | None = None,
        semantic_source: SemanticSource = "quantized",
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
        if pixel_channels is not None and not 0 < pixel_channels < quantizer.dim:
            raise ConfigError(f"pixel_channels must be in (0, {quantizer.dim}) or None, got {pixel_channels}")
        if semantic_source not in ("quantized", "first_level"):
            raise ConfigError(f"semantic_source must be 'quantized' or 'first_level', got {semantic_source!r}")
        if semantic_source == "first_level" and (quantizer.kind != "residual" or pixel_channels is not None):
            raise ConfigError("semantic_source='first_level' needs a residual quantizer and no pixel_channels")
        self.pixel_channels = pixel_channels  # read by _decoder_channels during Autoencoder.__init__
        super().__init__(
            encoder, quantizer, decoder, modality, downsample, channels, value_range, sample_rate, fps=fps,
            token_rate=token_rate, frame_rate=frame_rate, latent_scale=latent_scale, latent_shift=latent_shift,
            causal_time=causal_time, pad_to_multiple=pad_to_multiple,
        )  # fmt: skip
        self.semantic_head, self.semantic_source = semantic_head, semantic_source
        head_in = getattr(semantic_head, "in_channels", None)
        expected = quantizer.dim - (pixel_channels or 0)
        if isinstance(head_in, int) and head_in != expected:
            raise ConfigError(f"the semantic head takes {head_in} channels but receives {expected}")

    def _decoder_channels(self, quantizer: Quantizer) -> int:
        return self.pixel_channels or quantizer.dim

    def _split(self, quantized: Tensor) -> tuple[Tensor, Tensor]:
        """quantized [B, D, *grid] -> (decoder input, head input)."""
        if self.pixel_channels is None:
            return quantized, quantized
        return quantized[:, : self.pixel_channels], quantized[:, self.pixel_channels :]

    def forward(self, x: Tensor) -> HybridOutput:
        """x: media batch -> reconstruction, quantizer output and the head's semantic prediction."""
        check_media(x, self.spec)
        z = self.encoder(self.to_compute_dtype(x))
        q = self.quantizer(z)
        pixel, semantic = self._split(self.to_compute_dtype(q.quantized))
        if self.semantic_source == "first_level":  # RVQ-1's code, with the straight-through gradient to z
            first = self.to_compute_dtype(self.quantizer.decode(q.indices[..., :1]))
            semantic = z + (first - z).detach()
        return HybridOutput(self.decoder(pixel), q, self.semantic_head(semantic))

    @torch.no_grad()
    def decode(self, tokens: Tensor) -> Tensor:
        """Tokens as :meth:`encode` returns them -> media [B, C, *axes] from the pixel channels, in :attr:`dtype`,
        nominally in ``spec.value_range`` (not clamped), no gradient, as :meth:`Autoencoder.decode`;
        :meth:`decode_semantic` gives the semantic prediction of the same ids."""
        check_decodable(tokens, self.spec)
        return self.decoder(self._split(self.to_compute_dtype(self.quantizer.decode(tokens)))[0])

    @torch.no_grad()
    def decode_semantic(self, tokens: Tensor) -> Tensor:
        """Tokens -> the head's teacher-space features [B, teacher_dim, *grid] (the same ids ``decode`` reads)."""
        check_tokens(tokens, self.spec)
        if self.semantic_source == "first_level":
            return self.semantic_head(self.to_compute_dtype(self.quantizer.decode(tokens[..., :1])))
        return self.semantic_head(self._split(self.to_compute_dtype(self.quantizer.decode(tokens)))[1])

    @torch.no_grad()
    def semantic_features(self, x: Tensor) -> Tensor:
        """Media -> predicted teacher features at the token grid (encode, then :meth:`decode_semantic`)."""
        return self.decode_semantic(self.encode(x))
