"""The video quickstart learns: held-out per-frame PSNR on unseen moving-shapes clips (test seeds) after the full
recipe, against the untrained start and the held-out mean image.

Measured (400 steps, 2 shared CPU cores): 10.60 dB before, 13.83 dB after; mean image 12.71, mean colour 15.71,
resampling at the tokens' budget 18.97; resumed to 1000 steps, 14.12 (all with norm_groups 8). With norm_groups 4
(the recipe now): 10.56 dB before, 13.87 after 400 steps. The recipe does not pass the per-clip mean
colour and the resampling baselines yet, so this test asserts only what it reaches.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnitok.config import load_yaml_config, set_by_path

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "video"


@pytest.mark.slow
def test_full_video_quickstart_learns_on_held_out_clips(tmp_path):
    from omnitok.trainers import train

    config = load_yaml_config(CONFIGS / "quickstart_fsq.yaml")
    set_by_path(config, "trainer.progress_bar", False)
    result = train(config, tmp_path)
    assert result.step == config["trainer"]["max_steps"]
    heldout = json.loads((tmp_path / "heldout.json").read_text())
    assert heldout["psnr_after"] > heldout["psnr_before"] + 2.5, heldout
    assert heldout["psnr_after"] > heldout["baselines"]["mean_image"], heldout
    assert len(heldout["psnr_per_frame"]) == config["data"]["init_args"]["frames"]
