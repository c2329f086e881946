"""Tiny versions of the image recipes for tests: same classes and code paths, seconds on a CPU."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omnitok.config import load_yaml_config, set_by_path

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "image"

TINY = {
    "model.tokenizer.encoder.base_channels": 8,
    "model.tokenizer.encoder.channel_multipliers": [1, 2, 2],
    "model.tokenizer.encoder.norm_groups": 4,
    "model.tokenizer.decoder.base_channels": 8,
    "model.tokenizer.decoder.channel_multipliers": [1, 2, 2],
    "model.tokenizer.decoder.norm_groups": 4,
    "model.adversarial.discriminator.base_channels": 8,
    "model.warmup_steps": 2,
    "data.size": 32,
    "data.batch_size": 4,
    "data.num_workers": 0,
    "data.max_val_samples": 8,
    "trainer.max_steps": 6,
    "trainer.val_every": 3,
    "trainer.checkpoint_every": 3,
    "trainer.log_every": 1,
    "trainer.progress_bar": False,
    "trainer.heldout_samples": 8,
}


def tiny_recipe(name: str = "quickstart_vq", **overrides: Any) -> dict[str, Any]:
    """configs/image/<name>.yaml shrunk by TINY, then ``overrides`` (dotted keys with '__' for '.')."""
    config = load_yaml_config(CONFIGS / f"{name}.yaml")
    for key, value in {**TINY, **{k.replace("__", "."): v for k, v in overrides.items()}}.items():
        set_by_path(config, key, copy.deepcopy(value))
    return config
