"""The report's tables as plain data (title, header, rows of cells), rendered alike to HTML and Markdown.

The best figure of each column that has a direction (higher or lower is better) is marked when several
tokenizers are compared; trade-off figures (tokens, bits per pixel, compression) carry no mark.
"""

from __future__ import annotations

import dataclasses
import math
import re

from omnitok.evaluation.evaluate import EvalRun

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


_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS", "rfid": "rFID"}
TOKEN_COLUMNS: list[tuple[str, str, Direction]] = [
    ("tokens_per_sample", "tokens / image", None),
    ("bits_per_pixel", "bits / pixel", None),
    ("latent_floats_per_pixel", "latent floats / pixel", None),
    ("compression_ratio", "compression", None),
    ("codebook_usage", "codebook usage", True),
    ("perplexity", "perplexity", True),
    ("dead_codes", "dead codes", False),
]
SPEED_COLUMNS: list[tuple[str, str, Direction]] = [
    ("encode_samples_per_s", "encode (images/s)", True),
    ("decode_samples_per_s", "decode (images/s)", True),
    ("peak_mib", "peak memory (MiB)", False),
]
_LEVEL_KEY = re.compile(r"level(\d+)/(.+)")


def metric_label(name: str, higher_is_better: bool | None) -> str:
    arrow = "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")
    return _LABELS.get(name, name) + arrow


def format_value(value: float | str | None, unavailable: str | None = None) -> str:
    if unavailable is not None:  # the short reason; the protocol block carries the whole message
        return f"unavailable ({unavailable.split(':')[0]})"
    if value is None or isinstance(value, str):
        return "n/a" if value is None else value
    if not math.isfinite(value):
        return str(value)
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
            row.append(Cell(format_value(value, why), best is not None and value == best and why is None))
    header = ["tokenizer"] + [label for _, label, _ in columns]
    return Table(title, header, rows, note)


def reconstruction_table(run: EvalRun) -> Table:
    columns = [(m.name, metric_label(m.name, m.higher_is_better), m.higher_is_better) for m in run.metrics]
    columns += [(name, metric_label(name, None), None) for name in run.unavailable]

    def values(result, key):
        if not result.decodes:
            return "encoder only", None
        return result.summary.get(key), run.unavailable.get(key)

    note = f"Mean over {run.protocol.num_samples} images; rFID over the same images (few images bias it upward)."
    return _table("Reconstruction", run, columns, values, note)


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
            rows.append([Cell(result.name), Cell(str(level))] + [
                Cell(format_value(figures.get(key))) for key in ("codebook_usage", "perplexity", "dead_codes")
            ])
    if not rows:
        return None
    return Table("Codebook use per level", ["tokenizer", "level", "usage", "perplexity", "dead codes"], rows)


def speed_table(run: EvalRun) -> Table:
    notes = sorted({str(r.speed.get("memory_note", "")) for r in run.results} - {""})
    note = f"Device: {run.protocol.device}, batch size {run.protocol.batch_size}. Memory: " + "; ".join(notes)
    return _table("Speed", run, SPEED_COLUMNS, lambda result, key: (result.speed.get(key), None), note)


def all_tables(run: EvalRun) -> list[Table]:
    tables = [reconstruction_table(run), token_table(run), level_table(run), speed_table(run)]
    return [t for t in tables if t is not None]
