"""Test-wide settings: offline hubs and loggers, private hub caches, deterministic seeds."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="omnitok-hf-cache-")
# A private torch hub cache too: pretrained metric networks a developer has cached must not change what tests see.
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="omnitok-torch-home-")

import torch

if not torch.cuda.is_available():
    # Triton kernels run on CPU tensors under the interpreter; the variable must be set before triton is imported.
    # A GPU machine leaves it unset and runs the compiled kernels.
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One intra-op thread per xdist worker: with -n 2 on 2 cores, two workers of 2 OpenMP threads each spin-wait
    # on each other and training tests run many times slower.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``gpu`` need CUDA: without it they are skipped, with a reason that says how they run."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs the gpu tests there)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
