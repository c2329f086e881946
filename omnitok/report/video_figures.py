"""The video report's pictures: frame strips and per-frame metric curves (PNG bytes), and an animated GIF preview.

Clips are uint8 [3, T, R, R]. Strips show at most :data:`MAX_STRIP_FRAMES` frames, evenly spaced and always
including the first and last (frame 0 is where a causal tokenizer differs).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.report.figures import _hwc, _png, _pyplot

MAX_STRIP_FRAMES = 9
PREVIEW_MIN_SIDE = 96  # GIF cells are enlarged (nearest) to at least this many pixels


def strip_frames(frames: int, limit: int = MAX_STRIP_FRAMES) -> list[int]:
    """Evenly spaced frame indices, first and last included, at most ``limit`` of them."""
    if frames <= limit:
        return list(range(frames))
    return sorted({round(i * (frames - 1) / (limit - 1)) for i in range(limit)})


def strips_figure(
    originals: Tensor, columns: Sequence[tuple[str, Tensor]], captions: Sequence[str] = (), cell: float = 1.0
) -> bytes:
    """For each clip: the original's frames in a row, then one row per tokenizer's reconstruction.

    Args:
        originals: uint8 [k, 3, T, R, R].
        columns: (tokenizer name, uint8 reconstructions [k, 3, T, R, R]) per tokenizer.
        captions: optional label per clip.
    """
    plt = _pyplot()
    chosen = strip_frames(originals.shape[2])
    per_clip = 1 + len(columns)
    rows = originals.shape[0] * per_clip
    fig, axes = plt.subplots(rows, len(chosen), figsize=(len(chosen) * cell, rows * cell), squeeze=False)
    for k in range(originals.shape[0]):
        sources = [("original", originals[k])] + [(name, recon[k]) for name, recon in columns]
        for j, (label, clip) in enumerate(sources):
            row = k * per_clip + j
            for c, t in enumerate(chosen):
                axes[row][c].imshow(_hwc(clip[:, t]))
            caption = f"{captions[k]}\n{label}" if j == 0 and k < len(captions) else label
            axes[row][0].set_ylabel(textwrap.fill(caption, 18), fontsize=6)
    for c, t in enumerate(chosen):
        axes[0][c].set_title(f"frame {t}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return _png(fig)


def curves_figure(curves: Sequence[tuple[str, dict[str, list[float | None]]]], labels: dict[str, str]) -> bytes:
    """Per-frame metric against frame index: one panel per metric, one line per tokenizer.

    Args:
        curves: (tokenizer name, {metric: mean value at each frame index, None where not scored}) per tokenizer.
        labels: metric name -> axis label (with its direction).
    """
    plt = _pyplot()
    metrics = list(dict.fromkeys(m for _, c in curves for m in c))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, c in curves:
            if metric in c:
                points = [(t, v) for t, v in enumerate(c[metric]) if v is not None]
                ax.plot([t for t, _ in points], [v for _, v in points], marker="o", markersize=3, label=name)
        ax.set_xlabel("frame index")
        ax.set_ylabel(labels.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][0].legend(fontsize=7)
    fig.subplots_adjust(wspace=0.4)
    return _png(fig)


def preview_gif(originals: Tensor, columns: Sequence[tuple[str, Tensor]], fps: float) -> bytes:
    """An animated GIF (looping) of the clips: one row per clip, the original then each tokenizer's
    reconstruction side by side, 2-pixel white gaps, played at ``fps``.

    Args:
        originals: uint8 [k, 3, T, R, R]; columns: (name, uint8 [k, 3, T, R, R]) per tokenizer.
    """
    from PIL import Image

    clips = [originals] + [recon for _, recon in columns]
    k, _, frames, side, _ = originals.shape
    scale = max(1, -(-PREVIEW_MIN_SIDE // side))
    cell, gap = side * scale, 2
    height, width = k * cell + (k - 1) * gap, len(clips) * cell + (len(clips) - 1) * gap
    images = []
    for t in range(frames):
        page = torch.full((3, height, width), 255, dtype=torch.uint8)
        for r in range(k):
            for c, clip in enumerate(clips):
                frame = clip[r, :, t].repeat_interleave(scale, 1).repeat_interleave(scale, 2)
                top, left = r * (cell + gap), c * (cell + gap)
                page[:, top : top + cell, left : left + cell] = frame
        images.append(Image.fromarray(page.permute(1, 2, 0).numpy()))
    buffer = io.BytesIO()
    duration = max(20, round(1000 / fps)) if fps and fps > 0 else 125
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return buffer.getvalue()
