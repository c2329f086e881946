"""Evaluate several tokenizers on one evaluation set under one pinned protocol: what ``omnitok eval`` runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.evaluation.data import EvalImages, choose_subset
from omnitok.evaluation.protocol import EvalProtocol, make_protocol
from omnitok.evaluation.runner import MetricInfo, TokenizerResult, check_compatible, evaluate_tokenizer, metric_infos
from omnitok.metrics.registry import Metric, SampleMetric, build_metrics
from omnitok.protocol import Tokenizer


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
        shown: indices of the showcase samples (the same for every tokenizer); originals: uint8 [k, 3, R, R].
    """

    protocol: EvalProtocol
    metrics: list[MetricInfo]
    unavailable: dict[str, str]
    results: list[TokenizerResult]
    data: EvalImages
    shown: list[int]

    @property
    def originals(self) -> Tensor:
        return self.data.images[self.shown]


def evaluate(
    tokenizers: Sequence[NamedTokenizer],
    data: EvalImages,
    *,
    metrics: Sequence[Metric] | None = None,
    unavailable: dict[str, str] | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    seed: int = 0,
    show: int = 8,
    worst_k: int = 4,
) -> EvalRun:
    """Evaluate each tokenizer on ``data``.

    Args:
        metrics: the metrics to compute; by default the image metrics of the registry (those whose pretrained
            networks are missing are listed in ``unavailable`` instead).
        show: how many samples (drawn with ``seed``) every tokenizer reconstructs side by side in the report.
        worst_k: how many worst samples per sample metric the report shows.
    """
    if not tokenizers:
        raise ConfigError("give at least one tokenizer to evaluate")
    names = [t.name for t in tokenizers]
    if len(set(names)) != len(names):
        raise ConfigError(f"tokenizer names must differ, got {names}")
    device = torch.device(device)
    for entry in tokenizers:  # fail before any work when one of them cannot take this data
        check_compatible(entry.tokenizer, entry.name, data.resolution)
    if metrics is None:
        metrics, unavailable = build_metrics("image", device)
    unavailable = dict(unavailable or {})
    if len(data) < 2:  # a distribution distance (rFID) of one image is undefined
        unavailable.update({m.name: "needs at least 2 images" for m in metrics if not isinstance(m, SampleMetric)})
        metrics = [m for m in metrics if isinstance(m, SampleMetric)]
    infos = metric_infos(metrics)
    implementations = {info.name: info.implementation for info in infos}
    for name, reason in unavailable.items():
        implementations[name] = f"unavailable ({reason})"
    protocol = make_protocol(data, seed, batch_size, device, implementations)
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
        )
        for entry in tokenizers
    ]
    return EvalRun(protocol, infos, unavailable, results, data, shown)
