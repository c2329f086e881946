"""Packing samples into shared-vocabulary sequences and back, and padding them into batches.

A sample ``["a red circle", MediaSpan("image", tokens)]`` becomes
``bos  a r e d ...  <begin image> codes (row separators) <end image>  eos`` with a (t, row, col) position and a
modality tag per token. Unpacking reads the grid back from the separators (or the vocabulary's fixed grid) and
checks every cell, so truncated or malformed spans fail loudly instead of decoding garbage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from omnitok.errors import ConfigError, DTypeError, IndexRangeError, NonFiniteError, ShapeError
from omnitok.modalities import get_modality
from omnitok.protocol import check_indices
from omnitok.unified.layout import FREE, SpanLayout, delayed_layout, flattened_layout
from omnitok.unified.spans import ContinuousInput, MediaSpan, Packed

if TYPE_CHECKING:
    from omnitok.unified.vocabulary import SharedVocabulary


def span_layout(vocab: SharedVocabulary, name: str, grid: Sequence[int]) -> SpanLayout:
    """The cells between ``name``'s begin and end tokens for a span of ``grid`` (see :mod:`omnitok.unified.layout`)."""
    spec = vocab.spec(name)
    grid = tuple(int(g) for g in grid)
    if len(grid) != len(spec.downsample) or any(g < 1 for g in grid):
        raise ShapeError(
            f"{name!r} ({spec.modality}) needs a grid of {len(spec.downsample)} positive sizes, got {grid}"
        )
    modality = get_modality(spec.modality)
    frames, height, width = modality.cells(grid)
    row_sep = vocab.row_sep_id if vocab.separators and modality.row_separators else None
    frame_sep = vocab.frame_sep_id if vocab.separators and modality.frame_separators else None
    if vocab.layout == "delayed" and spec.discrete:
        return delayed_layout(
            frames, height, width, spec.num_levels, row_sep, frame_sep, vocab.pad_id, vocab.delays, vocab.num_streams
        )
    layout = flattened_layout(frames, height, width, spec.num_levels if spec.discrete else 1, row_sep, frame_sep)
    if vocab.num_streams > 1:  # a one-stream span (continuous) in the delayed layout: other streams hold pad
        extra = vocab.num_streams - 1
        n = len(layout.positions)
        layout.forced = torch.cat([layout.forced, torch.full((n, extra), vocab.pad_id)], dim=1)
        layout.level = torch.cat([layout.level, torch.full((n, extra), -1)], dim=1)
        layout.code_index = torch.cat([layout.code_index, torch.full((n, extra), -1)], dim=1)
    return layout


def level_offsets(vocab: SharedVocabulary, name: str) -> Tensor:
    """First id of each of ``name``'s levels, LongTensor [Q]."""
    spec = vocab.spec(name)
    return torch.tensor([vocab.range_of(name, q).start for q in range(spec.num_levels)])


# -- pack -----------------------------------------------------------------------------------------------------------
def pack(vocab: SharedVocabulary, sample: Sequence[str | MediaSpan], *, bos: bool = True, eos: bool = True) -> Packed:
    """See :meth:`SharedVocabulary.pack`."""
    if isinstance(sample, (str, MediaSpan)):
        raise DTypeError("pack takes one sample as a list of str and MediaSpan items, not a bare item")
    streams = vocab.num_streams
    ids, positions, tags = [], [], []
    latents: dict[str, list[Tensor]] = {}
    t = 0

    def emit(cells: Tensor, pos: Tensor, tag: int) -> None:
        if cells.ndim == 1:  # one stream of tokens; the others hold pad
            cells = torch.cat([cells[:, None], torch.full((len(cells), streams - 1), vocab.pad_id)], dim=1)
        ids.append(cells)
        positions.append(pos)
        tags.append(torch.full((len(cells),), tag))

    def emit_special(token: int, tag: int) -> None:
        nonlocal t
        emit(torch.tensor([token]), torch.tensor([[t, 0, 0]]), tag)
        t += 1

    if bos:
        emit_special(vocab.bos_id, 0)
    for i, segment in enumerate(sample):
        if isinstance(segment, str):
            text = torch.tensor(vocab.text.encode(segment), dtype=torch.long)
            if len(text) and (text.min() < 0 or text.max() >= vocab.text.size):
                raise IndexRangeError(
                    f"the text vocabulary returned ids outside [0, {vocab.text.size}) for {segment!r}"
                )
            steps = torch.arange(t, t + len(text))
            emit(text, torch.stack([steps, torch.zeros_like(steps), torch.zeros_like(steps)], dim=1), 0)
            t += len(text)
        elif isinstance(segment, MediaSpan):
            tag = vocab.tag_of(segment.name)
            cells, layout, values = _span_cells(vocab, segment, f"item {i} ({segment.name!r})")
            emit_special(vocab.begin_id(segment.name), tag)
            emit(cells, layout.positions + torch.tensor([t, 0, 0]), tag)
            t += layout.t_extent
            emit_special(vocab.end_id(segment.name), tag)
            if values is not None:
                latents.setdefault(segment.name, []).append(values)
        else:
            raise DTypeError(f"sample item {i} is a {type(segment).__name__}; items must be str or MediaSpan")
    if eos:
        emit_special(vocab.eos_id, 0)
    if not ids:
        empty = torch.zeros(0, dtype=torch.long)
        return Packed(empty if streams == 1 else empty.view(0, streams), empty.view(0, 3), empty)
    all_ids = torch.cat(ids)
    return Packed(
        all_ids[:, 0] if vocab.layout == "flattened" else all_ids,
        torch.cat(positions),
        torch.cat(tags),
        {name: torch.cat(v) for name, v in latents.items()},
    )


def _span_cells(vocab: SharedVocabulary, span: MediaSpan, where: str) -> tuple[Tensor, SpanLayout, Tensor | None]:
    """The cells [n, S] of one span, its layout, and (continuous) its latents [N, D] in sequence order."""
    spec = vocab.spec(span.name)
    axes = len(spec.downsample)
    tokens = span.tokens
    if not isinstance(tokens, Tensor):
        raise DTypeError(f"{where}: MediaSpan.tokens must be a tensor, got {type(tokens).__name__}")
    tokens = tokens.detach().cpu()
    if spec.discrete:
        rank = axes + (spec.codebook_kind != "single")
        if tokens.ndim == rank + 1 and tokens.shape[0] == 1:
            tokens = tokens[0]
        check_indices(tokens[None], spec.codebook_sizes, spec.codebook_kind, grid_axes=(axes,), what=f"{where} tokens")
        codes = tokens if spec.codebook_kind != "single" else tokens[..., None]
        if codes.shape[-1] != spec.num_levels:
            raise ShapeError(f"{where}: the vocabulary needs all {spec.num_levels} levels, got {codes.shape[-1]}")
        grid = tuple(codes.shape[:-1])
    else:
        if tokens.ndim == axes + 2 and tokens.shape[0] == 1:
            tokens = tokens[0]
        if tokens.ndim != axes + 1 or tokens.shape[0] != spec.latent_dim:
            raise ShapeError(
                f"{where}: latents must be [{spec.latent_dim}, *grid] with {axes} grid axes, got {tuple(tokens.shape)}"
            )
        if not tokens.is_floating_point():
            raise DTypeError(f"{where}: latents must be floating point, got {tokens.dtype}")
        if not torch.isfinite(tokens).all():
            raise NonFiniteError(f"{where}: latents hold NaN or Inf")
        grid = tuple(tokens.shape[1:])
    fixed = vocab.fixed_grid(span.name)
    if fixed is not None and grid != fixed:
        raise ShapeError(f"{where}: grid {grid} differs from the vocabulary's fixed grid {fixed}")
    layout = span_layout(vocab, span.name, grid)
    cells = layout.forced.clone()
    free = cells == FREE
    if spec.discrete:
        cells[free] = codes.reshape(-1)[layout.code_index[free]] + level_offsets(vocab, span.name)[layout.level[free]]
        return cells, layout, None
    cells[free] = vocab.latent_id(span.name)
    return cells, layout, tokens.movedim(0, -1).reshape(-1, spec.latent_dim)


# -- unpack ---------------------------------------------------------------------------------------------------------
def unpack(
    vocab: SharedVocabulary, ids: Tensor, continuous: Mapping[str, Tensor] | None = None
) -> list[str | MediaSpan]:
    """See :meth:`SharedVocabulary.unpack`."""
    if not isinstance(ids, Tensor) or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise DTypeError(f"ids must be an integer tensor, got {getattr(ids, 'dtype', type(ids).__name__)}")
    want = "[L]" if vocab.layout == "flattened" else f"[L, {vocab.num_streams}]"
    if (vocab.layout == "flattened" and ids.ndim != 1) or (
        vocab.layout == "delayed" and (ids.ndim != 2 or ids.shape[1] != vocab.num_streams)
    ):
        raise ShapeError(f"this {vocab.layout} vocabulary unpacks ids {want}, got shape {tuple(ids.shape)}")
    ids = ids.detach().cpu().long().reshape(len(ids), -1)
    bad = (ids < 0) | (ids >= vocab.size)
    if bad.any():
        row = int(bad.any(dim=1).nonzero()[0])
        raise IndexRangeError(f"id {int(ids[bad][0])} at position {row} is outside the vocabulary [0, {vocab.size})")
    lead = ids[:, 0].tolist()
    filled = (ids[:, 1:] != vocab.pad_id).any(dim=1).tolist()  # rows whose streams 1.. hold more than pad
    begins = {vocab.begin_id(n): n for n in vocab.names}
    stops = set(begins) | {vocab.end_id(n) for n in vocab.names} | {vocab.bos_id, vocab.eos_id}
    skip = {vocab.bos_id, vocab.eos_id, vocab.pad_id}
    cursor = {name: 0 for name in vocab.names}
    segments: list[str | MediaSpan] = []
    text: list[int] = []
    i = 0
    while i < len(lead):
        token = lead[i]
        if token in begins:
            name = begins[token]
            end = next((j for j in range(i + 1, len(lead)) if lead[j] in stops), None)
            if end is None or lead[end] != vocab.end_id(name):
                found = "the sequence ends" if end is None else f"id {lead[end]} comes at position {end}"
                raise ShapeError(
                    f"the {name!r} span starting at position {i} is truncated: {found} before its end token"
                )
            if text:
                segments.append(vocab.text.decode(text))
                text = []
            segments.append(_read_span(vocab, name, ids[i + 1 : end], i + 1, continuous, cursor))
            i = end + 1
            continue
        if filled[i]:
            raise ShapeError(f"position {i} is outside any span but streams 1.. hold ids other than pad")
        if token in vocab.text_range:
            text.append(token)
        elif token not in skip:
            raise ShapeError(f"id {token} at position {i} belongs inside a media span but stands outside one")
        i += 1
    if text:
        segments.append(vocab.text.decode(text))
    return segments


def _read_span(
    vocab: SharedVocabulary,
    name: str,
    run: Tensor,
    start: int,
    continuous: Mapping[str, Tensor] | None,
    cursor: dict[str, int],
) -> MediaSpan:
    """Cells [n, S] between a begin and an end token -> MediaSpan, after checking every cell against the layout."""
    spec = vocab.spec(name)
    levels = spec.num_levels if spec.discrete else 1
    items, item_levels = run[:, 0], levels
    if vocab.layout == "delayed" and spec.discrete:
        lag = max(vocab.delays[:levels])
        items, item_levels = run[: max(0, len(run) - lag), 0], 1
    grid = _infer_grid(vocab, name, items, item_levels, start)
    layout = span_layout(vocab, name, grid)
    if len(layout.forced) != len(run):
        raise ShapeError(
            f"the {name!r} span at position {start} has {len(run)} cells; grid {grid} needs {len(layout.forced)}"
        )
    forced = layout.forced != FREE
    wrong = forced & (run != layout.forced)
    if wrong.any():
        row, stream = (int(v) for v in wrong.nonzero()[0])
        raise ShapeError(
            f"the {name!r} span at position {start} is malformed: cell {row} (stream {stream}) holds id "
            f"{int(run[row, stream])} where the layout puts {int(layout.forced[row, stream])}"
        )
    free = ~forced
    if not spec.discrete:
        if (run[free] != vocab.latent_id(name)).any():
            raise ShapeError(f"the continuous {name!r} span at position {start} holds ids other than its placeholder")
        count = math.prod(grid)
        values = None if continuous is None else continuous.get(name)
        if values is None:
            return MediaSpan(name, None, grid)
        if cursor[name] + count > len(values):
            raise ShapeError(f"{name!r}: {len(values)} latent rows given, the spans need more")
        chunk = values[cursor[name] : cursor[name] + count]
        cursor[name] += count
        return MediaSpan(name, chunk.reshape(*grid, -1).movedim(-1, 0)[None], grid)
    level = layout.level[free]
    codes = run[free] - level_offsets(vocab, name)[level]
    sizes = torch.tensor(spec.codebook_sizes)[level]
    outside = (codes < 0) | (codes >= sizes)
    if outside.any():
        k = int(outside.nonzero()[0])
        raise IndexRangeError(
            f"the {name!r} span at position {start} holds id {int(run[free][k])} where a level-{int(level[k])} code "
            f"(ids {vocab.range_of(name, int(level[k]))}) belongs"
        )
    flat = torch.empty(math.prod(grid) * levels, dtype=torch.long)
    flat[layout.code_index[free]] = codes
    tokens = flat.view(*grid, levels) if spec.codebook_kind != "single" else flat.view(*grid)
    return MediaSpan(name, tokens[None], grid)


def _infer_grid(vocab: SharedVocabulary, name: str, items: Tensor, levels: int, start: int) -> tuple[int, ...]:
    """The grid a span's items (stream 0, levels codes per position) spell out with their separators."""
    spec = vocab.spec(name)
    fixed = vocab.fixed_grid(name)
    if fixed is not None:
        return fixed
    n = len(items)
    problem = f"the {name!r} span at position {start} ({n} cells"
    modality = get_modality(spec.modality)
    if not modality.row_separators:
        if n == 0 or n % levels:
            raise ShapeError(f"{problem}) is not a whole number of {levels}-level frames")
        return modality.grid_of_cells(n // levels, 1, 1)
    rows = int((items == vocab.row_sep_id).sum())
    frames = int((items == vocab.frame_sep_id).sum()) if modality.frame_separators else 1
    if frames == 0 or rows == 0 or rows % frames:
        raise ShapeError(f"{problem}, {rows} row and {frames} frame separators) does not form a grid; truncated?")
    height = rows // frames
    codes = n - rows - (frames if modality.frame_separators else 0)
    if codes <= 0 or codes % (rows * levels):
        raise ShapeError(f"{problem}) does not split into {rows} rows of whole {levels}-level positions; truncated?")
    width = codes // (rows * levels)
    return modality.grid_of_cells(frames, height, width)


# -- collate --------------------------------------------------------------------------------------------------------
def collate(
    vocab: SharedVocabulary, samples: Sequence[Packed], padding_side: Literal["right", "left"] = "right"
) -> dict[str, Any]:
    """Pad packed samples into a batch.

    Returns a dict: ``ids`` [B, L] or [B, L, S] (pad_id where padded), ``positions`` [B, L, 3], ``modality``
    [B, L] (0 on padding), ``attention_mask`` [B, L] bool (True = real token), ``loss_mask`` [B, L(, S)] bool
    (True where a token is a real next-token target: not padding, bos, stream filler or a continuous placeholder)
    and ``continuous`` {name: ContinuousInput}. Next-token loss: logits[:, :-1] against ids[:, 1:] where
    loss_mask[:, 1:].
    """
    if padding_side not in ("right", "left"):
        raise ConfigError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    if not samples:
        raise ShapeError("collate needs at least one sample")
    length = max(len(s) for s in samples)
    batch, streams = len(samples), vocab.num_streams
    ids = torch.full((batch, length, streams), vocab.pad_id, dtype=torch.long)
    positions = torch.zeros(batch, length, 3, dtype=torch.long)
    modality = torch.zeros(batch, length, dtype=torch.long)
    attention = torch.zeros(batch, length, dtype=torch.bool)
    for b, sample in enumerate(samples):
        n = len(sample)
        at = slice(0, n) if padding_side == "right" else slice(length - n, length)
        ids[b, at] = sample.ids.reshape(n, streams)
        positions[b, at], modality[b, at], attention[b, at] = sample.positions, sample.modality, True
    placeholders = [vocab.latent_id(n) for n in vocab.names if vocab.is_continuous(n)]
    lead = ids[..., 0]
    loss = attention[..., None] & (ids != vocab.pad_id) & (ids != vocab.bos_id)
    loss &= ~torch.isin(lead, torch.tensor(placeholders, dtype=torch.long))[..., None]
    continuous = {}
    for name in vocab.names:
        if not vocab.is_continuous(name):
            continue
        mask = attention & (lead == vocab.latent_id(name))
        parts = [s.continuous[name] for s in samples if name in s.continuous]
        if not parts and not mask.any():
            continue
        values = torch.cat(parts) if parts else torch.zeros(0, vocab.spec(name).latent_dim)
        if len(values) != int(mask.sum()):
            raise ShapeError(f"{name!r}: {len(values)} latent rows for {int(mask.sum())} placeholder positions")
        continuous[name] = ContinuousInput(mask, values)
    squeeze = vocab.layout == "flattened"
    return {
        "ids": ids[..., 0] if squeeze else ids,
        "positions": positions,
        "modality": modality,
        "attention_mask": attention,
        "loss_mask": loss[..., 0] if squeeze else loss,
        "continuous": continuous,
    }
