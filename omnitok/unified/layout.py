"""Where each token of a media span goes: the flattened (AnyGPT) and delayed parallel-streams (MusicGen/Moshi)
layouts of a token grid, with Emu3-style row and frame separators.

A grid is seen as (frames, height, width) with Q levels per position: audio is (N, 1, 1), an image (1, H, W), a
video (T, H, W). Packing, unpacking and constrained generation all read the same :class:`SpanLayout`, so the three
cannot disagree about where a token or separator belongs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

FREE = -1  # ``forced`` value of a cell the tokenizer's codes fill


@dataclasses.dataclass
class SpanLayout:
    """The cells of one span between its begin and end tokens.

    Attributes:
        forced: LongTensor [n, S]: the id a cell must hold (separator, filler pad), or ``FREE`` for a code cell.
        level: LongTensor [n, S]: the codebook level of a code cell, -1 elsewhere.
        code_index: LongTensor [n, S]: index of a code cell's code in ``codes.reshape(-1)`` (codes [*grid, Q]
            in row-major order), -1 elsewhere.
        positions: LongTensor [n, 3]: (t, row, col) relative to the span's first cell.
    """

    forced: Tensor
    level: Tensor
    code_index: Tensor
    positions: Tensor

    @property
    def t_extent(self) -> int:
        """Time steps the span occupies (the next token's t is the first cell's t plus this)."""
        return int(self.positions[:, 0].max()) + 1 if len(self.positions) else 0


def flattened_layout(
    frames: int, height: int, width: int, levels: int, row_sep: int | None, frame_sep: int | None
) -> SpanLayout:
    """One stream: each grid position's ``levels`` codes in a row, ``row_sep`` after each row, ``frame_sep`` after
    each frame (None: no separator). Positions: (frame, row, col); a row separator sits at col = width, a frame
    separator at (frame, height, 0)."""
    shape = (frames, height, width * levels)
    index = torch.arange(frames * height * width * levels).view(shape)
    level = torch.arange(levels).repeat(frames * height * width).view(shape)
    forced = torch.full(shape, FREE)
    t = torch.arange(frames).view(-1, 1, 1).expand(shape)
    row = torch.arange(height).view(1, -1, 1).expand(shape)
    col = torch.arange(width).repeat_interleave(levels).view(1, 1, -1).expand(shape)
    parts = [forced, level, index, t, row, col]
    if row_sep is not None:  # one more column per row: t and row as the row's cells, col = width
        parts = [_append(p, v, dim=2) for p, v in zip(parts, (row_sep, -1, -1, None, None, width))]
    parts = [p.reshape(frames, -1) for p in parts]
    if frame_sep is not None:  # one more cell per frame: t as the frame's cells, (row, col) = (height, 0)
        parts = [_append(p, v, dim=1) for p, v in zip(parts, (frame_sep, -1, -1, None, height, 0))]
    forced, level, index, t, row, col = (p.reshape(-1) for p in parts)
    return SpanLayout(forced[:, None], level[:, None], index[:, None], torch.stack([t, row, col], dim=1))


def _append(part: Tensor, value: int | None, dim: int) -> Tensor:
    """Append one slice along ``dim``: the constant ``value``, or (None) a copy of the last slice."""
    if value is None:
        extra = part.narrow(dim, part.shape[dim] - 1, 1)
    else:
        size = list(part.shape)
        size[dim] = 1
        extra = torch.full(size, value)
    return torch.cat([part, extra], dim=dim)


def delayed_layout(
    frames: int,
    height: int,
    width: int,
    levels: int,
    row_sep: int | None,
    frame_sep: int | None,
    pad: int,
    delays: Sequence[int],
    streams: int,
) -> SpanLayout:
    """``streams`` parallel streams: item i of the one-level flattened layout (a grid position or a separator)
    puts its level-q code in stream q at row i + delays[q]. Separators sit in stream 0; every other cell (streams
    beyond ``levels``, delay gaps, separator rows of streams > 0) holds ``pad``. Rows past the last item continue
    the last item's position with t advancing."""
    items = flattened_layout(frames, height, width, 1, row_sep, frame_sep)
    n_items = len(items.positions)
    lag = max(delays[:levels])
    rows = n_items + lag
    forced = torch.full((rows, streams), pad)
    level = torch.full((rows, streams), -1)
    index = torch.full((rows, streams), -1)
    is_code = items.forced[:, 0] == FREE
    for q in range(levels):
        at = torch.arange(n_items) + delays[q]
        forced[at[is_code], q] = FREE
        level[at[is_code], q] = q
        index[at[is_code], q] = items.code_index[is_code, 0] * levels + q
        if q == 0:
            forced[at[~is_code], 0] = items.forced[~is_code, 0]
    tail = items.positions[-1:].repeat(lag, 1)
    tail[:, 0] += torch.arange(1, lag + 1)
    return SpanLayout(forced, level, index, torch.cat([items.positions, tail]))
