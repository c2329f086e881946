"""The trivial baselines of an evaluation: reconstructions any tokenizer has to beat, scored like the tokenizers.

They are the modality's held-out baselines (:meth:`omnitok.modalities.base.Modality.heldout_baselines`: images and
video frames: the mean colour of each sample, the mean image, resampling to each tokenizer's information budget;
audio: resampling to each discrete tokenizer's bitrate), run over the evaluation set on the metrics' scale and
scored with its sample metrics (distribution metrics such as rFID are not computed for them). A budget baseline
carries the rate figure (bits per pixel, kbps) of the tokenizer whose budget it keeps, so the rate-distortion plot
draws it at that rate.

The mean image is the mean over each chunk of at most :data:`CHUNK_VALUES` values (the whole set when it fits).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from omnitok.evaluation.sets import EvalSet
from omnitok.metrics.registry import Metric, SampleMetric
from omnitok.modalities import get_modality
from omnitok.protocol import TokenizerSpec

CHUNK_VALUES = 2**26  # at most 256 MiB of float32 media per call
RATE_KEYS = ("bits_per_pixel", "kbps")  # the rate figures a baseline borrows from the tokenizer that sets its budget


@dataclasses.dataclass
class BaselineResult:
    """One baseline: ``name`` (e.g. "mean colour", "resample 26px"), what it is (``note``: the modality's sentence
    on its budget baselines), its rate (``{"bits_per_pixel": ...}`` for budget baselines, empty otherwise), the
    mean of each sample metric, the per-sample values, and the tokenizer whose budget it keeps ("" for none)."""

    name: str
    description: str
    rate: dict[str, float]
    summary: dict[str, float | None]
    per_sample: dict[str, list[float]]
    note: str = ""
    budget_of: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "note": self.note,
            "budget_of": self.budget_of,
            "rate": dict(self.rate),
            "reconstruction": {k: _finite(v) for k, v in self.summary.items()},
            "per_sample": {k: [_finite(v) for v in values] for k, values in self.per_sample.items()},
        }


@torch.no_grad()
def evaluate_baselines(
    data: EvalSet,
    specs: Sequence[tuple[str, TokenizerSpec, dict[str, float | str]]],
    metrics: Sequence[Metric],
    batch_size: int = 16,
) -> list[BaselineResult]:
    """Score the modality's baselines for every tokenizer's budget.

    Args:
        specs: (tokenizer name, spec, token figures) per tokenizer; the figures give the budget baselines' rate.
        metrics: the evaluation's metrics; only sample metrics score baselines.
        batch_size: samples per metric call (LPIPS and other networks see no larger batches than the tokenizers').
    """
    sample_metrics = [m for m in metrics if isinstance(m, SampleMetric)]
    modality = get_modality(data.modality)
    if not sample_metrics or not specs:
        return []
    per_sample: dict[str, dict[str, list[float]]] = {}
    owners: dict[str, str] = {}
    notes: dict[str, str] = {}
    per_item = max(1, math.prod(data.batch(0, 1).shape[1:]))
    step = max(1, CHUNK_VALUES // per_item)
    for start in range(0, len(data), step):
        x = data.batch(start, min(start + step, len(data)))
        for owner, spec, _ in specs:
            outputs, note = modality.heldout_baselines(_on_scale(spec, data), x)
            for key, recon in outputs.items():
                if key in per_sample and owners[key] != owner:
                    continue  # an earlier tokenizer has the same budget: one row
                owners.setdefault(key, owner)
                notes.setdefault(key, note)
                scores = per_sample.setdefault(key, {m.name: [] for m in sample_metrics})
                recon = modality.fit_reconstruction(recon, x).clamp(*data.scale)
                for first in range(0, x.shape[0], batch_size):
                    part = slice(first, first + batch_size)
                    for metric in sample_metrics:
                        scores[metric.name] += metric(x[part], recon[part]).double().cpu().tolist()
    figures = {name: tokens for name, _, tokens in specs}
    out = []
    for key, scores in per_sample.items():
        budget = key.startswith("resample")
        rate = {k: float(figures[owners[key]][k]) for k in RATE_KEYS if k in figures[owners[key]]} if budget else {}
        description = f"resampled to the information budget of {owners[key]}" if budget else _DESCRIPTIONS.get(key, key)
        summary = {name: _mean(values) for name, values in scores.items()}
        note, owner = (notes[key], owners[key]) if budget else ("", "")
        out.append(BaselineResult(key.replace("_", " "), description, rate, summary, scores, note, owner))
    return out


_DESCRIPTIONS = {
    "mean_colour": "each sample replaced by its own mean colour",
    "mean_image": "every sample replaced by the pixelwise mean of the evaluation set",
}


def _on_scale(spec: TokenizerSpec, data: EvalSet) -> TokenizerSpec:
    """The spec with the set's conventional value range, since baselines run on the metrics' scale."""
    return dataclasses.replace(spec, value_range=tuple(data.scale))


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def baseline_from_dict(entry: dict) -> BaselineResult:
    """The inverse of :meth:`BaselineResult.to_dict` (``omnitok compare`` reads baselines from metrics.json)."""
    return BaselineResult(
        str(entry["name"]),
        str(entry.get("description", "")),
        {k: float(v) for k, v in entry.get("rate", {}).items()},
        dict(entry.get("reconstruction", {})),
        {k: list(v) for k, v in entry.get("per_sample", {}).items()},
        str(entry.get("note", "")),
        str(entry.get("budget_of", "")),
    )
