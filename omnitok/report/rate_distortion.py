"""The rate-distortion plot: quality against rate for every compared tokenizer and the trivial baselines.

Rate is bits per pixel (images, video) or kbps (audio), from each tokenizer's token figures; quality is each of the
first two sample metrics of the evaluation (PSNR and SSIM for pictures, SI-SDR and mel distance for audio), one
panel each. Tokenizers are labelled points; a residual audio tokenizer's bitrate ladder is drawn as a line through
its rungs. Budget baselines (resampling to a tokenizer's information budget) are grey crosses at that tokenizer's
rate; rate-free baselines (mean colour, mean image) are dotted horizontal lines. Continuous tokenizers have no
bitrate and are listed in the caption instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnitok.report.figures import _png, _pyplot

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun
    from omnitok.report.pictures import Figure

RATE_LABELS = {"bits_per_pixel": "bits per pixel", "kbps": "kbps"}


def rate_key(run: EvalRun) -> str | None:
    """The rate figure the run's tokenizers carry ("bits_per_pixel" or "kbps"), or None when none has one."""
    for key in RATE_LABELS:
        if any(isinstance(r.tokens.get(key), (int, float)) for r in run.results):
            return key
    return None


def plotted_metrics(run: EvalRun, count: int = 2) -> list[Any]:
    """The first ``count`` sample metrics of the run (MetricInfo), the plot's panels."""
    return [m for m in run.metrics if m.per_sample][:count]


def rate_distortion_figure(
    points: list[tuple[str, float, dict[str, float | None]]],
    ladders: list[tuple[str, list[dict[str, float]]]],
    baselines: list[tuple[str, float | None, dict[str, float | None]]],
    metrics: list[tuple[str, str]],
    rate_label: str,
) -> bytes:
    """PNG bytes: one panel per metric, quality against rate.

    Args:
        points: (tokenizer name, rate, {metric: value}) per tokenizer with a rate.
        ladders: (tokenizer name, rungs with "kbps" and metric keys) per residual audio tokenizer.
        baselines: (baseline name, rate or None for rate-free ones, {metric: value}).
        metrics: (metric key, axis label) per panel.
        rate_label: the x axis label.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.4), squeeze=False)
    for ax, (key, label) in zip(axes[0], metrics):
        colours = {}
        for name, rungs in ladders:
            shown = [r for r in rungs if r.get(key) is not None]
            line = ax.plot([r["kbps"] for r in shown], [r[key] for r in shown], marker=".", alpha=0.6)[0]
            colours[name] = line.get_color()
        for name, rate, values in points:
            if values.get(key) is None:
                continue
            dot = ax.plot([rate], [values[key]], marker="o", linestyle="", color=colours.get(name), label=name)[0]
            ax.annotate(name, (rate, values[key]), fontsize=7, xytext=(4, 3), textcoords="offset points")
            colours.setdefault(name, dot.get_color())
        crosses = [(n, r, v[key]) for n, r, v in baselines if r is not None and v.get(key) is not None]
        for i, (name, rate, value) in enumerate(crosses):
            ax.plot(
                [rate], [value], marker="x", linestyle="", color="0.45", label="budget baselines" if i == 0 else None
            )
            ax.annotate(name, (rate, value), fontsize=6, color="0.35", xytext=(4, -9), textcoords="offset points")
        for name, rate, values in baselines:
            if rate is None and values.get(key) is not None:
                ax.axhline(values[key], linestyle=":", color="0.55", linewidth=1)
                ax.annotate(
                    name, (0.01, values[key]), xycoords=("axes fraction", "data"), fontsize=6, color="0.35",
                    xytext=(0, 2), textcoords="offset points",
                )  # fmt: skip
        ax.set_xlabel(rate_label)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.margins(x=0.15, y=0.12)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.subplots_adjust(wspace=0.3)
    return _png(fig)


def rate_distortion(run: EvalRun) -> Figure | None:
    """The report's rate-distortion figure, or None when no tokenizer has a bitrate or no sample metric ran."""
    from omnitok.report.pictures import Figure
    from omnitok.report.tables import metric_label

    key, metrics = rate_key(run), plotted_metrics(run)
    if key is None or not metrics:
        return None
    points = [
        (r.name, float(r.tokens[key]), r.summary)
        for r in run.results
        if r.decodes and isinstance(r.tokens.get(key), (int, float))
    ]
    if not points:
        return None
    ladders = [(r.name, r.ladder) for r in run.results if r.ladder] if key == "kbps" else []
    baselines = [(b.name, b.rate.get(key), b.summary) for b in run.baselines if key in b.rate or not b.budget_of]
    panels = [(m.name, metric_label(m.name, m.higher_is_better)) for m in metrics]
    unrated = [r.name for r in run.results if r.decodes and r.name not in {p[0] for p in points}]
    caption = (
        f"{' and '.join(label for _, label in panels)} against {RATE_LABELS[key]} for every tokenizer (dots)"
        + (", residual tokenizers' bitrate ladders as lines through their levels" if ladders else "")
        + "; grey crosses: resampling to a tokenizer's budget, drawn at its rate; dotted lines: rate-free baselines."
        + (f" Not drawn (continuous latents, no bitrate): {', '.join(unrated)}." if unrated else "")
    )
    png = rate_distortion_figure(points, ladders, baselines, panels, RATE_LABELS[key])
    return Figure("rate-distortion", "Rate-distortion", caption, png)
