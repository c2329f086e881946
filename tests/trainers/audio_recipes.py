"""Tiny versions of the audio recipes for tests: same classes and code paths, seconds on a CPU."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omnitok.config import load_yaml_config, set_by_path

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "audio"

TINY = {
    "model.tokenizer.encoder.base_channels": 4,
    "model.tokenizer.encoder.dilations": [1],
    "model.tokenizer.decoder.base_channels": 4,
    "model.tokenizer.decoder.dilations": [1],
    "model.warmup_steps": 2,
    "model.adversarial.start_step": 2,
    "model.adversarial.discriminator.discriminators": [
        {"class_path": "omnitok.trainers.MultiPeriodDiscriminator", "init_args": {"periods": [2, 3], "channels": [4, 8]}},
        {"class_path": "omnitok.trainers.MultiScaleSTFTDiscriminator", "init_args": {"n_ffts": [128, 256], "filters": 4}},
    ],
    "data.generated_clips": 12,
    "data.generated_engine": "chirp",
    "data.segment_seconds": 0.2,
    "data.val_segment_seconds": 0.4,
    "data.batch_size": 2,
    "data.val_fraction": 0.2,
    "data.max_val_samples": 2,
    "data.heldout_clips": 4,
    "trainer.max_steps": 6,
    "trainer.val_every": 3,
    "trainer.checkpoint_every": 3,
    "trainer.log_every": 1,
    "trainer.progress_bar": False,
}


def tiny_audio_recipe(name: str, folder: Path, **overrides: Any) -> dict[str, Any]:
    """configs/audio/<name>.yaml shrunk by TINY, generated clips in ``folder``, then ``overrides`` ('__' for '.')."""
    config = load_yaml_config(CONFIGS / f"{name}.yaml")
    settings = {**TINY, "data.generated_folder": str(folder), **{k.replace("__", "."): v for k, v in overrides.items()}}
    for key, value in settings.items():
        set_by_path(config, key, copy.deepcopy(value))
    return config
