"""Audio in and out of tokenizers: waveforms [S] / [C, S] at any rate <-> [B, C, S] at the tokenizer's rate."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from omnitok.errors import ConfigError, DTypeError, ShapeError
from omnitok.modalities.conversion import as_tensor, check_float_range, check_kind, clamped

AUDIO_KINDS = {
    "numpy": "float32 numpy [B, C, S] in [-1, 1]",
    "float": "float32 torch [B, C, S] in [-1, 1]",
}
MAX_CHANNELS = 8  # more "channels" than this is a [S, C] array given as [C, S]


def audio_batch(media: Any, spec: Any, sample_rate: int | None) -> Tensor:
    """See :meth:`omnitok.modalities.audio.AudioModality.preprocess`."""
    from omnitok.data.audio import convert_channels, resample

    rate = _rate(spec, sample_rate)
    x = as_tensor(media, "audio input")
    if x.dtype == torch.int16:
        x = x.float() / 32768.0  # 16-bit PCM, as soundfile and scipy read it
    elif not x.is_floating_point():
        raise DTypeError(f"audio input must be a float waveform (or int16 PCM), got {x.dtype}")
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ShapeError(f"audio input must be [S], [C, S] or [B, C, S], got shape {tuple(x.shape)}")
    if x.shape[1] > MAX_CHANNELS:
        raise ShapeError(
            f"audio input has {x.shape[1]} channels (shape {tuple(x.shape)}); waveforms are [C, S], channels first "
            "(soundfile reads [S, C]: pass its array transposed, data.T)"
        )
    check_float_range(x, (-1.0, 1.0), "audio input", "waveforms are in [-1, 1] (int16 PCM / 32768)")
    x = torch.stack([convert_channels(clip.float(), spec.channels) for clip in x])
    if rate != spec.sample_rate:
        x = resample(x, rate, spec.sample_rate)
    low, high = spec.value_range
    return ((x + 1.0) / 2.0 * (high - low) + low).contiguous() if (low, high) != (-1.0, 1.0) else x.contiguous()


def audio_output(decoded: Tensor, spec: Any, to: str, clamp: bool, sample_rate: int | None) -> Any:
    """See :meth:`omnitok.modalities.audio.AudioModality.postprocess`."""
    from omnitok.data.audio import resample

    check_kind(to, AUDIO_KINDS, clamp, "audio")
    if decoded.ndim != 3:
        raise ShapeError(f"decoded audio must be [B, C, S], got shape {tuple(decoded.shape)}")
    low, high = spec.value_range
    x = clamped(decoded, spec.value_range, clamp)
    x = (x - low) / (high - low) * 2.0 - 1.0 if (low, high) != (-1.0, 1.0) else x
    if sample_rate is not None and sample_rate != spec.sample_rate:
        x = resample(x, _rate(spec, spec.sample_rate), _positive(sample_rate))
    return x.numpy() if to == "numpy" else x


def _rate(spec: Any, sample_rate: int | None) -> int:
    if not spec.sample_rate:
        raise ConfigError("this audio tokenizer's spec has no sample_rate; audio cannot be resampled to it")
    if sample_rate is None:
        raise ConfigError(
            f"give the audio's sample_rate (this tokenizer takes {spec.sample_rate} Hz; other rates are resampled)"
        )
    return _positive(sample_rate)


def _positive(rate: Any) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise ConfigError(f"sample_rate must be a positive integer (Hz), got {rate!r}")
    return rate
