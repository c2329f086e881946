"""The report's pictures, drawn with matplotlib (Agg) and returned as PNG bytes.

- :func:`comparison_figure`: originals, then each tokenizer's reconstruction and error heatmap, same samples;
- :func:`worst_figure`: one tokenizer's k worst samples by one metric (original / reconstruction / error);
- :func:`codebook_figure`: code-usage histogram (codes sorted by index) and rank-frequency plot, per level.

Error heatmaps share one colour scale: mean absolute error on [0, 1] images, black 0 to yellow at
:data:`ERROR_SCALE` or more.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import torch
from torch import Tensor

_CELL = 1.6  # inches per image cell
ERROR_SCALE = 0.25  # the error heatmaps' colour scale tops out at this mean absolute error


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def _hwc(image: Tensor):
    return image.permute(1, 2, 0).cpu().numpy()


def error_map(original: Tensor, reconstruction: Tensor) -> Tensor:
    """Per-pixel absolute error [H, W] in [0, 1] (mean over channels) of two uint8 [3, H, W] images."""
    return (original.float() - reconstruction.float()).abs().mean(0) / 255.0


def comparison_figure(originals: Tensor, columns: Sequence[tuple[str, Tensor]], captions: Sequence[str] = ()) -> bytes:
    """One row per sample: the original, then (reconstruction, |error|) for each named tokenizer.

    Args:
        originals: uint8 [k, 3, H, W].
        columns: (tokenizer name, uint8 reconstructions [k, 3, H, W]) per tokenizer.
        captions: optional label per row (e.g. the file name).
    """
    plt = _pyplot()
    rows, cols = originals.shape[0], 1 + 2 * len(columns)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * _CELL, rows * _CELL), squeeze=False)
    titles = ["original"] + [t for name, _ in columns for t in (name, f"|error| {name}")]
    for r in range(rows):
        axes[r][0].imshow(_hwc(originals[r]))
        for c, (_, recon) in enumerate(columns):
            axes[r][1 + 2 * c].imshow(_hwc(recon[r]))
            axes[r][2 + 2 * c].imshow(
                error_map(originals[r], recon[r]).numpy(), cmap="inferno", vmin=0.0, vmax=ERROR_SCALE
            )
        if r < len(captions):
            axes[r][0].set_ylabel(captions[r], fontsize=7)
    for c, title in enumerate(titles):
        axes[0][c].set_title(textwrap.fill(title, 16), fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return _png(fig)


def worst_figure(originals: Tensor, reconstructions: Tensor, labels: Sequence[str]) -> bytes:
    """One column per sample (worst first): original, reconstruction and |error| stacked; ``labels`` under each."""
    plt = _pyplot()
    k = originals.shape[0]
    fig, axes = plt.subplots(3, max(k, 1), figsize=(max(k, 1) * _CELL, 3 * _CELL), squeeze=False)
    for i in range(k):
        axes[0][i].imshow(_hwc(originals[i]))
        axes[1][i].imshow(_hwc(reconstructions[i]))
        axes[2][i].imshow(
            error_map(originals[i], reconstructions[i]).numpy(), cmap="inferno", vmin=0.0, vmax=ERROR_SCALE
        )
        axes[2][i].set_xlabel(labels[i], fontsize=7)
    for r, name in enumerate(("original", "reconstruction", "|error|")):
        axes[r][0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return _png(fig)


def codebook_figure(name: str, counts: Sequence[Tensor]) -> bytes:
    """Code-usage histogram and rank-frequency plot (log-log) of each level's code counts."""
    plt = _pyplot()
    fig, (hist, rank) = plt.subplots(1, 2, figsize=(9, 3))
    for level, level_counts in enumerate(counts):
        label = f"level {level}" if len(counts) > 1 else "codes"
        freq = level_counts.double() / level_counts.sum().clamp_min(1)
        size = freq.numel()
        bins = min(size, 256)  # huge codebooks: codes grouped into 256 index bins
        grouped = torch.nn.functional.pad(freq, (0, (-size) % bins)).reshape(bins, -1).sum(1)
        hist.step(torch.arange(bins) * (size / bins), grouped.numpy(), where="post", label=label)
        ranked = torch.sort(freq, descending=True).values
        ranked = ranked[ranked > 0]
        rank.loglog(torch.arange(1, ranked.numel() + 1).numpy(), ranked.numpy(), label=label)
    hist.set_xlabel("code index" + (" (binned)" if any(c.numel() > 256 for c in counts) else ""))
    hist.set_ylabel("share of tokens")
    hist.set_title(f"{name}: code usage", fontsize=9)
    rank.set_xlabel("rank")
    rank.set_ylabel("share of tokens")
    rank.set_title(f"{name}: rank-frequency (used codes)", fontsize=9)
    if len(counts) > 1:
        hist.legend(fontsize=7)
    fig.subplots_adjust(wspace=0.3)  # (tight_layout lays every tick out once more; the PNG is cropped anyway)
    return _png(fig)
