"""The reconstruction-metric interface and the registry the evaluation runner draws its metrics from.

Two kinds of metric:

- a *sample metric* scores each sample on its own (PSNR, SSIM, LPIPS): ``__call__(original, reconstruction)``
  returns one value per sample, so the report can average them and pick the worst samples;
- a *dataset metric* compares two distributions (rFID, FVD): ``update`` over batches, then ``compute``.

Both take media on the conventional intensity scale, whatever range the tokenizer works in: images and video
frames as float32 in [0, 1], audio as float32 waveforms in [-1, 1]. Each metric names its implementation and
version (``implementation``), which the report prints in its protocol block.

A metric whose pretrained network cannot be loaded raises :class:`MetricUnavailable` from its factory; the
report then says "unavailable (...)" instead of printing a figure from a random network.

Video and audio metrics join by registering factories for their modality::

    @register_metric("audio")
    def si_sdr(device: torch.device) -> SampleMetric: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from omnitok.protocol import Modality  # a registered modality name


class MetricUnavailable(Exception):
    """A metric cannot run here (e.g. its pretrained weights cannot be loaded); the message says why."""


@runtime_checkable
class SampleMetric(Protocol):
    """Scores each sample: ``__call__(original [B, ...], reconstruction [B, ...]) -> [B] float``."""

    name: str
    higher_is_better: bool
    implementation: str

    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor: ...


@runtime_checkable
class DatasetMetric(Protocol):
    """Compares the distribution of originals with that of reconstructions over the whole dataset."""

    name: str
    higher_is_better: bool
    implementation: str

    def update(self, original: Tensor, reconstruction: Tensor) -> None: ...

    def compute(self) -> float: ...


Metric = SampleMetric | DatasetMetric
MetricFactory = Callable[[torch.device], Metric]

_REGISTRY: dict[str, list[tuple[str, MetricFactory]]] = {}


def register_metric(modality: Modality, name: str | None = None) -> Callable[[MetricFactory], MetricFactory]:
    """Decorator: ``factory(device) -> metric`` joins the default metrics of ``modality`` (in order of
    registration; registering a name again replaces the earlier factory)."""

    def add(factory: MetricFactory) -> MetricFactory:
        key = name or factory.__name__
        entries = _REGISTRY.setdefault(modality, [])
        entries[:] = [(k, f) for k, f in entries if k != key]
        entries.append((key, factory))
        return factory

    return add


def metric_factories(modality: Modality) -> list[tuple[str, MetricFactory]]:
    """(name, factory) pairs of the default metrics for ``modality``, in registration order."""
    _load_builtin_metrics()
    return list(_REGISTRY.get(modality, []))


def build_metrics(modality: Modality, device: torch.device) -> tuple[list[Metric], dict[str, str]]:
    """Instantiate the default metrics of ``modality`` on ``device``.

    Returns:
        (metrics that run, {name: reason} for those that are unavailable here).
    """
    ready: list[Metric] = []
    unavailable: dict[str, str] = {}
    for key, factory in metric_factories(modality):
        try:
            ready.append(factory(device))
        except MetricUnavailable as err:
            unavailable[key] = str(err)
    return ready, unavailable


def _load_builtin_metrics() -> None:
    """Import the modules whose factories register the built-in metrics (they import heavy packages lazily)."""
    import omnitok.metrics.defaults  # noqa: F401
