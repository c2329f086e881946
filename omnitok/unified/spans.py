"""What the shared vocabulary packs and unpacks: media spans, packed samples, continuous inputs."""

from __future__ import annotations

import dataclasses

from torch import Tensor


@dataclasses.dataclass
class MediaSpan:
    """One tokenizer's tokens inside a sample.

    Attributes:
        name: the tokenizer's name in the :class:`~omnitok.unified.SharedVocabulary`.
        tokens: discrete: LongTensor [*grid] or [*grid, Q] (single / multi-level), optionally with a leading batch
            axis of 1; continuous: latents [D, *grid] or [1, D, *grid]. ``unpack`` returns them with the batch axis,
            ready for ``tokenizer.decode``; None for a continuous span unpacked without its latents.
        grid: the token grid; filled by ``unpack`` (``pack`` reads the grid from ``tokens``).
    """

    name: str
    tokens: Tensor | None
    grid: tuple[int, ...] | None = None


@dataclasses.dataclass
class Packed:
    """One packed sample.

    Attributes:
        ids: LongTensor [L] (flattened layout) or [L, S] (delayed layout, S streams).
        positions: LongTensor [L, 3], (t, row, col) per token; text advances t only (row = col = 0).
        modality: LongTensor [L]: 0 for text, bos and eos, ``vocab.tag_of(name)`` for a span's tokens.
        continuous: name -> latents [N, D] of that continuous tokenizer's spans, in sequence order; they belong at
            the positions where ``ids`` (stream 0) equals ``vocab.latent_id(name)``.
    """

    ids: Tensor
    positions: Tensor
    modality: Tensor
    continuous: dict[str, Tensor] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclasses.dataclass
class ContinuousInput:
    """Continuous latents for a batch: ``values`` [N, D] fill the True positions of ``mask`` [B, L] in row-major
    (batch, then position) order, replacing those tokens' embeddings with a learned projection of the latents."""

    mask: Tensor
    values: Tensor
