"""Every shipped YAML recipe builds, and what it builds runs."""

from pathlib import Path

import pytest
import torch

from omnitok.config import instantiate, load_yaml_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_and_runs(path):
    quantizer = instantiate(load_yaml_config(path)["quantizer"]).eval()
    z = torch.randn(1, quantizer.input_dim, 4, 4)
    out = quantizer(z)
    assert out.quantized.shape == (1, quantizer.dim, 4, 4)
    assert torch.equal(quantizer.decode(quantizer.encode(z)), out.quantized)
