"""The Triton kernels compile for an H100 (sm_90) even on a machine without a GPU."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _ptxas_available() -> bool:
    spec = importlib.util.find_spec("triton")
    return spec is not None and any(Path(spec.origin).parent.glob("backends/nvidia/bin/ptxas*"))


@pytest.mark.skipif(not _ptxas_available(), reason="triton's bundled ptxas is not installed")
def test_every_kernel_compiles_for_sm90_within_shared_memory():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # compile, do not interpret
    script = Path(__file__).with_name("compile_for_gpu.py")
    out = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "fsq and lfq kernels: ok" in out.stdout
