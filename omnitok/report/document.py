"""``metrics.json``: every figure of an evaluation, machine-readable, under a versioned schema.

Schema ``omnitok.eval/1``::

    {
      "schema": "omnitok.eval/1",
      "protocol": {...},                  # EvalProtocol.to_dict(): data, fingerprint, policy, seed, versions, ...
      "metrics": {name: {"higher_is_better": bool, "implementation": str, "per_sample": bool}
                  | {"available": false, "reason": str}},
      "samples": [name, ...],             # evaluation images, in the order of every per-sample list
      "tokenizers": [{
          "name": str, "ref": str, "spec": TokenizerSpec.to_dict(),
          "decodes": bool,                                # false: an encoder-only tokenizer, token figures only
          "reconstruction": {metric: float | null},
          "per_sample": {metric: [float, ...]},
          "worst": {metric: [sample name, ...]},          # worst first
          "tokens": {figure: float},                      # see omnitok.metrics.tokens
          "speed": {"encode_samples_per_s": float, "decode_samples_per_s": float, "peak_mib": float | null, ...}
      }, ...],
      "best": {metric: tokenizer name}                  # with several tokenizers, per directed metric
    }

Video, audio and hybrid evaluations add metrics under the same keys (their own names in ``metrics`` and
``reconstruction``), so one reader handles every modality.
"""

from __future__ import annotations

import math
from typing import Any

from omnitok.evaluation.evaluate import EvalRun

SCHEMA = "omnitok.eval/1"


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
            "spec": r.spec.to_dict(),
            "decodes": r.decodes,
            "reconstruction": {k: _finite(v) for k, v in r.summary.items()},
            "per_sample": {k: [_finite(v) for v in values] for k, values in r.per_sample.items()},
            "worst": {k: [names[i] for i in idx] for k, idx in r.worst.items()},
            "tokens": dict(r.tokens),
            "speed": dict(r.speed),
        }
        for r in run.results
    ]
    return {
        "schema": SCHEMA,
        "protocol": run.protocol.to_dict(),
        "metrics": metrics,
        "samples": list(names),
        "tokenizers": tokenizers,
        "best": best_per_metric(run),
    }


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
