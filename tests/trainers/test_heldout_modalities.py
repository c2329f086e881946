"""The held-out callback per modality: audio scored with SI-SDR and mel distance, video with per-frame PSNR,
each beside its baselines, checked against written-out formulas on a stub trainer (no training run needed)."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from omnitok.data import harmonic_chirp
from omnitok.protocol import TokenizerSpec
from omnitok.trainers.callbacks import HeldOutEvaluation

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Model(nn.Module):
    """Reconstruction = input scaled and shifted (audio: 4 extra samples, as whole-frame decoders return)."""

    def __init__(self, gain: float, extra: int = 0):
        super().__init__()
        self.gain, self.extra = gain, extra

    def forward(self, x):
        y = x * self.gain + 0.01 * torch.sin(torch.arange(x.shape[-1], dtype=torch.float32))
        if self.extra:
            y = torch.nn.functional.pad(y, (0, self.extra))
        return SimpleNamespace(reconstruction=y)


class _Data:
    def __init__(self, batches):
        self.batches, self.test_data = batches, "held-out"

    def test_dataloader(self):
        return self.batches


def _run(tmp_path, spec, key, batches, model):
    callback = HeldOutEvaluation(tmp_path, max_samples=16)
    module = SimpleNamespace(
        inference_model=model,
        tokenizer=SimpleNamespace(spec=spec),
        media_key=key,
        device=torch.device("cpu"),
        step=0,
        skipped_files=[],
    )
    trainer = SimpleNamespace(is_global_zero=True, global_rank=0, world_size=1, datamodule=_Data(batches))
    callback.on_fit_start(trainer, module)
    module.step = 7
    callback.on_train_end(trainer, module)
    return json.loads((tmp_path / "heldout.json").read_text())


def _si_sdr(s, s_hat):
    s, s_hat = s - s.mean(), s_hat - s_hat.mean()
    target = (s_hat @ s) / (s @ s) * s
    return 10 * math.log10((target @ target) / ((s_hat - target) @ (s_hat - target)))


def test_audio_heldout_reports_si_sdr_mel_and_the_bitrate_baseline(tmp_path):
    spec = TokenizerSpec(
        modality="audio",
        discrete=True,
        codebook_sizes=(1024, 1024),
        codebook_kind="residual",
        downsample=(320,),
        channels=1,
        sample_rate=16000,
    )
    clips = torch.cat([harmonic_chirp(0.5, 16000, seed=s) for s in range(3)]).unsqueeze(1)
    result = _run(tmp_path, spec, "audio", [{"audio": clips[:2]}, {"audio": clips[2:]}], _Model(0.8, extra=4))
    recon = (clips * 0.8 + 0.01 * torch.sin(torch.arange(8000, dtype=torch.float32))).double().numpy()
    want = np.mean([_si_sdr(o[0], r[0]) for o, r in zip(clips.double().numpy(), recon)])
    assert result["modality"] == "audio" and result["samples"] == 3 and result["step"] == 7
    assert result["si_sdr_after"] == pytest.approx(want, rel=1e-4) == pytest.approx(result["si_sdr_before"], rel=1e-6)
    assert result["mel_distance_after"] > 0
    assert list(result["baselines"]) == ["resample_1kbps"]  # 2 levels x 10 bits x 50 frames/s
    assert set(result["baseline_figures"]["resample_1kbps"]) == {"si_sdr", "mel_distance"}
    text = (tmp_path / "heldout.md").read_text()
    assert "SI-SDR (dB) ↑" in text and "mel distance ↓" in text and "baseline: resample 1kbps" in text
    assert (tmp_path / "reconstructions.png").read_bytes().startswith(PNG_MAGIC)


def test_video_heldout_reports_per_frame_psnr(tmp_path):
    spec = TokenizerSpec(
        modality="video", discrete=True, codebook_sizes=(4096,), downsample=(4, 8, 8), causal_time=True
    )
    torch.manual_seed(0)
    clips = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    result = _run(tmp_path, spec, "video", [{"video": clips}], _Model(0.9))
    recon = (clips * 0.9 + 0.01 * torch.sin(torch.arange(16, dtype=torch.float32))).clamp(-1, 1)
    mse = ((recon - clips) / 2).pow(2).mean(dim=(1, 3, 4))  # (clips, frames) on [0, 1]
    per_frame = (10 * torch.log10(1 / mse)).double()
    assert result["psnr_after"] == pytest.approx(float(per_frame.mean()), rel=1e-4)
    assert result["psnr_per_frame"] == pytest.approx(per_frame.mean(0).tolist(), rel=1e-4)
    # 2 steps x 2 x 2 tokens of 12 bits = 96 bits = 4 RGB pixels per clip, 0 per frame -> at least 1
    assert set(result["baselines"]) == {"mean_colour", "mean_image", "resample_1px"}
    assert result["resolution"] == [16, 16] and result["shape"] == [5, 16, 16]
    assert "per-frame PSNR (dB) ↑" in (tmp_path / "heldout.md").read_text()
    assert (tmp_path / "reconstructions.png").read_bytes().startswith(PNG_MAGIC)
