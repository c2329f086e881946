"""``report.md``: the same tables and protocol as the HTML page, pictures linked from ``figures/``."""

from __future__ import annotations

import json

from omnitok.evaluation.evaluate import EvalRun
from omnitok.report.pictures import Figure
from omnitok.report.tables import Table

FIGURE_DIR = "figures"


def render_markdown(run: EvalRun, tables: list[Table], figures: list[Figure]) -> str:
    names = ", ".join(r.name for r in run.results)
    lines = ["# Reconstruction report", "", f"{names} on {run.data.describe()}."]
    if len(run.results) > 1:
        lines.append("Best figure per column in **bold**.")
    for table in tables:
        lines += ["", f"## {table.title}", "", _row(table.header), _row(["---"] * len(table.header))]
        lines += [_row([f"**{c.text}**" if c.best else c.text for c in row]) for row in table.rows]
        if table.note:
            lines += ["", table.note]
    lines += ["", "## Pictures"]
    for figure in figures:
        lines += ["", f"### {figure.title}", "", f"![{figure.title}]({FIGURE_DIR}/{figure.slug}.png)", "", figure.caption]
    p = run.protocol
    lines += [
        "",
        "## Protocol",
        "",
        f"- data: `{p.data}`",
        f"- dataset fingerprint (SHA-256 of file names and bytes): `{p.fingerprint}`",
        f"- samples: {p.num_samples}",
        f"- resolution and resize / crop policy: {p.resize_policy}",
        f"- seed: {p.seed}",
        f"- device, batch size: {p.device}, {p.batch_size}",
    ]
    lines += [f"- metric {name}: {impl}" for name, impl in p.metrics.items()]
    lines += [f"- convention: {text}" for text in p.conventions]
    lines.append(f"- versions: `{json.dumps(p.versions, sort_keys=True)}`")
    if p.skipped_files:
        lines.append(f"- skipped unreadable files: {'; '.join(p.skipped_files)}")
    return "\n".join(lines) + "\n"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
