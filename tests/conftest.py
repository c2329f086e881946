"""Test-wide settings: offline hubs and loggers, a private hub cache, deterministic seeds."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="omnitok-hf-cache-")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
