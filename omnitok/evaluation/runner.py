"""Run tokenizers over an evaluation set: reconstruction metrics, token statistics, speed, and the samples the
report shows.

Only the ``Tokenizer`` protocol is used (``spec``, ``encode``, ``decode``), so omnitok's tokenizers, adapters of
ecosystem models and a user's own objects are evaluated alike, for every modality (see
:class:`~omnitok.evaluation.sets.EvalSet`). Media reach the tokenizer in its own value range and reach the metrics
on the conventional scale ([0, 1] for images and video frames, [-1, 1] for waveforms; reconstructions clamped to
it). Decoded audio longer than its input (the token grid covers whole frames) is trimmed to the input's length.

Per modality the result also carries:

- video: ``curves``, the mean of each per-frame metric at every frame index (metrics with a
  ``per_frame(original, reconstruction) -> [B, T]`` method), so a report can show how quality changes along the
  clip (a causal tokenizer codes frame 0 alone);
- audio: ``ladder``, for residual tokenizers, the metrics when decoding 1..Q levels of one encoding beside a
  resampling baseline at each rung's bitrate (:func:`omnitok.metrics.audio_ladder.bitrate_ladder`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.errors import ConfigError, ShapeError
from omnitok.evaluation.data import choose_subset
from omnitok.evaluation.sets import EvalSet
from omnitok.evaluation.speed import CPU_MEMORY_NOTE, CUDA_MEMORY_NOTE, Stopwatch
from omnitok.fingerprint import weights_fingerprint
from omnitok.metrics.registry import DatasetMetric, Metric, SampleMetric
from omnitok.metrics.tokens import token_figures
from omnitok.modalities import Modality, get_modality
from omnitok.progress import Progress
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
        per_sample: sample metric name -> one value per evaluation sample, in the data's order.
        tokens: token figures (tokens per sample, bits per pixel or kbps, codebook usage, ...).
        speed: encode/decode samples per second and peak extra memory (MiB).
        code_counts: per level, how often each code was used (empty for continuous tokenizers).
        shown: reconstructions of the showcase samples (``EvalRun.shown``) in the set's stored form (uint8
            [k, 3, R, R] images, uint8 [k, 3, T, R, R] videos, float32 [k, C, S] audio).
        worst: sample metric name -> indices of the worst samples, worst first.
        worst_images: sample metric name -> reconstructions of those samples (stored form).
        curves: per-frame metric name -> mean over samples at each frame index (video); None at the frames a metric
            does not score (frame 0 of a measure of frame-to-frame change, whose ``per_frame`` gives T - 1 values).
        weights_sha256: SHA-256 of the weights file the tokenizer was loaded from (None when unknown), so a report
            names exactly which weights it measured.
        ladder: the bitrate ladder of a residual audio tokenizer, one dict per rung (see
            :func:`~omnitok.metrics.audio_ladder.bitrate_ladder`), else None.
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
    curves: dict[str, list[float | None]] = dataclasses.field(default_factory=dict)
    ladder: list[dict[str, float]] | None = None
    weights_sha256: str | None = None


def check_compatible(tokenizer: Tokenizer, name: str, data: EvalSet) -> TokenizerSpec:
    """The tokenizer's spec, after checking it takes the samples of ``data`` as they are (modality, channels,
    shape; sample rate for audio)."""
    spec = getattr(tokenizer, "spec", None)
    if not isinstance(spec, TokenizerSpec):
        raise ConfigError(f"{name}: `spec` must be an omnitok.TokenizerSpec, got {type(spec).__name__}")
    data.check(spec, name)
    return spec


class _Scales:
    """Maps media between the set's conventional scale and the tokenizer's value range."""

    def __init__(self, data: EvalSet, spec: TokenizerSpec, device: torch.device):
        self.lo, self.hi = data.scale
        self.low, self.high = spec.value_range
        self.device = device

    def to_input(self, x: Tensor) -> Tensor:
        return ((x - self.lo) / (self.hi - self.lo) * (self.high - self.low) + self.low).to(self.device)

    def to_metric(self, y: Tensor) -> Tensor:
        y = (y.float().cpu() - self.low) / (self.high - self.low)
        return (y * (self.hi - self.lo) + self.lo).clamp(self.lo, self.hi)


def _check_decoded(recon: Tensor, x: Tensor, modality: Modality, name: str) -> Tensor:
    """The reconstruction as the modality compares it with the input (audio trimmed to the input's length);
    ShapeError when it does not match the input."""
    recon = modality.fit_reconstruction(recon, x)
    if tuple(recon.shape) != tuple(x.shape):
        raise ShapeError(f"{name}.decode returned {tuple(recon.shape)} for input {tuple(x.shape)}")
    return recon


@torch.no_grad()
def evaluate_tokenizer(
    tokenizer: Tokenizer,
    name: str,
    data: EvalSet,
    metrics: Sequence[Metric],
    *,
    ref: str = "",
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    shown: Sequence[int] = (),
    worst_k: int = 4,
    seed: int = 0,
    ladder_samples: int | None = 16,
    progress: bool = False,
) -> TokenizerResult:
    """Reconstruct every sample of ``data`` with ``tokenizer`` and measure it.

    The first batch is run once untimed (warm-up) before the timed pass. ``torch.manual_seed(seed)`` is set
    first, so tokenizers with any randomness in eval still give the same numbers run after run.

    Args:
        ladder_samples: residual audio tokenizers: the bitrate ladder is measured on this many clips (a subset
            drawn with ``seed``; None or 0: all clips).
        progress: report progress on stderr (:class:`omnitok.progress.Progress`: a bar on a terminal, plain lines
            otherwise), counting samples.
    """
    device = torch.device(device)
    spec = check_compatible(tokenizer, name, data)
    scales = _Scales(data, spec, device)
    decodes = bool(getattr(tokenizer, "can_decode", True))
    if not decodes:
        metrics, shown = [], ()
    sample_metrics = [m for m in metrics if isinstance(m, SampleMetric)]
    dataset_metrics = [m for m in metrics if isinstance(m, DatasetMetric) and not isinstance(m, SampleMetric)]
    for metric in metrics:
        if hasattr(metric, "reset"):
            metric.reset()
        if hasattr(metric, "sample_rate") and getattr(data, "sample_rate", None):
            metric.sample_rate = data.sample_rate  # audio metrics that depend on the rate
    modality = get_modality(data.modality)
    frame_metrics = modality.frame_metrics(sample_metrics)
    stats = CodebookStats(spec.codebook_sizes) if spec.discrete else None
    encode_clock, decode_clock = Stopwatch(device), Stopwatch(device)
    per_sample: dict[str, list[float]] = {m.name: [] for m in sample_metrics}
    frame_sums: dict[str, Tensor] = {}
    kept: dict[int, Tensor] = {}
    wanted = set(shown)

    torch.manual_seed(seed)
    warm = tokenizer.encode(scales.to_input(data.batch(0, min(batch_size, len(data)))))
    if decodes:
        tokenizer.decode(warm)
    torch.manual_seed(seed)
    bar = Progress(len(data), f"eval {name}", "sample", enabled=progress)
    for start in range(0, len(data), batch_size):
        original = data.batch(start, start + batch_size)
        x = scales.to_input(original)
        tokens = encode_clock.run(tokenizer.encode, x, x.shape[0])
        check_encoded(tokens, spec, x.shape, name)
        bar.update(x.shape[0])
        if stats is not None:
            stats.update(tokens)
        if not decodes:
            continue
        recon = _check_decoded(decode_clock.run(tokenizer.decode, tokens, x.shape[0]), x, modality, name)
        recon = scales.to_metric(recon)
        for metric in sample_metrics:
            per_sample[metric.name] += metric(original, recon).double().cpu().tolist()
        for metric in frame_metrics:
            curve = metric.per_frame(original, recon).double().cpu().sum(0)  # (T,) summed over the batch
            frame_sums[metric.name] = frame_sums.get(metric.name, 0) + curve
        for metric in dataset_metrics:
            metric.update(original, recon)
        for i in wanted.intersection(range(start, start + x.shape[0])):
            kept[i] = data.store(recon[i - start : i - start + 1])[0]

    bar.close()
    summary: dict[str, float | None] = {n: _mean(v) for n, v in per_sample.items()}
    for metric in dataset_metrics:
        summary[metric.name] = float(metric.compute())
    worst = {m.name: _worst(per_sample[m.name], m.higher_is_better, worst_k) for m in sample_metrics}
    worst_images = {key: _reconstruct(tokenizer, data, idx, scales, modality, name) for key, idx in worst.items()}
    frames = data.sample_shape[0]
    curves = {  # a metric of frame transitions (flicker: T - 1 values) has no value at frame 0: None there
        key: [None] * (frames - total.numel()) + (total / len(data)).tolist() for key, total in frame_sums.items()
    }
    extra: dict = {}
    if decodes:

        def inputs() -> list[Tensor]:
            torch.manual_seed(seed)
            chosen = choose_subset(list(range(len(data))), ladder_samples or None, seed)
            return [scales.to_input(data.select([i]))[0] for i in chosen]

        extra = modality.extra_measures(tokenizer, spec, inputs)
    tokens_info = token_figures(spec, data.sample_shape, stats)
    return TokenizerResult(
        name=name,
        ref=ref,
        spec=spec,
        summary=summary,
        per_sample=per_sample,
        tokens=tokens_info,
        speed=_speed(encode_clock, decode_clock, device),
        code_counts=[] if stats is None else [c.cpu() for c in stats.counts],
        shown=torch.stack([kept[i] for i in shown]) if shown else _none_stored(data),
        worst=worst,
        worst_images=worst_images,
        decodes=decodes,
        curves=curves,
        ladder=extra.get("ladder"),
        weights_sha256=weights_fingerprint(tokenizer),
    )


def metric_infos(metrics: Sequence[Metric]) -> list[MetricInfo]:
    return [MetricInfo(m.name, m.higher_is_better, m.implementation, isinstance(m, SampleMetric)) for m in metrics]


def _reconstruct(
    tokenizer: Tokenizer, data: EvalSet, indices: list[int], scales: _Scales, modality: Modality, name: str
) -> Tensor:
    if not indices:
        return _none_stored(data)
    x = scales.to_input(data.select(indices))
    recon = _check_decoded(tokenizer.decode(tokenizer.encode(x)), x, modality, name)
    return data.store(scales.to_metric(recon))


def _none_stored(data: EvalSet) -> Tensor:
    """No samples, in the set's stored form."""
    return data.stored([])


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
