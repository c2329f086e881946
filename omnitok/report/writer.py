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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from omnitok.errors import ConfigError, OutputError
from omnitok.report.document import metrics_document
from omnitok.report.html import render_html
from omnitok.report.markdown import FIGURE_DIR, render_markdown
from omnitok.report.pictures import report_figures
from omnitok.report.tables import all_tables

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun

REPORT_FILES = ("report.html", "report.md", "metrics.json")


def check_report_folder(
    out: str | os.PathLike, overwrite: bool = False, inputs: Sequence[str | os.PathLike] = ()
) -> Path:
    """Refuse, before any work, a destination that could lose data.

    ``out`` may be new or an empty folder; with ``overwrite`` it may also hold an earlier report, recognised by
    its own files (``report.html``, ``report.md``, ``metrics.json``, ``figures/``) and nothing else. A file, a
    folder holding anything else (a data set, a run with its checkpoints) or a folder holding any of ``inputs``
    (the data, the tokenizers) is never replaced.

    Raises:
        ConfigError: naming the folder and what it holds.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report destination {out} is a file, not a folder")
    where = out.resolve()
    for item in inputs:
        item_path = Path(item).resolve()
        if item_path == where or where in item_path.parents:
            raise ConfigError(f"report folder {out} holds the input {item}; choose another --out")
    if not out.is_dir() or not any(out.iterdir()):
        return out
    if not overwrite:
        raise ConfigError(f"report folder {out} is not empty; pass --overwrite to replace an earlier report")
    foreign = sorted(entry.name for entry in out.iterdir() if not _is_report_entry(entry))
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConfigError(
            f"report folder {out} holds more than an omnitok report ({listed}); --overwrite only replaces an earlier "
            "report, so choose another --out"
        )
    return out


def _is_report_entry(entry: Path) -> bool:
    """True for the files a report folder holds: its documents, and a figures folder of plain files."""
    if entry.name in REPORT_FILES:
        return entry.is_file() and not entry.is_symlink()
    if entry.name == FIGURE_DIR:
        return entry.is_dir() and not entry.is_symlink() and all(f.is_file() for f in entry.iterdir())
    return False


def write_report(run: EvalRun, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Render ``run`` into the folder ``out`` and return it."""
    out = check_report_folder(out, overwrite)
    tables, figures = all_tables(run), report_figures(run)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as err:
        raise OutputError(f"cannot write the report folder {out}: {err.strerror or err}") from None
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
    except OSError as err:
        raise OutputError(f"cannot write the report folder {out}: {err.strerror or err}") from None
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
