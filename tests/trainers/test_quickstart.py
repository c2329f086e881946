"""The quickstart recipes learn: held-out PSNR (whole scikit-image photos never seen in training, plus unseen
procedural scenes) rises well above the untrained start, and a full run beats the trivial baselines."""

from __future__ import annotations

import json

import pytest

from omnitok.config import load_yaml_config, set_by_path
from tests.trainers.recipes import CONFIGS

RECIPES = ["quickstart_vq", "quickstart_fsq", "quickstart_lfq", "quickstart_kl"]


def _recipe(name: str, **overrides):
    config = load_yaml_config(CONFIGS / f"{name}.yaml")
    for key, value in overrides.items():
        set_by_path(config, key, value)
    return config


@pytest.mark.parametrize("name", RECIPES)
def test_short_quickstart_run_improves_heldout_psnr(name, tmp_path):
    from omnitok.trainers import train

    config = _recipe(
        name,
        **{
            "trainer.max_steps": 150,
            "trainer.val_every": 150,
            "trainer.progress_bar": False,
            "trainer.heldout_samples": 64,
            "data.batch_size": 16,
            "model.warmup_steps": 10,
        },
    )
    train(config, tmp_path)
    heldout = json.loads((tmp_path / "heldout.json").read_text())
    assert heldout["psnr_after"] > heldout["psnr_before"] + 3.0, heldout
    assert heldout["psnr_after"] > heldout["baselines"]["mean_image"], heldout


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_full_quickstart_run_beats_trivial_baselines(name, tmp_path):
    from omnitok.trainers import train

    train(_recipe(name, **{"trainer.progress_bar": False}), tmp_path)
    heldout = json.loads((tmp_path / "heldout.json").read_text())
    baselines = heldout["baselines"]
    assert heldout["psnr_after"] > heldout["psnr_before"] + 8.0, heldout
    assert heldout["psnr_after"] > max(baselines.values()) + 0.2, heldout  # measured margins: model_zoo.md
