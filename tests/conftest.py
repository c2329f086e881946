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


def pytest_xdist_make_scheduler(config, log):
    """Under ``-n N``: tests that start several processes each (modules named ``test_distributed*.py``: DDP ranks,
    gloo harnesses) run one after another on one worker, never side by side on a 2-core machine; every other test
    is its own unit, as in ``--dist load``. (xdist's ``xdist_group`` marker is not honoured with pytest 9: the
    group suffix it adds to node ids no longer reaches the scheduler.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class MultiprocessTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return "multiprocess" if module.startswith("test_distributed") else nodeid

    return MultiprocessTogether(config, log)


@pytest.fixture(scope="session")
def ray_address():
    """One local Ray for the test session (2 CPUs), in this process; CLI processes join it with --address. Only
    ``test_distributed*`` modules may use it (they run on one xdist worker, so one Ray serves them all)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


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
