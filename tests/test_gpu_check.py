"""benchmarks/gpu_check.sh checks itself without a GPU: syntax, arguments, a dry run, and a clear exit without CUDA."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_script_parses_and_its_dry_run_prints_the_plan(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    result = _run("--dry-run", "--out", str(tmp_path / "results"), "--no-setup")
    assert result.returncode == 0, result.stderr
    for part in ("gpu-tests", "quantizers", "image", "audio", "nothing was run"):
        assert part in result.stdout
    assert not (tmp_path / "results").exists()


def test_bad_arguments_are_refused():
    result = _run("--frobnicate")
    assert result.returncode == 2 and "unknown argument --frobnicate" in result.stderr
    assert _run("--out").returncode == 2


@pytest.mark.skipif(torch.cuda.is_available() or shutil.which("nvidia-smi") is not None, reason="a GPU is here")
def test_without_a_gpu_it_says_so_and_runs_nothing(tmp_path):
    result = _run("--out", str(tmp_path / "results"), "--no-setup")
    assert result.returncode == 3 and "no CUDA GPU" in result.stderr
    assert not (tmp_path / "results").exists()
