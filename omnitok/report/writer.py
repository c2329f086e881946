"""Write a report folder (``report.html``, ``report.md``, ``metrics.json``, ``figures/`` with the pictures, audio
and extra sections' pictures) all at once.

The folder is assembled beside its destination and renamed into place, so an interrupted run leaves either
no report (or the previous one) or the complete new one, never a mixture.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from omnitok.errors import ConfigError
from omnitok.report.document import metrics_document
from omnitok.report.html import render_html
from omnitok.report.markdown import FIGURE_DIR, render_markdown
from omnitok.report.pictures import report_figures
from omnitok.report.tables import all_tables

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun

REPORT_FILES = ("report.html", "report.md", "metrics.json")


def check_report_folder(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse, before any work, a destination that is a file or a non-empty folder (unless ``overwrite``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report destination {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"report folder {out} is not empty; pass --overwrite to replace it")
    return out


def write_report(run: EvalRun, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Render ``run`` into the folder ``out`` and return it."""
    out = check_report_folder(out, overwrite)
    tables, figures = all_tables(run), report_figures(run)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (staging / FIGURE_DIR).mkdir()
        for figure in figures:
            (staging / FIGURE_DIR / figure.file_name).write_bytes(figure.png)
            for player in figure.players:
                (staging / FIGURE_DIR / f"{player.slug}.wav").write_bytes(player.wav)
        for section in run.sections:
            for file_name, image in zip(section.image_files(), section.images):
                (staging / FIGURE_DIR / file_name).write_bytes(image.data)
        (staging / "report.html").write_text(render_html(run, tables, figures), encoding="utf-8")
        (staging / "report.md").write_text(render_markdown(run, tables, figures), encoding="utf-8")
        document = json.dumps(metrics_document(run), indent=2, allow_nan=False)
        (staging / "metrics.json").write_text(document + "\n", encoding="utf-8")
        os.chmod(staging, 0o755)
        _swap_into_place(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def _swap_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        os.replace(staging, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.replace(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old)
