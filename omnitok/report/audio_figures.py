"""The audio report's media: spectrogram comparisons, the bitrate-ladder plot (PNG bytes) and WAV files for the
players.

Spectrograms are log-magnitude STFTs in dB (Hann window of 32 ms, hop 8 ms) of the channel mean, on one colour
scale for every panel of a figure (:data:`SPECTROGRAM_RANGE_DB` below the loudest bin of the originals); the
difference panel is reconstruction minus original in dB (blue: energy lost, red: energy added), clipped at
±:data:`DIFFERENCE_RANGE_DB`.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.report.figures import _png, _pyplot

SPECTROGRAM_RANGE_DB = 80.0
DIFFERENCE_RANGE_DB = 20.0
_CELL_W, _CELL_H = 2.6, 1.5  # inches per spectrogram panel


def wav_bytes(x: Tensor, sample_rate: int) -> bytes:
    """A 16-bit PCM WAV file (bytes) of a waveform [C, S] in [-1, 1] (clipped)."""
    import soundfile

    buffer = io.BytesIO()
    data = x.detach().float().clamp(-1, 1).T.cpu().numpy()
    soundfile.write(buffer, data, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def log_spectrogram(x: Tensor, sample_rate: int) -> Tensor:
    """dB magnitude [F, frames] of the channel mean of a waveform [C, S] (32 ms Hann window, 8 ms hop)."""
    n_fft = max(16, int(2 ** round(torch.log2(torch.tensor(0.032 * sample_rate)).item())))
    mono = x.float().mean(0)
    if mono.shape[-1] <= n_fft // 2:
        mono = torch.nn.functional.pad(mono, (0, n_fft // 2 + 1 - mono.shape[-1]))
    spec = torch.stft(mono, n_fft, n_fft // 4, window=torch.hann_window(n_fft), center=True, return_complex=True)
    return 20 * spec.abs().clamp_min(1e-5).log10()


def spectrogram_figure(
    originals: Tensor, columns: Sequence[tuple[str, Tensor]], sample_rate: int, captions: Sequence[str] = ()
) -> bytes:
    """One row per clip: the original's spectrogram, then (reconstruction, difference) for each named tokenizer.

    Args:
        originals: float [k, C, S] in [-1, 1].
        columns: (tokenizer name, reconstructions [k, C, S]) per tokenizer.
        captions: optional label per row (e.g. the file name).
    """
    plt = _pyplot()
    rows, cols = originals.shape[0], 1 + 2 * len(columns)
    fig, axes = plt.subplots(
        rows, cols, figsize=(cols * _CELL_W, rows * _CELL_H), squeeze=False, sharex=True, sharey=True
    )
    seconds = originals.shape[-1] / sample_rate
    extent = (0.0, seconds, 0.0, sample_rate / 2000)  # time in s, frequency in kHz
    titles = ["original"] + [t for name, _ in columns for t in (name, f"difference {name}")]
    for r in range(rows):
        reference = log_spectrogram(originals[r], sample_rate)
        top = float(reference.max())
        shown = {
            "origin": "lower",
            "aspect": "auto",
            "extent": extent,
            "cmap": "magma",
            "vmin": top - SPECTROGRAM_RANGE_DB,
            "vmax": top,
        }
        axes[r][0].imshow(reference.numpy(), **shown)
        for c, (_, recon) in enumerate(columns):
            spec = log_spectrogram(recon[r], sample_rate)
            axes[r][1 + 2 * c].imshow(spec.numpy(), **shown)
            difference = spec.clamp_min(top - SPECTROGRAM_RANGE_DB) - reference.clamp_min(top - SPECTROGRAM_RANGE_DB)
            axes[r][2 + 2 * c].imshow(
                difference.numpy(),
                origin="lower",
                aspect="auto",
                extent=extent,
                cmap="coolwarm",
                vmin=-DIFFERENCE_RANGE_DB,
                vmax=DIFFERENCE_RANGE_DB,
            )
        if r < len(captions):
            axes[r][0].set_ylabel(f"{captions[r]}\nkHz", fontsize=7)
    for c, title in enumerate(titles):
        axes[0][c].set_title(textwrap.fill(title, 28), fontsize=8)
    for ax in axes.flat:  # shared axes: tick labels on the outer panels only (fewer ticks to lay out, too)
        ax.tick_params(labelsize=6)
        ax.label_outer()
        ax.locator_params(nbins=4)
    for ax in axes[-1]:
        ax.set_xlabel("seconds", fontsize=7)
    fig.subplots_adjust(wspace=0.08, hspace=0.15)
    return _png(fig)


def ladder_figure(ladders: Sequence[tuple[str, list[dict[str, float]]]]) -> bytes:
    """SI-SDR and mel distance against kbps, one line per residual tokenizer (levels 1..Q marked), with the
    resampling baseline at the same bitrates dashed."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, rungs in ladders:
        kbps = [r["kbps"] for r in rungs]
        for ax, key in ((left, "si_sdr"), (right, "mel_distance")):
            line = ax.plot(kbps, [r[key] for r in rungs], marker="o", label=name)[0]
            ax.plot(
                kbps,
                [r[f"baseline_{key}"] for r in rungs],
                linestyle="--",
                color=line.get_color(),
                label=f"{name}: resampling baseline",
            )
            for r in rungs:
                ax.annotate(
                    str(int(r["levels"])), (r["kbps"], r[key]), fontsize=6, xytext=(2, 3), textcoords="offset points"
                )
    left.set_ylabel("SI-SDR (dB) ↑")
    right.set_ylabel("mel distance ↓")
    for ax in (left, right):
        ax.set_xlabel("kbps")
        ax.grid(alpha=0.3)
    left.legend(fontsize=6)
    fig.subplots_adjust(wspace=0.3)
    return _png(fig)
