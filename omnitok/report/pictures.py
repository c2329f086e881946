"""Which pictures a report holds, drawn from an :class:`EvalRun`."""

from __future__ import annotations

import dataclasses

from omnitok.evaluation.evaluate import EvalRun
from omnitok.report.figures import ERROR_SCALE, codebook_figure, comparison_figure, worst_figure
from omnitok.report.tables import format_value, metric_label


@dataclasses.dataclass
class Figure:
    """slug: file name stem (``figures/<slug>.png``); png: the picture's bytes."""

    slug: str
    title: str
    caption: str
    png: bytes


def report_figures(run: EvalRun) -> list[Figure]:
    names = run.data.names
    figures = []
    if run.shown and any(r.decodes for r in run.results):
        captions = [_short(names[i]) for i in run.shown]
        columns = [(r.name, r.shown) for r in run.results if r.decodes]
        side = "side by side, " if len(run.results) > 1 else ""
        figures.append(Figure(
            "reconstructions",
            "Reconstructions",
            f"The same {len(run.shown)} images (drawn with seed {run.protocol.seed}) {side}with the per-pixel "
            f"absolute error of each reconstruction (black 0, yellow {ERROR_SCALE} or more, on [0, 1]).",
            comparison_figure(run.originals, columns, captions),
        ))
    directions = {m.name: m.higher_is_better for m in run.metrics}
    for index, result in enumerate(run.results):
        for metric, worst in result.worst.items():
            if not worst:
                continue
            labels = [f"{_short(names[i])}\n{format_value(result.per_sample[metric][i])}" for i in worst]
            figures.append(Figure(
                f"worst-{index}-{metric}",
                f"{result.name}: worst {len(worst)} by {metric_label(metric, directions.get(metric))}",
                f"The {len(worst)} images {result.name} reconstructs worst by {metric}, worst first.",
                worst_figure(run.data.images[worst], result.worst_images[metric], labels),
            ))
        if result.code_counts:
            figures.append(Figure(
                f"codebook-{index}",
                f"{result.name}: codebook usage",
                "How often each code was used over all evaluation images (left) and the used codes' shares "
                "ranked from most to least frequent (right, log-log).",
                codebook_figure(result.name, result.code_counts),
            ))
    return figures


def _short(name: str, limit: int = 24) -> str:
    """The file name (last path part) of a sample, shortened to ``limit`` characters."""
    name = name.rsplit("/", 1)[-1]
    return name if len(name) <= limit else "…" + name[-(limit - 1):]
