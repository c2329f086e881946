"""Evaluate several tokenizers on one evaluation set (images, audio or video) under one pinned protocol: what
``omnitok eval`` runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.evaluation.baselines import BaselineResult, evaluate_baselines
from omnitok.evaluation.data import choose_subset
from omnitok.evaluation.protocol import EvalProtocol, dtype_name, make_protocol
from omnitok.evaluation.runner import MetricInfo, TokenizerResult, check_compatible, evaluate_tokenizer, metric_infos
from omnitok.evaluation.sets import EvalSet
from omnitok.metrics.registry import Metric, SampleMetric
from omnitok.modalities import get_modality
from omnitok.protocol import Tokenizer
from omnitok.report.sections import ReportSection, check_sections


@dataclasses.dataclass
class NamedTokenizer:
    """A tokenizer with the name its report column carries and the reference it was loaded from."""

    name: str
    tokenizer: Tokenizer
    ref: str = ""


@dataclasses.dataclass
class EvalRun:
    """The results of one evaluation: protocol, metric descriptions, per-tokenizer results and shown samples.

    Attributes:
        unavailable: metric name -> why it could not run here (e.g. its pretrained weights are missing).
        shown: indices of the showcase samples (the same for every tokenizer); originals: those samples in the
            set's stored form (uint8 [k, 3, R, R] images, uint8 [k, 3, T, R, R] videos, float32 [k, C, S] audio).
        sections: extra report sections (:class:`~omnitok.report.sections.ReportSection`) other features add.
        baselines: the trivial baselines scored like the tokenizers (:mod:`omnitok.evaluation.baselines`).
    """

    protocol: EvalProtocol
    metrics: list[MetricInfo]
    unavailable: dict[str, str]
    results: list[TokenizerResult]
    data: EvalSet
    shown: list[int]
    sections: list[ReportSection] = dataclasses.field(default_factory=list)
    baselines: list[BaselineResult] = dataclasses.field(default_factory=list)

    @property
    def modality(self) -> str:
        return self.data.modality

    @property
    def originals(self) -> Tensor:
        return self.data.stored(self.shown)


def evaluate(
    tokenizers: Sequence[NamedTokenizer],
    data: EvalSet,
    *,
    metrics: Sequence[Metric] | None = None,
    unavailable: dict[str, str] | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    seed: int = 0,
    show: int = 8,
    worst_k: int = 4,
    ladder_samples: int | None = 16,
    sections: Sequence[ReportSection] = (),
    baselines: bool = True,
    progress: bool = False,
) -> EvalRun:
    """Evaluate each tokenizer on ``data``.

    Args:
        data: an evaluation set (:func:`load_eval_images`, :func:`load_eval_audio`, :func:`load_eval_videos`).
        metrics: the metrics to compute; by default the registry's metrics of the set's modality (those whose
            library or pretrained networks are missing are listed in ``unavailable`` instead).
        show: how many samples (drawn with ``seed``) every tokenizer reconstructs side by side in the report.
        worst_k: how many worst samples per sample metric the report shows.
        ladder_samples: clips the bitrate ladder of residual audio tokenizers is measured on (None: all).
        sections: extra report sections to carry into the report.
        baselines: also score the trivial baselines (:mod:`omnitok.evaluation.baselines`) with the sample metrics.
        progress: report each tokenizer's progress on stderr (a bar on a terminal, plain lines otherwise).

    The protocol records ``device`` and the tokenizers' precision (their ``dtype`` attribute; float32 for objects
    without one).
    """
    if not tokenizers:
        raise ConfigError("give at least one tokenizer to evaluate")
    names = [t.name for t in tokenizers]
    if len(set(names)) != len(names):
        raise ConfigError(f"tokenizer names must differ, got {names}")
    device = torch.device(device)
    sections = list(sections)
    check_sections(sections)
    for entry in tokenizers:  # fail before any work when one of them cannot take this data
        check_compatible(entry.tokenizer, entry.name, data)
    if metrics is None:
        metrics, unavailable = get_modality(data.modality).metrics(device)
    unavailable = dict(unavailable or {})
    if len(data) < 2:  # a distribution distance (rFID, FVD) of one sample is undefined
        unavailable.update({m.name: "needs at least 2 images" for m in metrics if not isinstance(m, SampleMetric)})
        metrics = [m for m in metrics if isinstance(m, SampleMetric)]
    infos = metric_infos(metrics)
    implementations = {info.name: info.implementation for info in infos}
    for name, reason in unavailable.items():
        implementations[name] = f"unavailable ({reason})"
    precision = dtype_name([entry.tokenizer for entry in tokenizers])
    protocol = make_protocol(data, seed, batch_size, device, implementations, precision)
    shown = choose_subset(list(range(len(data))), show, seed) if show > 0 else []
    results = [
        evaluate_tokenizer(
            entry.tokenizer,
            entry.name,
            data,
            metrics,
            ref=entry.ref,
            device=device,
            batch_size=batch_size,
            shown=shown,
            worst_k=worst_k,
            seed=seed,
            ladder_samples=ladder_samples,
            progress=progress,
        )
        for entry in tokenizers
    ]
    specs = [(r.name, r.spec, r.tokens) for r in results]
    trivial = evaluate_baselines(data, specs, metrics, batch_size) if baselines else []
    return EvalRun(protocol, infos, unavailable, results, data, shown, sections, trivial)
