"""What the held-out callback measures per modality, and the trivial baselines it prints beside it.

- images: PSNR on [0, 1] (baselines: per-image mean colour, the held-out mean image, resampling at the tokens'
  information budget; see :mod:`omnitok.metrics.baselines`);
- video: per-frame PSNR (each frame scored as an image, mean over frames and clips; the per-frame curve is kept);
  the same baselines applied frame by frame, the budget split evenly over the frames;
- audio: SI-SDR (dB) and mel distance on [-1, 1] waveforms at the tokenizer's sample rate; baseline: the waveform
  sent as 8-bit samples at the rate the tokens' bitrate allows, resampled back (discrete tokenizers).

Media are in the tokenizer's value range, (-1, 1) for every omnitok recipe.
"""

from __future__ import annotations

import math

from torch import Tensor

from omnitok.metrics import budget_pixels, mean_colour_baseline, mean_image_baseline, psnr, resample_baseline
from omnitok.metrics.image import to_unit_range
from omnitok.protocol import TokenizerSpec
from omnitok.utils import fold_frames, to_uint8

METRICS = {"image": ("psnr",), "video": ("psnr",), "audio": ("si_sdr", "mel_distance")}
LABELS = {"psnr": "PSNR (dB)", "si_sdr": "SI-SDR (dB)", "mel_distance": "mel distance"}
HIGHER_IS_BETTER = {"psnr": True, "si_sdr": True, "mel_distance": False}


def _frames(x: Tensor) -> Tensor:
    """Video [B, C, T, H, W] as frames [B * T, C, H, W]; images pass unchanged."""
    return fold_frames(x) if x.ndim == 5 else x


def scores(spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> dict[str, float]:
    """Mean of each held-out metric of ``spec.modality`` over the batch (see the module docstring)."""
    if spec.modality == "audio":
        from omnitok.metrics.audio import mel_distance, si_sdr

        x, x_hat = x.float().clamp(-1, 1), x_hat.float().clamp(-1, 1)
        return {
            "si_sdr": float(si_sdr(x, x_hat).mean()),
            "mel_distance": float(mel_distance(x, x_hat, int(spec.sample_rate)).mean()),
        }
    return {"psnr": float(psnr(to_unit_range(_frames(x_hat)), to_unit_range(_frames(x))).mean())}


def frame_curve(x: Tensor, x_hat: Tensor) -> list[float]:
    """Video: PSNR at each frame index, mean over clips ([B, C, T, H, W] -> T values)."""
    b, _, t = x.shape[:3]
    values = psnr(to_unit_range(_frames(x_hat)), to_unit_range(_frames(x))).reshape(b, t)
    return values.mean(0).tolist()


def baselines(spec: TokenizerSpec, x: Tensor) -> tuple[dict[str, Tensor], str]:
    """(name -> baseline reconstruction of ``x``, a sentence saying what the budget baseline keeps)."""
    if spec.modality == "audio":
        if not spec.discrete:
            return {}, "No baseline: continuous latents have no bitrate."
        from omnitok.metrics.audio_ladder import resample_baseline as audio_resample
        from omnitok.metrics.audio_ladder import rung_kbps

        kbps = rung_kbps(spec, spec.num_levels)
        name = f"resample_{kbps:g}kbps"
        note = f"The resampling baseline sends the waveform as 8-bit samples at the rate {kbps:g} kbps allows."
        return {name: audio_resample(x.float(), int(spec.sample_rate), kbps)}, note
    frames = _frames(x.float())
    shape = tuple(x.shape[2:])
    pixels = max(1, budget_pixels(spec, shape) // (shape[0] if x.ndim == 5 else 1))
    out = {
        "mean_colour": mean_colour_baseline(frames),
        "mean_image": mean_image_baseline(frames),
        f"resample_{pixels}px": resample_baseline(frames, pixels),
    }
    per = " per frame" if x.ndim == 5 else ""
    note = (
        f"The resampling baseline keeps {pixels} RGB pixels{per}, the information the tokens carry (bits / 24 for "
        "discrete tokens, latent scalars / 3 for continuous ones)."
    )
    if x.ndim == 5:  # back to clips so scores() folds them alike
        b, _, t = x.shape[:3]
        out = {k: v.reshape(b, t, *v.shape[1:]).transpose(1, 2) for k, v in out.items()}
    return out, note


def finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def comparison_picture(spec: TokenizerSpec, x: Tensor, x_hat: Tensor, count: int = 4) -> bytes | None:
    """PNG bytes comparing a few originals with their reconstructions: spectrograms (audio) or frame strips (video);
    None for images (the callback draws those itself)."""
    count = min(count, x.shape[0])
    if spec.modality == "audio":
        from omnitok.report.audio_figures import spectrogram_figure

        originals, recon = x[:count].float().clamp(-1, 1).cpu(), x_hat[:count].float().clamp(-1, 1).cpu()
        return spectrogram_figure(originals, [("reconstruction", recon)], int(spec.sample_rate))
    if spec.modality == "video":
        from omnitok.report.video_figures import strips_figure

        def uint8(v: Tensor) -> Tensor:
            return to_uint8(to_unit_range(v[:count].cpu()))

        return strips_figure(uint8(x), [("reconstruction", uint8(x_hat))])
    return None
