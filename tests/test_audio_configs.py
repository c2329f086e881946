"""Every shipped audio recipe builds a tokenizer of the stated kind, and what it builds runs."""

from pathlib import Path

import pytest
import torch

from omnitok.config import instantiate, load_yaml_config
from omnitok.models import encode_chunked

ROOT = Path(__file__).parents[1] / "configs" / "audio"
RECIPES = sorted(p for p in ROOT.glob("*.yaml") if not p.stem.endswith("_base"))

EXPECTED = {  # recipe: (sample rate, hop, channels, codebook sizes, causal)
    "quickstart_rvq": (16_000, 320, 1, (256,) * 4, True),
    "quickstart_rfsq": (16_000, 320, 1, (1000,) * 3, True),
    "rvq_24khz": (24_000, 320, 1, (1024,) * 8, True),
    "speech_16khz_12hz": (16_000, 1280, 1, (2048,) * 8, True),
    "fsq_24khz_stereo": (24_000, 320, 2, (1000,) * 4, False),
}


def test_every_audio_recipe_is_listed():
    assert {p.stem for p in RECIPES} == set(EXPECTED)


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_audio_recipe_builds_the_stated_codec(path):
    from omnitok.trainers.run import check_recipe

    config = load_yaml_config(path)
    settings = check_recipe(config)
    tokenizer = instantiate(config["model"]["init_args"]["tokenizer"]).eval()
    rate, hop, channels, sizes, causal = EXPECTED[path.stem]
    spec = tokenizer.spec
    assert (spec.modality, spec.sample_rate, spec.downsample, spec.channels, spec.codebook_sizes) == (
        "audio", rate, (hop,), channels, sizes
    )
    assert tokenizer.encoder.causal is causal and tokenizer.decoder.causal is causal
    assert config["model"]["init_args"]["media_key"] == "audio"
    assert config["data"]["init_args"]["sample_rate"] == rate and config["data"]["init_args"]["channels"] == channels
    if path.stem.startswith("quickstart"):
        assert settings.accelerator == "cpu" and config["data"]["init_args"]["root"] == "generated"
        x = torch.rand(1, channels, 3 * hop + 7) * 2 - 1
        tokens = tokenizer.encode(x)
        assert tokens.shape == (1, 4, len(sizes))
        assert torch.equal(encode_chunked(tokenizer, x, 1000), tokens)
