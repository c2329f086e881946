"""The default image metrics as the evaluation runner builds them, offline; and ``import omnitok.metrics`` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from omnitok.metrics import DatasetMetric, SampleMetric, build_metrics, metric_factories


def test_offline_build_gives_psnr_ssim_and_says_why_not_lpips_rfid(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert [name for name, _ in metric_factories("image")][:4] == ["psnr", "ssim", "lpips", "rfid"]
    ready, unavailable = build_metrics("image", torch.device("cpu"))
    assert [metric.name for metric in ready] == ["psnr", "ssim"]
    assert all(isinstance(metric, SampleMetric) and not isinstance(metric, DatasetMetric) for metric in ready)
    assert sorted(unavailable) == ["lpips", "rfid"]
    assert all(reason.startswith("weights not found: ") for reason in unavailable.values())


def test_import_is_light() -> None:
    code = (
        "import sys, omnitok.metrics; "
        "print(sorted(m for m in ('torchmetrics', 'lpips', 'torch_fidelity', 'scipy', 'skimage', 'torchvision', "
        "'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
