"""Every shipped recipe's dead-code threshold sits well below the mean code count of its own batch.

An EMA codebook restarts codes whose EMA count (vectors per step) falls below ``dead_code_threshold``. With N vectors
per step over K codes, a code in use counts about N / K, so a threshold near that mean restarts live codes every step
(1.0 against 200 frames over 256 codes replaced 30-55% of each audio codebook per step). The rule, also behind the
quantizers' runtime warning: threshold <= CHURN_FRACTION x N / K. N is written out by hand below, so a recipe whose
batch or token grid changes must be looked at again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omnitok.config import load_yaml_config
from omnitok.quantizers.dead_codes import CHURN_FRACTION

ROOT = Path(__file__).parents[1] / "configs"

BATCH_AND_TOKENS = {  # recipe: (batch size, tokens per sample), by hand
    "audio/quickstart_rvq": (8, 25),  # 0.5 s at 16 kHz, hop 320
    "audio/rvq_24khz": (32, 75),  # 1 s at 24 kHz, hop 320
    "audio/speech_16khz_12hz": (32, 25),  # 2 s at 16 kHz, hop 1280
    "hybrid/quickstart_speech_distilled_rvq": (8, 25),  # as audio/quickstart_rvq
    "hybrid/speech_rvq_hubert": (32, 50),  # 1 s at 16 kHz, hop 320
    "hybrid/quickstart_decoupled": (16, 8 * 8),  # 32 px / 4
    "hybrid/quickstart_distilled_vq": (16, 8 * 8),
    "hybrid/quickstart_distilled_vq_baseline": (16, 8 * 8),
    "hybrid/quickstart_dual_codebook": (16, 8 * 8),
    "hybrid/dual_codebook_f16_siglip2": (16, 16 * 16),  # 256 px / 16
    "image/quickstart_vq": (16, 8 * 8),
    "video/quickstart_vq": (4, 3 * 8 * 8),  # 9 frames -> 1 + 8 / 4 latent frames, 32 px / 4
}

TOKENS_PER_STEP = {  # omni recipes: one batch of every modality per step, quantized together; by hand
    "omni/quickstart": 16 * 8 * 8 + 4 * 3 * 8 * 8 + 8 * 25,  # images 32 px / 4, clips as video/quickstart_vq, 0.5 s
    "omni/vq16k_image_video_speech": 16 * 16 * 16 + 4 * 5 * 16 * 16 + 16 * 100,  # 256 px / 16, 17x128 / 4x8x8, 2 s
}


def thresholds(node: object) -> list[tuple[float, int]]:
    """(dead_code_threshold, codebook_size) of every codebook configured under ``node``."""
    found = []
    if isinstance(node, dict):
        if node.get("dead_code_threshold"):
            found.append((float(node["dead_code_threshold"]), int(node["codebook_size"])))
        for value in node.values():
            found += thresholds(value)
    elif isinstance(node, list):
        for value in node:
            found += thresholds(value)
    return found


def recipes_with_restarts() -> list[str]:
    names = []
    for path in sorted(ROOT.rglob("*.yaml")):
        if path.parent.name == "quantizers" or path.stem.endswith("_base"):
            continue
        if thresholds(load_yaml_config(path).get("model")):
            names.append(f"{path.parent.name}/{path.stem}")
    return names


def test_every_recipe_with_restarts_is_listed():
    assert set(recipes_with_restarts()) == set(BATCH_AND_TOKENS) | set(TOKENS_PER_STEP)


@pytest.mark.parametrize("name", sorted(TOKENS_PER_STEP))
def test_omni_threshold_is_at_most_a_quarter_of_the_pooled_mean_count(name):
    config = load_yaml_config(ROOT / f"{name}.yaml")
    for threshold, codebook_size in thresholds(config["model"]):
        mean_count = TOKENS_PER_STEP[name] / codebook_size
        assert threshold <= CHURN_FRACTION * mean_count, (threshold, mean_count)


@pytest.mark.parametrize("name", sorted(BATCH_AND_TOKENS))
def test_threshold_is_at_most_a_quarter_of_the_mean_code_count(name):
    config = load_yaml_config(ROOT / f"{name}.yaml")
    batch, tokens = BATCH_AND_TOKENS[name]
    assert config["data"]["init_args"]["batch_size"] == batch
    for threshold, codebook_size in thresholds(config["model"]):
        mean_count = batch * tokens / codebook_size
        assert threshold <= CHURN_FRACTION * mean_count, (threshold, mean_count)
