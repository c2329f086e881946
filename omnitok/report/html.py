"""``report.html``: one self-contained page (pictures and audio embedded as data URIs, no scripts, no network)."""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING

from omnitok.report.pictures import Figure
from omnitok.report.sections import IMAGE_FORMATS
from omnitok.report.tables import Table, protocol_items, section_table

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .35rem .7rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f6f8; font-weight: 600; }
td.best { font-weight: 700; background: #e7f6ea; }
.note { color: #666; font-size: .85rem; }
.protocol { background: #f6f6f8; border-radius: 6px; padding: .8rem 1rem; font-size: .85rem; }
.protocol dt { font-weight: 600; } .protocol dd { margin: 0 0 .4rem 0; overflow-wrap: anywhere; word-break: normal; hyphens: none; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .85rem; }
.players { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; margin: .5rem 0; font-size: .8rem; color: #444; }
.players div { display: flex; flex-direction: column; } audio { width: 260px; height: 32px; }
"""


def render_html(run: EvalRun, tables: list[Table], figures: list[Figure]) -> str:
    names = ", ".join(html.escape(r.name) for r in run.results)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>omnitok reconstruction report: {names}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Reconstruction report</h1>",
        f'<p class="subtitle">{names} on {html.escape(run.data.describe())}. '
        + ("Best figure per column in <b>bold</b>." if len(run.results) > 1 else "")
        + "</p>",
    ]
    for table in tables:
        parts.append(_table(table))
    parts.append("<h2>Pictures</h2>")
    for figure in figures:
        parts.append(
            f'<figure id="{figure.slug}"><h3>{html.escape(figure.title)}</h3>'
            f'<img src="{_data_uri(figure.mime, figure.png)}" alt="{html.escape(figure.title)}">'
            f"<figcaption>{html.escape(figure.caption)}</figcaption>{_players(figure)}</figure>"
        )
    for section in run.sections:
        parts.append(_section(section))
    parts.append(_protocol(run))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _players(figure: Figure) -> str:
    if not figure.players:
        return ""
    items = "".join(
        f'<div id="{p.slug}"><span>{html.escape(p.label)}</span>'
        f'<audio controls preload="none" src="{_data_uri("audio/wav", p.wav)}"></audio></div>'
        for p in figure.players
    )
    return f'<div class="players">{items}</div>'


def _section(section) -> str:
    """An extra report section (omnitok.report.sections.ReportSection)."""
    table = section_table(section)
    parts = [f'<section id="{section.slug}"><h2>{html.escape(section.title)}</h2>']
    if table is not None:
        parts.append(_table(table, heading=False))
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in section.notes]
    for image in section.images:
        parts.append(
            f'<figure><img src="{_data_uri(IMAGE_FORMATS[image.format], image.data)}" '
            f'alt="{html.escape(image.title)}"><figcaption>{html.escape(image.title)}'
            f"{': ' + html.escape(image.caption) if image.caption else ''}</figcaption></figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def _table(table: Table, heading: bool = True) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    rows = "".join(
        "<tr>" + "".join(f"<td{' class=best' if c.best else ''}>{html.escape(c.text)}</td>" for c in row) + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    slug = table.title.lower().replace(" ", "-")
    title = f"<h2>{html.escape(table.title)}</h2>" if heading else ""
    body = f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
    return f'{title}<table id="{slug}">{body}</table>{note}'


def _protocol(run: EvalRun) -> str:
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in protocol_items(run))
    return f'<h2>Protocol</h2><dl class="protocol" id="protocol">{rows}</dl>'
