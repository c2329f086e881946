"""Which pictures (and, for audio, which players) a report holds, drawn from an :class:`EvalRun`.

- images: reconstructions side by side with error maps, each tokenizer's worst samples per metric;
- audio: spectrogram comparisons (original | reconstruction | difference) of the showcase and worst clips with
  players for each (original and reconstruction), and the bitrate ladder of residual tokenizers;
- video: frame strips (original row, reconstruction rows) of the showcase and worst clips, an animated GIF
  preview, and the per-frame metric curves;
- every modality: the rate-distortion plot of all tokenizers and baselines
  (:mod:`omnitok.report.rate_distortion`) first, each discrete tokenizer's codebook usage last.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from omnitok.report.figures import ERROR_SCALE, codebook_figure, comparison_figure, worst_figure
from omnitok.report.sections import IMAGE_FORMATS
from omnitok.report.tables import format_value, metric_label

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun


@dataclasses.dataclass
class Player:
    """An audio player: ``wav`` bytes, written as ``figures/<slug>.wav`` and embedded in the HTML."""

    slug: str
    label: str
    wav: bytes


@dataclasses.dataclass
class Figure:
    """slug: file name stem (``figures/<slug>.<format>``); png: the picture's bytes (PNG, or GIF when ``format`` is
    "gif"); players: audio players shown with the picture."""

    slug: str
    title: str
    caption: str
    png: bytes
    format: str = "png"
    players: list[Player] = dataclasses.field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"{self.slug}.{self.format}"

    @property
    def mime(self) -> str:
        return IMAGE_FORMATS[self.format]


def report_figures(run: EvalRun) -> list[Figure]:
    """The report's pictures, in the order they are shown."""
    from omnitok.modalities import get_modality
    from omnitok.report.rate_distortion import rate_distortion

    plot = rate_distortion(run)
    figures = ([plot] if plot is not None else []) + list(get_modality(run.modality).report_figures(run))
    for index, result in enumerate(run.results):
        if result.code_counts:
            figures.append(
                Figure(
                    f"codebook-{index}",
                    f"{result.name}: codebook usage",
                    f"How often each code was used over all evaluation {run.data.unit} (left) and the used codes' "
                    "shares ranked from most to least frequent (right, log-log).",
                    codebook_figure(result.name, result.code_counts),
                )
            )
    return figures


def _decoding(run: EvalRun) -> list:
    return [r for r in run.results if r.decodes]


def _worst_cases(run: EvalRun):
    """(result index, result, metric, worst sample indices, labels) for every tokenizer and sample metric."""
    names = run.data.names
    for index, result in enumerate(run.results):
        for metric, worst in result.worst.items():
            if worst:
                labels = [f"{sample_label(names[i])}: {format_value(result.per_sample[metric][i])}" for i in worst]
                yield index, result, metric, worst, labels


def image_figures(run: EvalRun) -> list[Figure]:
    names = run.data.names
    figures = []
    if run.shown and _decoding(run):
        captions = [sample_label(names[i]) for i in run.shown]
        columns = [(r.name, r.shown) for r in _decoding(run)]
        side = "side by side, " if len(run.results) > 1 else ""
        figures.append(
            Figure(
                "reconstructions",
                "Reconstructions",
                f"The same {len(run.shown)} images (drawn with seed {run.protocol.seed}) {side}with the per-pixel "
                f"absolute error of each reconstruction (black 0, yellow {ERROR_SCALE} or more, on [0, 1]).",
                comparison_figure(run.originals, columns, captions),
            )
        )
    directions = {m.name: m.higher_is_better for m in run.metrics}
    for index, result, metric, worst, labels in _worst_cases(run):
        figures.append(
            Figure(
                f"worst-{index}-{metric}",
                f"{result.name}: worst {len(worst)} by {metric_label(metric, directions.get(metric))}",
                f"The {len(worst)} images {result.name} reconstructs worst by {metric}, worst first.",
                worst_figure(
                    run.data.stored(worst), result.worst_images[metric], [s.replace(": ", "\n") for s in labels]
                ),
            )
        )
    return figures


def audio_figures(run: EvalRun) -> list[Figure]:
    from omnitok.report.audio_figures import DIFFERENCE_RANGE_DB, ladder_figure, spectrogram_figure, wav_bytes

    data, names = run.data, run.data.names
    rate = data.sample_rate
    difference = (
        f"difference: reconstruction minus original in dB (blue: energy lost, red: added; ±{DIFFERENCE_RANGE_DB:g} dB)"
    )
    figures = []
    if run.shown and _decoding(run):
        players = []
        for k, i in enumerate(run.shown):
            players.append(
                Player(
                    f"clip-{k}-original", f"{sample_label(names[i])}: original", wav_bytes(data.stored([i])[0], rate)
                )
            )
            for index, result in enumerate(run.results):
                if result.decodes:
                    players.append(
                        Player(
                            f"clip-{k}-{index}",
                            f"{sample_label(names[i])}: {result.name}",
                            wav_bytes(result.shown[k], rate),
                        )
                    )
        figures.append(
            Figure(
                "reconstructions",
                "Reconstructions",
                f"Spectrograms (dB, 32 ms window) of the same {len(run.shown)} clips (drawn with seed "
                f"{run.protocol.seed}) and their reconstructions; {difference}. Players: original, then each "
                "tokenizer's reconstruction.",
                spectrogram_figure(
                    run.originals,
                    [(r.name, r.shown) for r in _decoding(run)],
                    rate,
                    [sample_label(names[i]) for i in run.shown],
                ),
                players=players,
            )
        )
    directions = {m.name: m.higher_is_better for m in run.metrics}
    primary = run.metrics[0].name if run.metrics else None
    for index, result, metric, worst, labels in _worst_cases(run):
        players = []
        if metric == primary:  # players for the first metric's worst clips only (each clip costs its WAV bytes)
            for k, i in enumerate(worst):
                players.append(
                    Player(
                        f"worst-{index}-{metric}-{k}-original",
                        f"{labels[k]} (original)",
                        wav_bytes(data.stored([i])[0], rate),
                    )
                )
                players.append(
                    Player(
                        f"worst-{index}-{metric}-{k}",
                        f"{labels[k]} ({result.name})",
                        wav_bytes(result.worst_images[metric][k], rate),
                    )
                )
        figures.append(
            Figure(
                f"worst-{index}-{metric}",
                f"{result.name}: worst {len(worst)} by {metric_label(metric, directions.get(metric))}",
                f"The {len(worst)} clips {result.name} reconstructs worst by {metric}, worst first: original, "
                f"reconstruction, {difference}.",
                spectrogram_figure(data.stored(worst), [(result.name, result.worst_images[metric])], rate, labels),
                players=players,
            )
        )
    ladders = [(r.name, r.ladder) for r in run.results if r.ladder]
    if ladders:
        figures.append(
            Figure(
                "bitrate-ladder",
                "Bitrate ladder",
                "Each residual tokenizer decoded with its first 1..Q levels of one encoding (numbers mark the levels), "
                "against the resampling baseline at the same bitrates (dashed: 8-bit samples at the rate the bitrate "
                "allows, resampled back).",
                ladder_figure(ladders),
            )
        )
    return figures


def video_figures(run: EvalRun) -> list[Figure]:
    from omnitok.report.video_figures import curves_figure, preview_gif, strips_figure

    names = run.data.names
    figures = []
    decoding = _decoding(run)
    if run.shown and decoding:
        columns = [(r.name, r.shown) for r in decoding]
        strips = run.shown[:4]
        figures.append(
            Figure(
                "reconstructions",
                "Frame strips",
                f"{len(strips)} of the showcase clips (drawn with seed {run.protocol.seed}): the original's frames, "
                "then each tokenizer's reconstruction, frame 0 first.",
                strips_figure(
                    run.data.stored(strips),
                    [(n, c[: len(strips)]) for n, c in columns],
                    [sample_label(names[i]) for i in strips],
                ),
            )
        )
        order = " | ".join(["original", *[n for n, _ in columns]])
        figures.append(
            Figure(
                "preview",
                "Animated preview",
                f"The {len(run.shown)} showcase clips played at {run.data.fps:g} frames/s, one per row: {order}.",
                preview_gif(run.originals, columns, run.data.fps),
                format="gif",
            )
        )
    curves = [(r.name, r.curves) for r in decoding if r.curves]
    if curves:
        labels = {m.name: metric_label(m.name, m.higher_is_better) for m in run.metrics}
        figures.append(
            Figure(
                "per-frame",
                "Per-frame metrics",
                f"Each per-frame metric at every frame index, mean over the {len(run.data)} clips (a causal "
                "tokenizer codes frame 0 on its own).",
                curves_figure(curves, labels),
            )
        )
    directions = {m.name: m.higher_is_better for m in run.metrics}
    for index, result, metric, worst, labels in _worst_cases(run):
        figures.append(
            Figure(
                f"worst-{index}-{metric}",
                f"{result.name}: worst {len(worst)} by {metric_label(metric, directions.get(metric))}",
                f"The {len(worst)} clips {result.name} reconstructs worst by {metric}, worst first: original frames, "
                "then the reconstruction.",
                strips_figure(run.data.stored(worst), [(result.name, result.worst_images[metric])], labels),
            )
        )
    return figures


def sample_label(name: str, limit: int = 28) -> str:
    """A sample's name as captions show it: its last two path parts without the file suffix ("coffee/y4x22",
    "scene/2000251" for ``builtin``), shortened in the middle to ``limit`` characters."""
    parts = name.split("/")
    if parts[0] == "builtin":
        parts = parts[1:]
    stem, dot, suffix = parts[-1].rpartition(".")
    parts[-1] = stem if dot and stem and suffix.isalnum() and len(suffix) <= 5 else parts[-1]
    name = "/".join(parts[-2:])
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    return name[:head] + "…" + name[-(limit - 1 - head) :]
