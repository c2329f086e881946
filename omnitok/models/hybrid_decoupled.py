"""Decoupled understanding + generation (Janus): two tokenizers packaged as one object with two spans.

:class:`TeacherTokenizer` is a continuous tokenizer built on a frozen semantic teacher (what an understanding
model reads); :class:`DecoupledTokenizer` holds it as ``.understanding`` next to a discrete pixel tokenizer as
``.generation`` (what a generator writes). Each is a ``Tokenizer`` of its own (DESIGN.md: a tokenizer that is
really two is an object holding two). Training the pair trains the generation tokenizer; the teacher is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError
from omnitok.modalities import get_modality
from omnitok.models.hybrid import HybridOutput
from omnitok.models.precision import MixedPrecisionModule
from omnitok.protocol import TokenizerSpec, check_decodable, check_media, rate_fields
from omnitok.semantic.base import SemanticTeacher


class TeacherTokenizer(MixedPrecisionModule, Configurable):
    """Continuous tokens = a frozen teacher's features at the grid ``input // downsample``: [B, teacher_dim, *grid].

    Args:
        teacher: the frozen teacher (e.g. ``VisionTeacher("siglip2")``).
        downsample: input pixels per token along each grid axis (16 for a patch-16 ViT at its native size).
        decoder: optional trainable module latents -> media for ``decode``; without one, ``decode`` raises
            (an understanding encoder has no pixel decoder, as in Janus).
        modality, channels, value_range, sample_rate, fps, token_rate: the input format (see ``TokenizerSpec``;
            ``frame_rate`` is their older single name).

    Precision: the frozen teacher stays float32 when the tokenizer is cast (teachers compute in float32); the
    decoder takes the cast.
    """

    full_precision_modules = ("teacher",)

    def __init__(
        self,
        teacher: SemanticTeacher,
        downsample: Sequence[int],
        decoder: nn.Module | None = None,
        modality: str = "image",
        channels: int = 3,
        value_range: tuple[float, float] = (-1.0, 1.0),
        sample_rate: int | None = None,
        fps: float | None = None,
        token_rate: float | None = None,
        frame_rate: float | None = None,
    ):
        super().__init__()
        if len(downsample) != len(get_modality(modality).axes):
            raise ConfigError(f"downsample needs one factor per grid axis of {modality!r}, got {list(downsample)}")
        self.teacher, self.decoder = teacher, decoder
        self._spec = TokenizerSpec(
            modality=modality,
            discrete=False,
            codebook_sizes=(),
            codebook_kind="single",
            latent_dim=teacher.dim,
            downsample=tuple(int(d) for d in downsample),
            channels=channels,
            value_range=tuple(value_range),
            sample_rate=sample_rate,
            **{"fps": fps, "token_rate": token_rate, **rate_fields(modality, frame_rate)},
        )

    @property
    def spec(self) -> TokenizerSpec:
        return self._spec

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """x: float media [B, C, *axes] in ``spec.value_range`` -> float32 teacher features [B, teacher_dim, *grid]
        (continuous tokens; deterministic, no gradient)."""
        check_media(x, self.spec)
        return self.teacher.at_grid(x, self.spec.grid(tuple(x.shape[2:])))

    def decode(self, tokens: Tensor) -> Tensor:
        """Teacher features [B, teacher_dim, *grid] -> media [B, C, *axes] in :attr:`dtype`, nominally in
        ``spec.value_range`` (not clamped), no gradient; ConfigError without a pixel decoder."""
        if self.decoder is None:
            raise ConfigError("this understanding tokenizer has no pixel decoder (give TeacherTokenizer a decoder)")
        check_decodable(tokens, self.spec)
        with torch.no_grad():
            return self.decoder(self.to_compute_dtype(tokens))


class DecoupledTokenizer(MixedPrecisionModule, Configurable):
    """``.understanding`` (continuous, semantic) and ``.generation`` (discrete, pixels): two Tokenizers, one object.

    ``forward(x)`` trains the generation tokenizer (its reconstruction and quantizer output) and reports the
    understanding features as ``semantic``, so the generic trainer drives it; ``spans`` names the two parts the
    way a unified vocabulary registers them.
    """

    def __init__(self, understanding: nn.Module, generation: nn.Module):
        super().__init__()
        for name, part in (("understanding", understanding), ("generation", generation)):
            if not all(hasattr(part, attr) for attr in ("spec", "encode", "decode")):
                raise ConfigError(f"{name} must be a Tokenizer (spec, encode, decode), got {type(part).__name__}")
        if understanding.spec.discrete or not generation.spec.discrete:
            raise ConfigError(
                "a decoupled tokenizer pairs a continuous understanding part with a discrete generation part"
            )
        self.understanding, self.generation = understanding, generation

    @property
    def spans(self) -> dict[str, nn.Module]:
        return {"understanding": self.understanding, "generation": self.generation}

    @property
    def spec(self) -> TokenizerSpec:
        """The generation tokenizer's spec (what training and codebook statistics follow)."""
        return self.generation.spec

    @property
    def decoder(self) -> nn.Module:
        return self.generation.decoder

    @property
    def dtype(self) -> torch.dtype:
        """The generation tokenizer's compute dtype (the understanding teacher stays float32)."""
        return self.generation.dtype

    def forward(self, x: Tensor) -> HybridOutput:
        out = self.generation(x)
        return HybridOutput(out.reconstruction, out.quantizer, self.understanding.encode(x))

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write both parts (config + weights) so ``omnitok.load_tokenizer(directory)`` rebuilds the pair."""
        from omnitok.hub import save_pretrained

        return save_pretrained(self, directory)
