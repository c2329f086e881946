"""The world over an omni tokenizer's vocabulary: one shared codebook (one id range for images and speech) against
one codebook per medium derived from the same recipe (two id ranges, equal total size), through the real world run."""

import json
from pathlib import Path

import pytest

from examples.world.run import check_world_recipe, run_world
from omnitok.config import load_yaml_config, set_by_path
from omnitok.errors import ConfigError
from omnitok.resolve import load_tokenizer
from omnitok.unified import load_unified
from tests.examples.test_world_run import SPEECH_TINY, TINY

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "world"
BRANCH = "model.init_args.tokenizer.init_args.branches"
OMNI_TINY = {
    "trainer.max_steps": 3,
    "trainer.val_every": 3,
    "trainer.heldout_samples": 4,
    "model.init_args.tokenizer.init_args.quantizer.init_args.codebook_size": 64,
    f"{BRANCH}.image.init_args.encoder.init_args": {"base_channels": 8, "norm_groups": 4},
    f"{BRANCH}.image.init_args.decoder.init_args": {"base_channels": 8, "norm_groups": 4},
    f"{BRANCH}.audio.init_args.encoder.init_args": {"channels": 16, "blocks": 1},
    f"{BRANCH}.audio.init_args.decoder.init_args": {"channels": 16, "blocks": 1},
    "data.init_args.image.init_args": {"train_scenes": 32, "val_scenes": 8, "test_scenes": 8, "batch_size": 8},
    "data.init_args.audio.init_args": {"batch_size": 4, "max_val_samples": 4},
}


def tiny_omni_world(codebook: str) -> dict:
    config = load_yaml_config(CONFIGS / "world_omni.yaml")
    tiny = {k: v for k, v in {**TINY, **SPEECH_TINY}.items() if not k.startswith(("tokenizer.", "speech.tokenizer."))}
    for key, value in {**tiny, "omni.overrides": OMNI_TINY, "omni.codebook": codebook}.items():
        set_by_path(config, key, value)
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from omnitok.data.speech import espeak_available

    if not espeak_available():
        pytest.skip("needs espeak-ng")
    folder = tmp_path_factory.mktemp("world-omni")
    return {
        arm: (run_world(tiny_omni_world(arm), folder / arm, base=CONFIGS), folder / arm)
        for arm in ("shared", "separate")
    }


def test_shared_arm_gives_images_and_speech_one_id_range(runs):
    result, run = runs["shared"]
    omni = load_tokenizer(run / "omni" / "tokenizer")
    assert set(omni.modalities) == {"image", "audio"} and omni.quantizer.codebook_sizes == (64,)
    setup = json.loads((run / "report" / "metrics.json").read_text())["setup"]
    assert setup["shared_codebooks"] == {"image+speech": ["image", "speech"]}
    codes = setup["training_codes"]
    assert codes["image/tokens"] == 32 * 4 * 4 and codes["speech/tokens"] == 32 * 32  # 2.56 s at 12.5 Hz
    assert codes["overlap/used_by_1"] + codes["overlap/used_by_2"] + codes["overlap/unused"] == 64
    vocab = load_unified(
        run / "transformer"
    ).vocabulary  # the saved Transformer reads both media's codes from one range
    assert vocab.range_of("image") == vocab.range_of("speech") and len(vocab.range_of("image")) == 64
    assert {"speech_understanding_exact", "speech_generation_attribute_accuracy"} <= set(result.metrics["headline"])


def test_separate_arm_splits_the_codebook_and_keeps_two_id_ranges(runs):
    _, run = runs["separate"]
    image, audio = (
        load_tokenizer(run / "omni" / "image" / "tokenizer"),
        load_tokenizer(run / "omni" / "audio" / "tokenizer"),
    )
    assert image.spec.codebook_sizes == audio.spec.codebook_sizes == (32,)  # 64 split in two: equal total size
    assert (image.spec.modality, audio.spec.modality, audio.spec.token_rate) == ("image", "audio", 12.5)
    setup = json.loads((run / "report" / "metrics.json").read_text())["setup"]
    assert setup["shared_codebooks"] == {}
    vocab = load_unified(run / "transformer").vocabulary
    assert not set(vocab.range_of("image")) & set(vocab.range_of("speech"))
    assert "overlap/used_by_2" not in setup["training_codes"]
    assert (
        setup["vocabulary_size"]
        == json.loads((runs["shared"][1] / "report" / "metrics.json").read_text())["setup"]["vocabulary_size"]
    )  # 32 + 32 ids against 64: the same vocabulary size


def test_omni_recipe_errors():
    check_world_recipe(load_yaml_config(CONFIGS / "world_omni.yaml"))
    for key, value, match in [
        ("omni.codebook", "both", "omni.codebook"),
        ("omni.pretrained", "folder", "exactly one"),
        ("omni.colour", 1, "unknown omni key"),
        ("tokenizer", {"recipe": "world_tokenizer.yaml"}, "tokenizer and omni"),
        ("speech.tokenizer", {"recipe": "world_speech_tokenizer.yaml"}, "speech.tokenizer and omni"),
    ]:
        bad = load_yaml_config(CONFIGS / "world_omni.yaml")
        set_by_path(bad, key, value)
        with pytest.raises(ConfigError, match=match):
            check_world_recipe(bad)
    no_speech = load_yaml_config(CONFIGS / "world_omni.yaml")
    del no_speech["speech"]
    with pytest.raises(ConfigError, match="needs a speech section"):
        check_world_recipe(no_speech)


def test_compare_prints_each_arms_mean_and_runs(runs, capsys):
    from examples.world.compare import main

    shared, separate = runs["shared"][1], runs["separate"][1]
    assert main([f"shared={shared},{shared}", f"separate={separate}"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| held-out figure | shared (2 runs) | separate (1 runs) |" and len(table) == 2 + 8
    exact = json.loads((shared / "report" / "metrics.json").read_text())["headline"]["understanding_exact"]
    assert table[2].startswith(
        f"| image -> caption, exact | {100 * exact:.1f}% ({100 * exact:.1f} / {100 * exact:.1f})"
    )
    assert main([f"missing={shared.parent / 'nothing'}"]) == 2
    assert "nothing/report/metrics.json does not exist" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("codebook", ["shared", "separate"])
def test_full_world_over_each_vocabulary_beats_chance_in_all_four_directions(tmp_path, codebook):
    """The README's comparison, one arm per case: every direction far above chance with either vocabulary."""
    from omnitok.data.speech import espeak_available

    if not espeak_available():
        pytest.skip("needs espeak-ng")
    config = load_yaml_config(CONFIGS / "world_omni.yaml")
    set_by_path(config, "omni.codebook", codebook)
    headline = run_world(config, tmp_path / "world", base=CONFIGS).metrics["headline"]
    assert headline["understanding_exact"] >= 10 * headline["understanding_chance"]
    assert headline["speech_understanding_exact"] >= 10 * headline["understanding_chance"]
    assert headline["generation_attribute_accuracy"] >= 2 * headline["generation_chance"]
    assert headline["speech_generation_attribute_accuracy"] >= 2 * headline["generation_chance"]
