"""Run tokenizers over an evaluation set: reconstruction metrics, token statistics, speed, and the samples the
report shows.

Only the ``Tokenizer`` protocol is used (``spec``, ``encode``, ``decode``), so omnitok's tokenizers, adapters of
ecosystem models and a user's own objects are evaluated alike. Media reach the tokenizer in its own value range
and reach the metrics on the conventional [0, 1] scale.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.errors import ConfigError, ShapeError
from omnitok.evaluation.data import EvalImages
from omnitok.evaluation.speed import CPU_MEMORY_NOTE, CUDA_MEMORY_NOTE, Stopwatch
from omnitok.metrics.image import to_unit_range
from omnitok.metrics.registry import DatasetMetric, Metric, SampleMetric
from omnitok.metrics.tokens import token_figures
from omnitok.protocol import Tokenizer, TokenizerSpec, check_encoded
from omnitok.quantizers.stats import CodebookStats


@dataclasses.dataclass
class MetricInfo:
    """How to read a metric column: its direction and implementation."""

    name: str
    higher_is_better: bool
    implementation: str
    per_sample: bool


@dataclasses.dataclass
class TokenizerResult:
    """Everything the report needs about one tokenizer.

    Attributes:
        summary: metric name -> mean over samples (sample metrics) or the dataset value; None when unavailable.
        per_sample: sample metric name -> one value per evaluation image, in the data's order.
        tokens: token figures (tokens per sample, bits per pixel, codebook usage, ...).
        speed: encode/decode samples per second and peak extra memory (MiB).
        code_counts: per level, how often each code was used (empty for continuous tokenizers).
        shown: uint8 [k, 3, R, R] reconstructions of the showcase samples (``EvalRun.shown``).
        worst: sample metric name -> indices of the worst samples, worst first.
        worst_images: sample metric name -> uint8 reconstructions of those samples.
        decodes: False for an encoder-only tokenizer (``can_decode`` False, e.g. transformers' Chameleon VQ,
            which ships no decoder): then only token figures and encode speed are measured.
    """

    name: str
    ref: str
    spec: TokenizerSpec
    summary: dict[str, float | None]
    per_sample: dict[str, list[float]]
    tokens: dict[str, float | str]
    speed: dict[str, float | str | None]
    code_counts: list[Tensor]
    shown: Tensor
    worst: dict[str, list[int]]
    worst_images: dict[str, Tensor]
    decodes: bool = True


def check_compatible(tokenizer: Tokenizer, name: str, resolution: int) -> TokenizerSpec:
    """The tokenizer's spec, after checking it takes RGB images of ``resolution`` x ``resolution``."""
    spec = getattr(tokenizer, "spec", None)
    if not isinstance(spec, TokenizerSpec):
        raise ConfigError(f"{name}: `spec` must be an omnitok.TokenizerSpec, got {type(spec).__name__}")
    if spec.modality != "image":
        raise ConfigError(f"{name} is a {spec.modality} tokenizer; this evaluation set holds images")
    if spec.channels != 3:
        raise ConfigError(f"{name} takes {spec.channels}-channel input; the evaluation images are RGB (3 channels)")
    try:
        spec.grid((resolution, resolution))
    except ShapeError as err:
        factors = "x".join(str(d) for d in spec.downsample)
        raise ShapeError(
            f"{name} cannot take {resolution}x{resolution} images ({err}); choose a resolution that its "
            f"downsampling ({factors}) divides"
        ) from None
    return spec


@torch.no_grad()
def evaluate_tokenizer(
    tokenizer: Tokenizer,
    name: str,
    data: EvalImages,
    metrics: Sequence[Metric],
    *,
    ref: str = "",
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    shown: Sequence[int] = (),
    worst_k: int = 4,
    seed: int = 0,
) -> TokenizerResult:
    """Reconstruct every image of ``data`` with ``tokenizer`` and measure it.

    The first batch is run once untimed (warm-up) before the timed pass. ``torch.manual_seed(seed)`` is set
    first, so tokenizers with any randomness in eval still give the same numbers run after run.
    """
    device = torch.device(device)
    spec = check_compatible(tokenizer, name, data.resolution)
    low, high = spec.value_range
    decodes = bool(getattr(tokenizer, "can_decode", True))
    if not decodes:
        metrics, shown = [], ()
    sample_metrics = [m for m in metrics if isinstance(m, SampleMetric)]
    dataset_metrics = [m for m in metrics if isinstance(m, DatasetMetric) and not isinstance(m, SampleMetric)]
    for metric in dataset_metrics:
        if hasattr(metric, "reset"):
            metric.reset()
    stats = CodebookStats(spec.codebook_sizes) if spec.discrete else None
    encode_clock, decode_clock = Stopwatch(device), Stopwatch(device)
    per_sample: dict[str, list[float]] = {m.name: [] for m in sample_metrics}
    kept: dict[int, Tensor] = {}
    wanted = set(shown)

    def to_input(x01: Tensor) -> Tensor:
        return (x01 * (high - low) + low).to(device)

    torch.manual_seed(seed)
    warm = tokenizer.encode(to_input(data.batch(0, min(batch_size, len(data)))))
    if decodes:
        tokenizer.decode(warm)
    torch.manual_seed(seed)
    for start in range(0, len(data), batch_size):
        x01 = data.batch(start, start + batch_size)
        x = to_input(x01)
        tokens = encode_clock.run(tokenizer.encode, x, x.shape[0])
        check_encoded(tokens, spec, x.shape, name)
        if stats is not None:
            stats.update(tokens)
        if not decodes:
            continue
        recon = decode_clock.run(tokenizer.decode, tokens, x.shape[0])
        if tuple(recon.shape) != tuple(x.shape):
            raise ShapeError(f"{name}.decode returned {tuple(recon.shape)} for input {tuple(x.shape)}")
        recon01 = to_unit_range(recon.float().cpu(), spec.value_range)
        for metric in sample_metrics:
            per_sample[metric.name] += metric(x01, recon01).double().cpu().tolist()
        for metric in dataset_metrics:
            metric.update(x01, recon01)
        for i in wanted.intersection(range(start, start + x.shape[0])):
            kept[i] = _to_uint8(recon01[i - start])

    summary: dict[str, float | None] = {n: _mean(v) for n, v in per_sample.items()}
    for metric in dataset_metrics:
        summary[metric.name] = float(metric.compute())
    worst = {m.name: _worst(per_sample[m.name], m.higher_is_better, worst_k) for m in sample_metrics}
    worst_images = {key: _reconstruct(tokenizer, data, idx, to_input, spec) for key, idx in worst.items()}
    tokens_info = token_figures(spec, (data.resolution, data.resolution), stats)
    return TokenizerResult(
        name=name,
        ref=ref,
        spec=spec,
        summary=summary,
        per_sample=per_sample,
        tokens=tokens_info,
        speed=_speed(encode_clock, decode_clock, device),
        code_counts=[] if stats is None else [c.cpu() for c in stats.counts],
        shown=torch.stack([kept[i] for i in shown]) if shown else _no_images(data.resolution),
        worst=worst,
        worst_images=worst_images,
        decodes=decodes,
    )


def metric_infos(metrics: Sequence[Metric]) -> list[MetricInfo]:
    return [MetricInfo(m.name, m.higher_is_better, m.implementation, isinstance(m, SampleMetric)) for m in metrics]


def _reconstruct(tokenizer: Tokenizer, data: EvalImages, indices: list[int], to_input, spec: TokenizerSpec) -> Tensor:
    if not indices:
        return _no_images(data.resolution)
    x = to_input(data.images[indices].float() / 255.0)
    recon = to_unit_range(tokenizer.decode(tokenizer.encode(x)).float().cpu(), spec.value_range)
    return torch.stack([_to_uint8(r) for r in recon])


def _no_images(resolution: int) -> Tensor:
    return torch.empty(0, 3, resolution, resolution, dtype=torch.uint8)


def _to_uint8(x01: Tensor) -> Tensor:
    return (x01 * 255.0).round().clamp(0, 255).to(torch.uint8)


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _worst(values: list[float], higher_is_better: bool, k: int) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=not higher_is_better)
    return order[:k]


def _speed(encode: Stopwatch, decode: Stopwatch, device: torch.device) -> dict[str, float | str | None]:
    peaks = [p for p in (encode.peak_megabytes, decode.peak_megabytes if decode.samples else None) if p is not None]
    return {
        "device": device.type,
        "encode_samples_per_s": encode.samples_per_second,
        "decode_samples_per_s": decode.samples_per_second,
        "encode_peak_mib": encode.peak_megabytes,
        "decode_peak_mib": decode.peak_megabytes if decode.samples else None,
        "peak_mib": max(peaks) if peaks else None,
        "memory_note": CUDA_MEMORY_NOTE if device.type == "cuda" else CPU_MEMORY_NOTE,
    }
