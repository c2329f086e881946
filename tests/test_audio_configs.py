"""Every shipped audio recipe builds a tokenizer of the stated kind, and what it builds runs."""

import math
from pathlib import Path

import pytest
import torch

from omnitok.config import instantiate, load_yaml_config
from omnitok.metrics.audio_ladder import rung_kbps
from omnitok.models import encode_chunked

ROOT = Path(__file__).parents[1] / "configs" / "audio"
RECIPES = sorted(p for p in ROOT.glob("*.yaml") if not p.stem.endswith("_base"))

EXPECTED = {  # recipe: (sample rate, hop, channels, codebook sizes, causal, frames/s, bits/s), written out by hand
    "quickstart_rvq": (16_000, 320, 1, (256,) * 4, True, 50.0, 4 * 8 * 50),
    "quickstart_rfsq": (16_000, 320, 1, (1000,) * 3, True, 50.0, 3 * 9.965784 * 50),
    "rvq_24khz": (24_000, 320, 1, (1024,) * 8, True, 75.0, 8 * 10 * 75),
    "speech_16khz_12hz": (16_000, 1280, 1, (2048,) * 8, True, 12.5, 8 * 11 * 12.5),
    "fsq_24khz_stereo": (24_000, 320, 2, (1000,) * 4, False, 75.0, 4 * 9.965784 * 75),
    "dac_44khz": (44_100, 512, 1, (1024,) * 9, False, 86.1328125, 9 * 10 * 86.1328125),
}


def test_the_recipes_cover_the_issue_rates():
    rates = {v[0] for v in EXPECTED.values()}
    frames = [v[5] for v in EXPECTED.values()]
    assert {16_000, 24_000, 44_100} <= rates
    assert min(frames) <= 12.5 and any(f >= 75 for f in frames)


def test_every_audio_recipe_is_listed():
    assert {p.stem for p in RECIPES} == set(EXPECTED)


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_audio_recipe_builds_the_stated_codec(path):
    from omnitok.trainers.run import check_recipe

    config = load_yaml_config(path)
    settings = check_recipe(config)
    quickstart = path.stem.startswith("quickstart")
    tokenizer = instantiate(config["model"]["init_args"]["tokenizer"]).eval()
    rate, hop, channels, sizes, causal, frame_rate, bits = EXPECTED[path.stem]
    spec = tokenizer.spec
    assert (spec.modality, spec.sample_rate, spec.downsample, spec.channels, spec.codebook_sizes) == (
        "audio",
        rate,
        (hop,),
        channels,
        sizes,
    )
    assert spec.token_rate == pytest.approx(rate / hop) and spec.token_rate == pytest.approx(frame_rate)
    assert rung_kbps(spec, spec.num_levels) * 1000 == pytest.approx(bits, rel=1e-6)
    assert sum(math.log2(s) for s in sizes) * rate / hop == pytest.approx(bits, rel=1e-6)
    assert tokenizer.encoder.causal is causal and tokenizer.decoder.causal is causal
    assert config["model"]["init_args"]["media_key"] == "audio"
    assert config["data"]["init_args"]["sample_rate"] == rate and config["data"]["init_args"]["channels"] == channels
    if quickstart:
        assert settings.accelerator == "auto" and config["data"]["init_args"]["root"] == "generated"
        x = torch.rand(1, channels, 3 * hop + 7) * 2 - 1
        tokens = tokenizer.encode(x)
        assert tokens.shape == (1, 4, len(sizes))
        assert torch.equal(encode_chunked(tokenizer, x, 1000), tokens)
