"""The report's tables as plain data (title, header, rows of cells), rendered alike to HTML and Markdown.

The best figure of each column that has a direction (higher or lower is better) is marked when several
tokenizers are compared; trade-off figures (tokens, bits per pixel, kbps, compression) carry no mark. Audio
reports add the bitrate ladder of residual tokenizers; video reports add the per-frame summary (frame 0 against
the rest: a causal tokenizer codes frame 0 on its own). The trivial baselines follow the tokenizers as rows of the
reconstruction table (never marked best), and a set of several subsets (the top-level folders; ``photo`` and
``scene`` for ``builtin``) gets a table per subset.

Numbers are formatted by kind: counts (tokens, dead codes) as integers, fractions (codebook usage) as percentages,
other figures with 2 to 4 decimals.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import TYPE_CHECKING

from omnitok.modalities import get_modality

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun
    from omnitok.report.sections import ReportSection


Direction = bool | None  # True: higher is better; False: lower is better; None: a trade-off, never marked


@dataclasses.dataclass
class Cell:
    text: str
    best: bool = False


@dataclasses.dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[Cell]]
    note: str = ""


_LABELS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "lpips": "LPIPS",
    "rfid": "rFID",
    "fvd": "FVD",
    "flicker": "flicker",
    "si_sdr": "SI-SDR (dB)",
    "mel_distance": "mel distance",
    "stft_distance": "STFT distance",
    "pesq": "PESQ",
    "stoi": "STOI",
}
TOKEN_COLUMNS: list[tuple[str, str, Direction]] = [
    ("tokens_per_sample", "tokens / sample", None),
    ("bits_per_pixel", "bits / pixel", None),
    ("latent_floats_per_pixel", "latent floats / pixel", None),
    ("kbps", "kbps", None),
    ("latent_floats_per_second", "latent floats / s", None),
    ("compression_ratio", "compression", None),
    ("codebook_usage", "codebook usage", True),
    ("perplexity", "perplexity", True),
    ("dead_codes", "dead codes", False),
]
SPEED_COLUMNS: list[tuple[str, str, Direction]] = [
    ("encode_samples_per_s", "encode ({unit}/s)", True),
    ("decode_samples_per_s", "decode ({unit}/s)", True),
    ("peak_mib", "peak memory (MiB)", False),
]
LADDER_COLUMNS = [
    ("kbps", "kbps"),
    ("si_sdr", "SI-SDR (dB) ↑"),
    ("mel_distance", "mel distance ↓"),
    ("stft_distance", "STFT distance ↓"),
    ("baseline_si_sdr", "baseline SI-SDR (dB)"),
    ("baseline_mel_distance", "baseline mel distance"),
    ("baseline_stft_distance", "baseline STFT distance"),
]
_LEVEL_KEY = re.compile(r"level(\d+)/(.+)")
COUNT_KEYS = frozenset({"tokens_per_sample", "dead_codes", "levels"})  # shown as integers
FRACTION_KEYS = frozenset({"codebook_usage", "usage"})  # shown as percentages


def metric_label(name: str, higher_is_better: bool | None) -> str:
    arrow = "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")
    return _LABELS.get(name, name) + arrow


def short_reason(reason: str) -> str:
    """The first clause of why a metric is unavailable (before any ':' or '(' that starts the details, such as a
    download error); the protocol block carries the whole message."""
    clause = re.split(r"[:(]", reason, maxsplit=1)[0].strip()
    return clause if clause and len(clause) <= 40 and "/" not in clause else "see protocol"


def format_value(value: float | str | None, unavailable: str | None = None, kind: str | None = None) -> str:
    """A figure as the report prints it; ``kind`` is its key (e.g. "dead_codes", "codebook_usage"), which picks
    integers for counts and percentages for fractions."""
    if unavailable is not None:
        return f"unavailable ({short_reason(unavailable)})"
    if value is None or isinstance(value, str):
        return "n/a" if value is None else value
    if not math.isfinite(value):
        return str(value)
    if kind in COUNT_KEYS:
        return f"{round(value):,}"
    if kind in FRACTION_KEYS:
        return f"{100 * value:.1f}%"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    magnitude = abs(value)
    digits = 4 if magnitude < 1 else 3 if magnitude < 10 else 2 if magnitude < 1000 else 0
    return f"{value:,.{digits}f}"


def _table(title: str, run: EvalRun, columns: list[tuple[str, str, Direction]], values, note: str = "") -> Table:
    """values(result, key) -> (value, unavailable reason or None)."""
    marks_best = len(run.results) > 1
    rows = [[Cell(r.name)] for r in run.results]
    for key, label, direction in columns:
        column = [values(r, key) for r in run.results]
        numbers = [v for v, why in column if isinstance(v, (int, float)) and why is None and math.isfinite(v)]
        best = None
        if marks_best and direction is not None and numbers:
            best = max(numbers) if direction else min(numbers)
        for row, (value, why) in zip(rows, column):
            row.append(Cell(format_value(value, why, key), best is not None and value == best and why is None))
    header = ["tokenizer"] + [label for _, label, _ in columns]
    return Table(title, header, rows, note)


def reconstruction_table(run: EvalRun) -> Table:
    columns = [(m.name, metric_label(m.name, m.higher_is_better), m.higher_is_better) for m in run.metrics]
    columns += [(name, metric_label(name, None), None) for name in run.unavailable]

    def values(result, key):
        if not result.decodes:
            return "encoder only", None
        return result.summary.get(key), run.unavailable.get(key)

    note = get_modality(run.modality).reconstruction_note(run.protocol.num_samples, run.data.unit)
    table = _table("Reconstruction", run, columns, values, note)
    if run.unavailable:
        table.note += " Why a metric is unavailable: see the protocol."
    if run.baselines:
        table.rows += [
            [Cell(f"baseline: {b.name}")] + [Cell(format_value(b.summary.get(key))) for key, _, _ in columns]
            for b in run.baselines
        ]
        described = "; ".join(f"{b.name}: {b.description}" for b in run.baselines)
        note = next((b.note for b in run.baselines if b.note), "")  # the sentence on the first budget, as an example
        table.note += f" Baselines (never marked best; sample metrics only): {described}. {note}".rstrip()
    return table


def subset_of(name: str) -> str:
    """The subset a sample belongs to: its top-level folder (for ``builtin``, the part after ``builtin/``: "photo"
    or "scene"); "" for a sample at the top level."""
    parts = name.split("/")
    if parts[0] == "builtin":
        parts = parts[1:]
    return parts[0] if len(parts) > 1 else ""


def subset_table(run: EvalRun) -> Table | None:
    """The sample metrics' means per subset, for tokenizers and baselines; None unless the set has 2+ subsets."""
    subsets = [subset_of(n) for n in run.data.names]
    names = list(dict.fromkeys(subsets))
    if len(names) < 2:
        return None
    metrics = [m for m in run.metrics if m.per_sample]
    rows = []
    entries = [(r.name, r.per_sample) for r in run.results if r.decodes]
    entries += [(f"baseline: {b.name}", b.per_sample) for b in run.baselines]
    for label, per_sample in entries:
        for subset in names:
            cells = [Cell(label), Cell(subset or "(top level)"), Cell(str(subsets.count(subset)))]
            for metric in metrics:
                values = [v for v, s in zip(per_sample.get(metric.name, []), subsets) if s == subset and v is not None]
                values = [v for v in values if math.isfinite(v)]
                cells.append(Cell(format_value(sum(values) / len(values) if values else None)))
            rows.append(cells)
    header = ["tokenizer", "subset", run.data.unit] + [metric_label(m.name, m.higher_is_better) for m in metrics]
    note = "Mean of each sample metric over the samples of each subset (top-level folder of the data)."
    return Table("Reconstruction by subset", header, rows, note)


def token_table(run: EvalRun) -> Table:
    present = [c for c in TOKEN_COLUMNS if any(c[0] in r.tokens for r in run.results)]
    return _table("Tokens", run, present, lambda result, key: (result.tokens.get(key), None))


def level_table(run: EvalRun) -> Table | None:
    """Per-level codebook figures of residual/grouped tokenizers, or None when no tokenizer has levels."""
    rows = []
    for result in run.results:
        levels: dict[int, dict[str, float]] = {}
        for key, value in result.tokens.items():
            match = _LEVEL_KEY.fullmatch(key)
            if match:
                levels.setdefault(int(match[1]), {})[match[2]] = value
        for level in sorted(levels):
            figures = levels[level]
            rows.append(
                [Cell(result.name), Cell(str(level))]
                + [
                    Cell(format_value(figures.get(key), kind=key))
                    for key in ("codebook_usage", "perplexity", "dead_codes")
                ]
            )
    if not rows:
        return None
    return Table("Codebook use per level", ["tokenizer", "level", "usage", "perplexity", "dead codes"], rows)


def speed_table(run: EvalRun) -> Table:
    notes = sorted({str(r.speed.get("memory_note", "")) for r in run.results} - {""})
    note = (
        f"Device: {run.protocol.device} ({run.protocol.dtype}), batch size {run.protocol.batch_size}. Memory: "
        + "; ".join(notes)
    )
    columns = [(key, label.format(unit=run.data.unit), direction) for key, label, direction in SPEED_COLUMNS]
    return _table("Speed", run, columns, lambda result, key: (result.speed.get(key), None), note)


def ladder_table(run: EvalRun) -> Table | None:
    """The bitrate ladder of every residual audio tokenizer (metrics at 1..Q levels), or None when there is none."""
    rows = [
        [Cell(result.name), Cell(str(int(rung["levels"])))]
        + [Cell(format_value(rung[key])) for key, _ in LADDER_COLUMNS]
        for result in run.results
        if result.ladder
        for rung in result.ladder
    ]
    if not rows:
        return None
    note = (
        "One encoding per clip decoded with its first 1..Q levels (quantizer dropout trains every prefix). Baseline: "
        "the waveform as 8-bit samples at the rate the same bitrate allows, resampled back."
    )
    header = ["tokenizer", "levels"] + [label for _, label in LADDER_COLUMNS]
    return Table("Bitrate ladder", header, rows, note)


def frame_table(run: EvalRun) -> Table | None:
    """Per-frame metrics of video tokenizers: frame 0, the mean of the other frames, and the worst frame."""
    directions = {m.name: m.higher_is_better for m in run.metrics}
    rows = []
    for result in run.results:
        for metric, curve in result.curves.items():
            if not curve:
                continue
            rest = [v for v in curve[1:] if v is not None]
            scored = [t for t, v in enumerate(curve) if v is not None]
            pick = min if directions.get(metric, True) else max
            worst = pick(scored, key=lambda t: curve[t])
            rows.append(
                [
                    Cell(result.name),
                    Cell(metric_label(metric, directions.get(metric))),
                    Cell(format_value(curve[0])),
                    Cell(format_value(sum(rest) / len(rest) if rest else None)),
                    Cell(f"{format_value(curve[worst])} (frame {worst})"),
                ]
            )
    if not rows:
        return None
    note = f"Mean over the {run.protocol.num_samples} clips at each frame index; the curves are plotted below."
    return Table("Per-frame metrics", ["tokenizer", "metric", "frame 0", "frames 1+ (mean)", "worst frame"], rows, note)


def all_tables(run: EvalRun) -> list[Table]:
    tables = [
        reconstruction_table(run),
        subset_table(run),
        ladder_table(run),
        frame_table(run),
        token_table(run),
        level_table(run),
        speed_table(run),
    ]
    return [t for t in tables if t is not None]


def section_table(section: ReportSection) -> Table | None:
    """An extra section's table (numbers formatted like the report's own; no best marks), or None without one."""
    if not section.header:
        return None
    rows = [[Cell(format_value(v) if not isinstance(v, str) else v) for v in row] for row in section.rows]
    return Table(section.title, list(section.header), rows)


def protocol_items(run: EvalRun) -> list[tuple[str, str]]:
    """The protocol block as (label, text) pairs, shared by the HTML and Markdown reports."""
    p = run.protocol
    policy = get_modality(p.modality).policy_label
    items = [
        ("modality", p.modality),
        ("data", p.data),
        ("dataset fingerprint (SHA-256 of file names and bytes)", p.fingerprint),
        ("samples", str(p.num_samples)),
        (policy, p.resize_policy),
    ]
    items += [(key.replace("_", " "), str(value)) for key, value in p.details.items()]
    items += [("seed", str(p.seed)), ("device, dtype, batch size", f"{p.device}, {p.dtype}, {p.batch_size}")]
    items += [(f"metric: {name}", impl) for name, impl in p.metrics.items()]
    items += [("convention", text) for text in p.conventions]
    for result in run.results:
        digest = result.weights_sha256 or "unknown (not loaded from a weights file)"
        items.append((f"tokenizer {result.name}", f"{result.ref or '(built in code)'}; weights SHA-256 {digest}"))
    items.append(("versions", json.dumps(p.versions, sort_keys=True)))
    if p.skipped_files:
        items.append(("skipped unreadable files", "; ".join(p.skipped_files)))
    return items
