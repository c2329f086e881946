"""``report.md``: the same tables and protocol as the HTML page; pictures and audio linked from ``figures/``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnitok.report.pictures import Figure
from omnitok.report.tables import Table, protocol_items, section_table

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun

FIGURE_DIR = "figures"


def render_markdown(run: EvalRun, tables: list[Table], figures: list[Figure]) -> str:
    names = ", ".join(r.name for r in run.results)
    lines = ["# Reconstruction report", "", f"{names} on {run.data.describe()}."]
    if len(run.results) > 1:
        lines.append("Best figure per column in **bold**.")
    for table in tables:
        lines += ["", f"## {table.title}", ""] + _table(table)
    lines += ["", "## Pictures"]
    for figure in figures:
        lines += [
            "",
            f"### {figure.title}",
            "",
            f"![{figure.title}]({FIGURE_DIR}/{figure.file_name})",
            "",
            figure.caption,
        ]
        if figure.players:
            lines.append("")
            lines += [f"- [{p.label}]({FIGURE_DIR}/{p.slug}.wav)" for p in figure.players]
    for section in run.sections:
        lines += ["", f"## {section.title}"]
        table = section_table(section)
        if table is not None:
            lines += [""] + _table(table)
        for note in section.notes:
            lines += ["", note]
        for file_name, image in zip(section.image_files(), section.images):
            lines += ["", f"![{image.title}]({FIGURE_DIR}/{file_name})"]
            if image.caption:
                lines += ["", image.caption]
    lines += ["", "## Protocol", ""]
    lines += [f"- {label}: {_code(label, text)}" for label, text in protocol_items(run)]
    return "\n".join(lines) + "\n"


def _table(table: Table) -> list[str]:
    lines = [_row(table.header), _row(["---"] * len(table.header))]
    lines += [_row([f"**{c.text}**" if c.best else c.text for c in row]) for row in table.rows]
    if table.note:
        lines += ["", table.note]
    return lines


def _code(label: str, text: str) -> str:
    """Identifiers (data path, fingerprint, versions) in backticks; prose as it is."""
    return f"`{text}`" if label in ("data", "versions") or label.startswith("dataset fingerprint") else text


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
