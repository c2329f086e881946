"""Merge earlier reports (their ``metrics.json``) into one comparison report: what ``omnitok compare`` runs.

Reports merge only when they were measured under the same protocol: the same data (fingerprint, sample list),
sample policy, resolution, seed, modality details, conventions, and the same implementation of every metric both
ran (:data:`PROTOCOL_KEYS`). Device, dtype (the tokenizers' precision), batch size and package versions may differ;
they are listed per report in the "Compared reports" section. The merged report holds every table, the
rate-distortion plot and the curves that ``metrics.json`` carries; pictures of samples (reconstructions, worst cases,
codebook histograms) stay in the source reports, since their media are not in ``metrics.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.report.document import read_metrics_document

PROTOCOL_KEYS = (  # the readable settings first, so a refusal names the setting rather than the data fingerprint
    "modality",
    "data",
    "resolution",
    "resize_policy",
    "num_samples",
    "seed",
    "details",
    "conventions",
    "fingerprint",
)


class ReportedSet:
    """The evaluation set of a merged report, as its metrics.json records it (names and protocol; no media)."""

    def __init__(self, protocol: dict[str, Any], names: list[str]) -> None:
        from omnitok.modalities import get_modality

        definition = get_modality(protocol["modality"])
        self.modality = protocol["modality"]
        self.names = list(names)
        self.root = str(protocol["data"])
        self.fingerprint = str(protocol["fingerprint"])
        self.skipped = list(protocol.get("skipped_files", []))
        self.unit = definition.plural
        self.scale = tuple(definition.metric_scale)
        self.resolution = protocol.get("resolution")
        details = protocol.get("details") or {}
        self.sample_rate = details.get("sample_rate")
        self.fps = details.get("fps")

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> str:
        size = f" at {self.resolution}x{self.resolution}" if self.resolution else ""
        return f"{len(self)} {self.unit} from {self.root}{size}"

    def stored(self, indices: list[int]) -> Tensor:
        if indices:
            raise ConfigError("a merged report holds no media; see the source reports for pictures")
        return torch.empty(0)


def read_reports(paths: list[str | os.PathLike]) -> list[tuple[Path, dict[str, Any]]]:
    """(path of metrics.json, document) per report; a report folder stands for its metrics.json.

    Raises:
        ConfigError: fewer than two reports, a missing or unreadable file, an unknown schema, a report given twice.
    """
    if len(paths) < 2:
        raise ConfigError("omnitok compare needs at least two reports (metrics.json files or report folders)")
    out, seen = [], set()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            path = path / "metrics.json"
        if not path.is_file():
            raise ConfigError(f"{path}: no such metrics.json (give the metrics.json of an omnitok eval report)")
        if path.resolve() in seen:
            raise ConfigError(f"{path} is given twice")
        seen.add(path.resolve())
        out.append((path, read_metrics_document(path)))
    return out


def check_same_protocol(reports: list[tuple[Path, dict[str, Any]]]) -> None:
    """ConfigError naming the file and the protocol key where a report differs from the first one."""
    (first_path, first), *rest = reports
    for path, doc in rest:
        for key in PROTOCOL_KEYS:
            a, b = _protocol_value(first, key), _protocol_value(doc, key)
            if a != b:
                raise ConfigError(
                    f"{path} was measured under another protocol than {first_path}: protocol.{key} is {_show(b)}, "
                    f"not {_show(a)}; only reports of the same protocol compare"
                )
        if doc.get("samples") != first.get("samples"):
            raise ConfigError(f"{path}: its samples differ from those of {first_path} (key 'samples')")
        for name, entry in doc["metrics"].items():
            other = first["metrics"].get(name)
            if _available(entry) and other is not None and _available(other) and entry != other:
                raise ConfigError(
                    f"{path}: metric {name!r} is {entry.get('implementation')!r}, in {first_path} "
                    f"{other.get('implementation')!r} (key 'metrics.{name}')"
                )


def _dtype(doc: dict[str, Any]) -> str:
    """The precision a report's tokenizers ran in; reports written before it was recorded say so."""
    return str(doc["protocol"].get("dtype", "not recorded"))


def merged_run(reports: list[tuple[Path, dict[str, Any]]]) -> Any:
    """One :class:`~omnitok.evaluation.EvalRun` holding the tokenizers of every report (names made unique)."""
    from omnitok.evaluation.baselines import baseline_from_dict
    from omnitok.evaluation.evaluate import EvalRun
    from omnitok.evaluation.protocol import EvalProtocol
    from omnitok.evaluation.runner import MetricInfo
    from omnitok.report.sections import ReportSection

    check_same_protocol(reports)
    first = reports[0][1]
    metrics: dict[str, MetricInfo] = {}
    unavailable: dict[str, str] = {}
    for _, doc in reports:
        for name, entry in doc["metrics"].items():
            if _available(entry):
                metrics.setdefault(
                    name, MetricInfo(name, entry["higher_is_better"], entry["implementation"], entry["per_sample"])
                )
            else:
                unavailable.setdefault(name, str(entry.get("reason", "unavailable")))
    unavailable = {k: v for k, v in unavailable.items() if k not in metrics}
    implementations = {m.name: m.implementation for m in metrics.values()}
    implementations.update({k: f"unavailable ({v})" for k, v in unavailable.items()})
    fields = {k: v for k, v in first["protocol"].items() if k in EvalProtocol.__dataclass_fields__}
    devices = {str(doc["protocol"].get("device")) for _, doc in reports}
    dtypes = {_dtype(doc) for _, doc in reports}
    fields.update(
        metrics=implementations,
        conventions=tuple(fields.get("conventions", ())),
        skipped_files=tuple(fields.get("skipped_files", ())),
        device=devices.pop() if len(devices) == 1 else "as listed per report under Compared reports",
        dtype=dtypes.pop() if len(dtypes) == 1 else "as listed per report under Compared reports",
    )
    protocol = EvalProtocol(**fields)
    data = ReportedSet(first["protocol"], first["samples"])
    results, baselines, rows, taken = [], {}, [], set()
    for path, doc in reports:
        names = []
        for entry in doc["tokenizers"]:
            name = _unique(entry["name"], path, taken)
            names.append(name)
            try:
                results.append(_result(entry, name))
            except (ConfigError, KeyError, TypeError) as err:
                raise ConfigError(f"{path}: tokenizer {entry.get('name')!r} is not a valid entry: {err}") from None
        for entry in doc.get("baselines", []):
            baselines.setdefault(entry["name"], baseline_from_dict(entry))
        versions = doc["protocol"].get("versions", {})
        rows.append(
            [str(path), ", ".join(names), str(doc["protocol"].get("device")), _dtype(doc), versions.get("omnitok", "?")]
        )
    section = ReportSection(
        "Compared reports",
        header=["metrics.json", "tokenizers", "device", "dtype", "omnitok"],
        rows=rows,
        notes=["Reconstruction figures merge under one protocol; speed figures are those of each report's device."],
        data={"reports": [{"path": str(p), "versions": d["protocol"].get("versions", {})} for p, d in reports]},
    )
    return EvalRun(
        protocol, list(metrics.values()), unavailable, results, data, [], [section], list(baselines.values())
    )


def compare_reports(paths: list[str | os.PathLike], out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Merge the reports at ``paths`` into a new report folder ``out`` (report.html, report.md, metrics.json).

    Raises:
        ConfigError: see :func:`read_reports` and :func:`check_same_protocol`; ``out`` refused as by ``omnitok eval``.
    """
    from omnitok.report.writer import check_report_folder, write_report

    check_report_folder(out, overwrite, inputs=[Path(p) for p in paths])
    run = merged_run(read_reports(paths))
    return write_report(run, out, overwrite)


def _result(entry: dict[str, Any], name: str) -> Any:
    from omnitok.evaluation.runner import TokenizerResult
    from omnitok.protocol import TokenizerSpec

    return TokenizerResult(
        name=name,
        ref=str(entry.get("ref", "")),
        spec=TokenizerSpec.from_dict(entry["spec"]),
        summary=dict(entry.get("reconstruction", {})),
        per_sample={k: list(v) for k, v in entry.get("per_sample", {}).items()},
        tokens=dict(entry.get("tokens", {})),
        speed=dict(entry.get("speed", {})),
        code_counts=[],
        shown=torch.empty(0),
        worst={},  # worst-case pictures need media: they stay in the source report
        worst_images={},
        decodes=bool(entry.get("decodes", True)),
        curves={k: list(v) for k, v in (entry.get("per_frame") or {}).items()},
        ladder=entry.get("bitrate_ladder"),
        weights_sha256=entry.get("weights_sha256"),
    )


def _unique(name: str, path: Path, taken: set[str]) -> str:
    """``name``, or ``name (folder)`` / ``name (folder, 2)`` when an earlier report has a tokenizer of that name;
    the folder is the report's (its parent's when the report folder is called "report", as in a training run)."""
    folder = path.resolve().parent
    label = folder.parent.name if folder.name == "report" and folder.parent.name else folder.name
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({label})" if n == 2 else f"{name} ({label}, {n - 1})"
    taken.add(candidate)
    return candidate


def _protocol_value(doc: dict[str, Any], key: str) -> Any:
    value = doc["protocol"].get(key)
    return list(value) if isinstance(value, tuple) else value


def _available(entry: dict[str, Any]) -> bool:
    return entry.get("available", True) is not False


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
