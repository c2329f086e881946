"""``metrics.json``: every figure of an evaluation, machine-readable, under a versioned schema.

Schema ``omnitok.eval/3``::

    {
      "schema": "omnitok.eval/3",
      "modality": "image" | "audio" | "video",
      "protocol": {...},                  # EvalProtocol.to_dict(): data, fingerprint, policy, seed, versions, modality,
                                          # details (audio: sample_rate, seconds, channels, samples_per_clip;
                                          #          video: frames, fps, stride), device, dtype (the
                                          # tokenizers' precision, e.g. "bfloat16"; absent before it was recorded)
      "metrics": {name: {"higher_is_better": bool, "implementation": str, "per_sample": bool}
                  | {"available": false, "reason": str}},
      "samples": [name, ...],             # evaluation samples, in the order of every per-sample list
      "tokenizers": [{
          "name": str, "ref": str, "spec": TokenizerSpec.to_dict(),
          "weights_sha256": str | null,                   # SHA-256 of the weights file measured (null: unknown)
          "decodes": bool,                                # false: an encoder-only tokenizer, token figures only
          "reconstruction": {metric: float | null},
          "per_sample": {metric: [float, ...]},
          "worst": {metric: [sample name, ...]},          # worst first
          "tokens": {figure: float},                      # see omnitok.metrics.tokens (audio: kbps, ...)
          "speed": {"encode_samples_per_s": float, "decode_samples_per_s": float, "peak_mib": float | null, ...},
          "per_frame": {metric: [float | null, ...]},     # video: mean over clips at each frame index, null where a
                                                          # metric scores no value (frame 0 of flicker); {} otherwise
          "bitrate_ladder": [{"levels": int, "kbps": float, "si_sdr": float, "mel_distance": float,
                              "stft_distance": float, "baseline_si_sdr": float, "baseline_mel_distance": float,
                              "baseline_stft_distance": float}, ...] | null   # residual audio tokenizers
      }, ...],
      "best": {metric: tokenizer name},                 # with several tokenizers, per directed metric
      "sections": [ReportSection.to_dict(), ...],      # extra sections (title, header, rows, notes, images, data)
      "baselines": [{"name": str, "description": str, "note": str,  # trivial baselines (omnitok.evaluation.baselines)
                     "budget_of": str,                    # the tokenizer whose budget it keeps ("": none)
                     "rate": {"bits_per_pixel" | "kbps": float},  # budget baselines: the rate they keep
                     "reconstruction": {metric: float | null}, "per_sample": {metric: [float, ...]}}, ...],
    }

Versions: ``omnitok.eval/2`` keeps every key of ``omnitok.eval/1`` with the same meaning and adds ``modality``,
``protocol.modality``/``protocol.details``, ``per_frame``, ``bitrate_ladder`` and ``sections``;
``protocol.resolution`` is null for audio. ``omnitok.eval/3`` keeps every key of /2 and adds ``baselines`` (a
report of ``omnitok compare`` lists its sources in a "Compared reports" section). :func:`read_metrics_document`
reads every version and returns the /3 form (a /1 document is an image evaluation without the added keys; older
documents have no baselines), so readers need one code path.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnitok.errors import ConfigError

if TYPE_CHECKING:
    from omnitok.evaluation.evaluate import EvalRun

SCHEMA = "omnitok.eval/3"
READABLE_SCHEMAS = ("omnitok.eval/1", "omnitok.eval/2", SCHEMA)


def metrics_document(run: EvalRun) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        m.name: {"higher_is_better": m.higher_is_better, "implementation": m.implementation, "per_sample": m.per_sample}
        for m in run.metrics
    }
    metrics.update({name: {"available": False, "reason": why} for name, why in run.unavailable.items()})
    names = run.data.names
    tokenizers = [
        {
            "name": r.name,
            "ref": r.ref,
            "weights_sha256": r.weights_sha256,
            "spec": r.spec.to_dict(),
            "decodes": r.decodes,
            "reconstruction": {k: _finite(v) for k, v in r.summary.items()},
            "per_sample": {k: [_finite(v) for v in values] for k, values in r.per_sample.items()},
            "worst": {k: [names[i] for i in idx] for k, idx in r.worst.items()},
            "tokens": dict(r.tokens),
            "speed": dict(r.speed),
            "per_frame": {k: [_finite(v) for v in values] for k, values in r.curves.items()},
            "bitrate_ladder": None if r.ladder is None else [_finite_dict(rung) for rung in r.ladder],
        }
        for r in run.results
    ]
    return {
        "schema": SCHEMA,
        "modality": run.modality,
        "protocol": run.protocol.to_dict(),
        "metrics": metrics,
        "samples": list(names),
        "tokenizers": tokenizers,
        "best": best_per_metric(run),
        "sections": [s.to_dict() for s in run.sections],
        "baselines": [b.to_dict() for b in run.baselines],
    }


def read_metrics_document(path: str | os.PathLike) -> dict[str, Any]:
    """Read a metrics.json of schema ``omnitok.eval/1``, ``/2`` or ``/3`` and return it in the /3 form.

    Raises:
        ConfigError: unreadable JSON or an unknown schema.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read metrics document {path}: {err}") from None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema not in READABLE_SCHEMAS:
        raise ConfigError(f"{path}: unknown metrics schema {schema!r}; this omnitok reads {list(READABLE_SCHEMAS)}")
    if schema == "omnitok.eval/1":
        doc = dict(doc, modality="image", sections=[])
        doc["protocol"] = dict(doc["protocol"], modality="image", details={})
        doc["tokenizers"] = [dict(t, per_frame={}, bitrate_ladder=None) for t in doc["tokenizers"]]
    doc.setdefault("baselines", [])
    doc["schema"] = SCHEMA
    return doc


def best_per_metric(run: EvalRun) -> dict[str, str]:
    """metric -> name of the tokenizer with the best figure (only when several tokenizers were compared)."""
    if len(run.results) < 2:
        return {}
    best = {}
    for metric in run.metrics:
        scored = [(r.summary.get(metric.name), r.name) for r in run.results]
        scored = [(v, n) for v, n in scored if v is not None and math.isfinite(v)]
        if scored:
            pick = max if metric.higher_is_better else min
            best[metric.name] = pick(scored, key=lambda item: item[0])[1]
    return best


def _finite(value: float | None) -> float | None:
    """JSON has no NaN/Inf: they become null (e.g. PSNR of a perfect reconstruction is capped, never Inf)."""
    return value if value is None or math.isfinite(value) else None


def _finite_dict(values: dict[str, float]) -> dict[str, float | None]:
    return {k: _finite(v) if isinstance(v, float) else v for k, v in values.items()}
