"""Training rows: loss on chosen spans only, and several samples packed into one row with per-sample attention.

An :class:`Example` is a packed sample plus the mask of the tokens it is trained on. :func:`pack_rows` fills rows
of at most ``max_length`` tokens with whole examples, in order, and returns a ``collate``-style batch with one
more entry, ``segments`` [B, L]: 1, 2, ... for the examples of a row and 0 on padding. A model that takes
``segments`` (:class:`~omnitok.unified.CausalLMAdapter`, :class:`~omnitok.unified.UnifiedTransformer`) attends
within each example only (:func:`block_causal_mask`) with positions that restart per example, so a packed row trains
exactly as its examples would one per row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

import torch
from torch import Tensor

from omnitok.errors import ConfigError, ShapeError
from omnitok.unified.spans import MediaSpan, Packed
from omnitok.unified.vocabulary import SharedVocabulary

TEXT = "text"


@dataclasses.dataclass
class Example:
    """One training sample: ``packed`` and ``loss_mask`` bool [L], True where the token is a target (predicted
    from the token before it)."""

    packed: Packed
    loss_mask: Tensor

    def __len__(self) -> int:
        return len(self.packed)


def example(
    vocab: SharedVocabulary,
    sample: Sequence[str | MediaSpan],
    loss_on: Collection[int | str] | None = None,
    *,
    bos: bool = True,
    eos: bool = True,
) -> Example:
    """Pack ``sample`` and choose its targets.

    Args:
        loss_on: None: every token but bos. Else the chosen segments, by index in ``sample`` or by kind ("text" or a
            tokenizer name): a media span's tokens from its begin to its end token, a text segment's tokens; the eos
            counts with the last segment. E.g. ``{"image"}`` trains only the image after a caption.
    """
    packed = vocab.pack(sample, bos=bos, eos=eos)
    mask = torch.zeros(len(packed), dtype=torch.bool)
    if loss_on is None:
        mask[:] = True
        if bos:
            mask[0] = False
        return Example(packed, mask)
    kinds = {TEXT, *vocab.names}
    unknown = [k for k in loss_on if isinstance(k, str) and k not in kinds]
    if unknown:
        raise ConfigError(f"loss_on names {unknown}; the kinds are {sorted(kinds)}")
    at = int(bos)
    for i, segment in enumerate(sample):
        n = len(vocab.pack([segment], bos=False, eos=False))
        kind = TEXT if isinstance(segment, str) else segment.name
        if i in loss_on or kind in loss_on:
            mask[at : at + n] = True
            if eos and i == len(sample) - 1:
                mask[-1] = True
        at += n
    return Example(packed, mask)


def pack_rows(
    vocab: SharedVocabulary, examples: Sequence[Example | Packed], max_length: int, pad_to_max: bool = False
) -> dict[str, Any]:
    """Fill rows of at most ``max_length`` tokens with whole examples, in order (a new row when the next one does
    not fit), and pad them (right).

    Returns ``ids`` [B, L], ``positions`` [B, L, 3] (each example's own, restarting), ``modality``,
    ``attention_mask`` and ``loss_mask`` [B, L] (an example's first token is never a target), ``segments`` [B, L]
    and ``continuous`` (empty). A ``Packed`` item is trained on every token but its first.
    """
    if vocab.layout != "flattened":
        raise ConfigError("pack_rows packs the flattened layout (one id per position)")
    if max_length < 1 or not examples:
        raise ShapeError(f"pack_rows needs examples and max_length >= 1, got {len(examples)} and {max_length}")
    items = [e if isinstance(e, Example) else Example(e, torch.ones(len(e), dtype=torch.bool)) for e in examples]
    rows: list[list[Example]] = [[]]
    used = 0
    for i, item in enumerate(items):
        if item.packed.continuous:
            raise ConfigError("pack_rows packs discrete sequences; continuous latents need the reference model")
        if len(item) > max_length:
            raise ShapeError(f"example {i} has {len(item)} tokens, more than max_length {max_length}")
        if used + len(item) > max_length:
            rows.append([])
            used = 0
        rows[-1].append(item)
        used += len(item)
    length = max_length if pad_to_max else max(sum(len(e) for e in row) for row in rows)
    batch = len(rows)
    ids = torch.full((batch, length), vocab.pad_id, dtype=torch.long)
    positions = torch.zeros(batch, length, 3, dtype=torch.long)
    modality = torch.zeros(batch, length, dtype=torch.long)
    loss = torch.zeros(batch, length, dtype=torch.bool)
    segments = torch.zeros(batch, length, dtype=torch.long)
    for b, row in enumerate(rows):
        at = 0
        for k, item in enumerate(row):
            n = len(item)
            ids[b, at : at + n] = item.packed.ids
            positions[b, at : at + n] = item.packed.positions
            modality[b, at : at + n] = item.packed.modality
            loss[b, at : at + n] = item.loss_mask
            loss[b, at] = False
            segments[b, at : at + n] = k + 1
            at += n
    return {
        "ids": ids,
        "positions": positions,
        "modality": modality,
        "attention_mask": segments > 0,
        "loss_mask": loss,
        "segments": segments,
        "continuous": {},
    }


def segment_positions(segments: Tensor) -> Tensor:
    """segments [B, L] -> each token's index within its run of equal segment values, LongTensor [B, L]."""
    index = torch.arange(segments.shape[1], device=segments.device).expand_as(segments)
    starts = torch.ones_like(segments, dtype=torch.bool)
    starts[:, 1:] = segments[:, 1:] != segments[:, :-1]
    first = torch.where(starts, index, torch.zeros_like(index)).cummax(dim=1).values
    return index - first


def block_causal_mask(segments: Tensor) -> Tensor:
    """segments [B, L] -> bool [B, 1, L, L], True where query i may attend key j: j <= i in the same sample.
    Padding (segment 0) attends to itself only, so no row is empty."""
    length = segments.shape[1]
    index = torch.arange(length, device=segments.device)
    causal = index[None, :] <= index[:, None]  # (L, L): key <= query
    same = segments[:, :, None] == segments[:, None, :]  # (B, L, L)
    real = (segments > 0)[:, :, None] | torch.eye(length, dtype=torch.bool, device=segments.device)
    return (causal & same & real)[:, None]


class RowPacker:
    """A DataLoader ``collate_fn``: a list of Examples (or Packed) -> :func:`pack_rows`'s batch."""

    def __init__(self, vocab: SharedVocabulary, max_length: int, pad_to_max: bool = False):
        self.vocab, self.max_length, self.pad_to_max = vocab, int(max_length), bool(pad_to_max)

    def __call__(self, examples: Sequence[Example | Packed]) -> dict[str, Any]:
        return pack_rows(self.vocab, examples, self.max_length, self.pad_to_max)
