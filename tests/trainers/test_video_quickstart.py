"""The video quickstart learns: held-out per-frame PSNR on unseen moving-shapes clips (test seeds) after the full
recipe, against the untrained start and the trivial baselines the held-out callback computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnitok.config import load_yaml_config, set_by_path

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "video"


@pytest.mark.slow
def test_full_video_quickstart_beats_its_start_and_the_baselines(tmp_path):
    from omnitok.trainers import train

    config = load_yaml_config(CONFIGS / "quickstart_fsq.yaml")
    set_by_path(config, "trainer.progress_bar", False)
    result = train(config, tmp_path)
    assert result.step == config["trainer"]["max_steps"]
    heldout = json.loads((tmp_path / "heldout.json").read_text())
    assert heldout["psnr_after"] > heldout["psnr_before"] + 8.0, heldout
    assert heldout["psnr_after"] > max(heldout["baselines"].values()), heldout
