"""The bitrate ladder of a residual audio tokenizer: metrics when decoding with 1..Q levels of one encoding,
beside a trivial baseline at each rung's bitrate.

Uses only the ``Tokenizer`` protocol (``encode``, ``decode`` of a leading subset of levels, ``spec``), so any
residual audio tokenizer can be measured, ours or a user's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.metrics.audio import mel_distance, si_sdr, stft_distance


def rung_kbps(spec, levels: int) -> float:
    """Kilobits per second of the first ``levels`` codebooks: sum of log2(sizes) bits x frames per second."""
    bits = sum(math.log2(size) for size in spec.codebook_sizes[:levels])
    return bits * spec.sample_rate / spec.downsample[0] / 1000


def resample_baseline(x: Tensor, sample_rate: int, kbps: float, bits: int = 8) -> Tensor:
    """The waveform sent as ``bits``-bit samples at the rate the bitrate allows (kbps * 1000 / bits per second),
    then resampled back: the trivial codec a tokenizer must beat at that bitrate. x: [B, C, S] in [-1, 1]."""
    import torchaudio

    low = max(1, int(kbps * 1000 / bits / x.shape[1]))
    if low >= sample_rate:
        return x.clone()
    down = torchaudio.functional.resample(x.float(), sample_rate, low)
    step = 2.0 / (2**bits - 1)
    down = (down.clamp(-1, 1) / step).round() * step
    return torchaudio.functional.resample(down, low, sample_rate)[..., : x.shape[-1]]


@torch.no_grad()
def bitrate_ladder(tokenizer, clips: Sequence[Tensor], levels: Sequence[int] | None = None) -> list[dict[str, float]]:
    """Mean SI-SDR (dB), mel distance and STFT distance over ``clips`` ([C, S] each, in [-1, 1], at the
    tokenizer's sample rate) when decoding 1..Q levels (or ``levels``), with the resampling baseline per rung.

    Returns one dict per rung: levels, kbps, si_sdr, mel_distance, stft_distance, baseline_si_sdr,
    baseline_mel_distance, baseline_stft_distance.
    """
    spec = tokenizer.spec
    if not spec.discrete or not spec.sample_rate or len(spec.downsample) != 1:
        raise ValueError("the bitrate ladder needs a discrete audio tokenizer (1-D signals at a sample rate)")
    q_max = spec.num_levels
    levels = list(levels or range(1, q_max + 1))
    if spec.codebook_kind != "residual" and levels != [q_max]:
        raise ValueError(f"a {spec.codebook_kind} tokenizer decodes only all {q_max} level(s)")
    sums: dict[int, dict[str, float]] = {q: {} for q in levels}
    rate = spec.sample_rate
    for clip in clips:
        x = clip.unsqueeze(0).float()
        tokens = tokenizer.encode(x)
        for q in levels:
            part = tokens[..., :q] if spec.codebook_kind == "residual" else tokens
            x_hat = tokenizer.decode(part)[..., : x.shape[-1]].float().cpu()
            base = resample_baseline(x.cpu(), rate, rung_kbps(spec, q))
            figures = {
                "si_sdr": si_sdr(x.cpu(), x_hat), "mel_distance": mel_distance(x.cpu(), x_hat, rate),
                "stft_distance": stft_distance(x.cpu(), x_hat), "baseline_si_sdr": si_sdr(x.cpu(), base),
                "baseline_mel_distance": mel_distance(x.cpu(), base, rate),
                "baseline_stft_distance": stft_distance(x.cpu(), base),
            }
            for name, value in figures.items():
                sums[q][name] = sums[q].get(name, 0.0) + float(value.mean())
    return [
        {"levels": q, "kbps": rung_kbps(spec, q), **{k: v / len(clips) for k, v in sums[q].items()}} for q in levels
    ]


def ladder_markdown(rows: list[dict[str, float]]) -> str:
    """The ladder as a Markdown table."""
    lines = [
        "| levels | kbps | SI-SDR (dB) | mel dist. | STFT dist. | baseline SI-SDR | baseline mel | baseline STFT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['levels']} | {r['kbps']:.2f} | {r['si_sdr']:.2f} | {r['mel_distance']:.3f} | {r['stft_distance']:.3f} "
            f"| {r['baseline_si_sdr']:.2f} | {r['baseline_mel_distance']:.3f} | {r['baseline_stft_distance']:.3f} |"
        )
    return "\n".join(lines) + "\n"
