"""Reconstruction-quality reports: ``report.html`` (self-contained), ``report.md`` and ``metrics.json``.

Built from an :class:`omnitok.evaluation.EvalRun`; matplotlib draws the pictures (the ``eval`` extra).
"""

from omnitok.report.document import SCHEMA, metrics_document
from omnitok.report.writer import REPORT_FILES, check_report_folder, write_report

__all__ = ["REPORT_FILES", "SCHEMA", "check_report_folder", "metrics_document", "write_report"]
