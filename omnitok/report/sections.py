"""Extra report sections: a way for any feature to add its own content to a report without touching the
renderers (semantic metrics of hybrid tokenizers, bitrate ladders, per-frame curves, ...).

A :class:`ReportSection` is plain data: a title, an optional table (header + rows of values), optional pictures
(PNG or GIF bytes), notes, and a machine-readable ``data`` dict. The report renders it in HTML (pictures embedded
as data URIs), Markdown (pictures written under ``figures/``) and ``metrics.json`` (under ``"sections"``)::

    from omnitok.report import ReportSection, SectionImage

    section = ReportSection(
        "Semantic features",
        header=["tokenizer", "teacher cosine ↑", "linear probe accuracy ↑"],
        rows=[["mine", 0.81, 0.64]],
        notes=["Teacher: a ViT-S/16; probe: logistic regression on 4 classes (chance 0.25)."],
        data={"teacher": "vit_small_patch16_224", "results": {"mine": {"cosine": 0.81, "probe_accuracy": 0.64}}},
    )
    run.sections.append(section)          # or evaluate(..., sections=[section])
    write_report(run, "report/")
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from omnitok.errors import ConfigError

Value = str | int | float | None
IMAGE_FORMATS = {"png": "image/png", "gif": "image/gif"}


@dataclasses.dataclass
class SectionImage:
    """A picture of a section: ``data`` holds PNG or GIF bytes (``format``)."""

    title: str
    data: bytes
    caption: str = ""
    format: str = "png"

    def __post_init__(self) -> None:
        if self.format not in IMAGE_FORMATS:
            raise ConfigError(f"section images are {sorted(IMAGE_FORMATS)}, got {self.format!r}")
        if not isinstance(self.data, bytes) or not self.data:
            raise ConfigError(f"section image {self.title!r} holds no bytes")


@dataclasses.dataclass
class ReportSection:
    """One extra section of a report.

    Attributes:
        title: the heading (also names the section in metrics.json; titles must differ within a report).
        header: column names of the table (empty: no table).
        rows: table rows, each as long as ``header``; numbers are formatted like the report's own tables.
        images: pictures shown under the table.
        notes: paragraphs shown under the table (plain text).
        data: machine-readable figures written to metrics.json as they are (JSON-serializable; NaN/Inf not allowed).
    """

    title: str
    header: list[str] = dataclasses.field(default_factory=list)
    rows: list[list[Value]] = dataclasses.field(default_factory=list)
    images: list[SectionImage] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ConfigError("a report section needs a title")
        if self.rows and not self.header:
            raise ConfigError(f"section {self.title!r} has rows but no header")
        for row in self.rows:
            if len(row) != len(self.header):
                raise ConfigError(f"section {self.title!r}: a row has {len(row)} cells for {len(self.header)} columns")

    @property
    def slug(self) -> str:
        """The section's id in HTML and the stem of its picture files."""
        return "section-" + (re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "untitled")

    def to_dict(self) -> dict[str, Any]:
        """The section's entry in metrics.json (pictures are files of the report, not JSON)."""
        return {
            "title": self.title,
            "header": list(self.header),
            "rows": [[_json_value(v) for v in row] for row in self.rows],
            "notes": list(self.notes),
            "images": [f"figures/{name}" for name in self.image_files()],
            "data": self.data,
        }

    def image_files(self) -> list[str]:
        """File names of the pictures under ``figures/``."""
        return [f"{self.slug}-{i}.{image.format}" for i, image in enumerate(self.images)]


def check_sections(sections: list[ReportSection]) -> None:
    """Raise ConfigError when two sections share a title (their ids and files would collide)."""
    seen: set[str] = set()
    for section in sections:
        if not isinstance(section, ReportSection):
            raise ConfigError(f"report sections must be ReportSection, got {type(section).__name__}")
        if section.slug in seen:
            raise ConfigError(f"two report sections are titled {section.title!r}")
        seen.add(section.slug)


def _json_value(value: Value) -> Value:
    return None if isinstance(value, float) and not math.isfinite(value) else value
