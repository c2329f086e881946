"""Reconstruction-quality reports: ``report.html`` (self-contained), ``report.md`` and ``metrics.json``.

Built from an :class:`omnitok.evaluation.EvalRun` of any modality; matplotlib draws the pictures (the ``eval``
extra). Other features add content through :class:`ReportSection` (see :mod:`omnitok.report.sections`).
:func:`compare_reports` merges earlier reports' ``metrics.json`` measured under one protocol (``omnitok compare``).
"""

from omnitok.report.compare import compare_reports
from omnitok.report.document import SCHEMA, metrics_document, read_metrics_document
from omnitok.report.sections import ReportSection, SectionImage
from omnitok.report.writer import REPORT_FILES, check_report_folder, write_report

__all__ = [
    "REPORT_FILES",
    "SCHEMA",
    "ReportSection",
    "SectionImage",
    "check_report_folder",
    "compare_reports",
    "metrics_document",
    "read_metrics_document",
    "write_report",
]
