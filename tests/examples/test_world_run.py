"""The world recipe end to end: a tiny run through the real code path (tokenizer recipe, judge, Transformer,
evaluation, report) in seconds, the CLI, and recipe errors. The full recipe is the slow test."""

import json
from pathlib import Path

import pytest
import yaml

from examples.world.run import check_world_recipe, run_world
from omnitok.config import load_yaml_config, set_by_path
from omnitok.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "world"
TINY = {
    "tokenizer.overrides": {
        "trainer.max_steps": 4,
        "trainer.val_every": 2,
        "trainer.heldout_samples": 8,
        "data.train_scenes": 32,
        "data.val_scenes": 8,
        "data.test_scenes": 8,
        "data.batch_size": 8,
        "model.tokenizer.encoder.base_channels": 8,
        "model.tokenizer.decoder.base_channels": 8,
        "model.tokenizer.encoder.norm_groups": 4,
        "model.tokenizer.decoder.norm_groups": 4,
    },
    "judge": {"train_scenes": 64, "heldout_scenes": 16, "steps": 3, "batch_size": 16, "width": 8},
    "data.train_scenes": 32,
    "data.batch_size": 8,
    "model": {"dim": 32, "depth": 1, "heads": 2},
    "training.max_steps": 4,
    "training.warmup_steps": 1,
    "evaluation": {"scenes": 12, "batch_size": 8, "samples_shown": 4, "cfg_scale": 2.0},
}


def tiny_world() -> dict:
    config = load_yaml_config(CONFIGS / "world_image.yaml")
    for key, value in TINY.items():
        set_by_path(config, key, value)
    return config


def test_tiny_world_runs_end_to_end(tmp_path):
    result = run_world(tiny_world(), tmp_path / "run", base=CONFIGS)
    run = tmp_path / "run"
    assert (run / "tokenizer" / "tokenizer" / "config.json").is_file()
    assert (run / "judge.safetensors").is_file() and (run / "transformer").is_dir()
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics))
    headline = metrics["headline"]
    assert headline["understanding_chance"] == pytest.approx(1 / 48)
    assert headline["generation_chance"] == pytest.approx((1 / 3 + 1 / 4 + 1 / 4) / 3)
    for table in ("understanding", "generation", "judge_true_heldout", "shuffled_captions"):
        assert set(metrics[table]) == {"shape", "colour", "cell", "mean_attribute", "exact"}
        assert all(0.0 <= v <= 1.0 for v in metrics[table].values())
    assert metrics["heldout_scenes"] == 12
    assert metrics["setup"]["training"]["max_steps"] == 4 and metrics["setup"]["wall_seconds"]["total"] > 0
    page = (run / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 8  # 4 generated images + 4 captioned held-out scenes
    assert "http://" not in page and "<script" not in page
    assert "exact-match caption" in page and "attribute accuracy (judge)" in page

    # a second run in the same folder refuses (the Transformer exists); a new folder reuses nothing by accident
    with pytest.raises(ConfigError, match="already holds"):
        run_world(tiny_world(), run, base=CONFIGS)


def test_cli_runs_the_recipe_and_reuses_tokenizer_and_judge(tmp_path, capsys):
    from examples.world.__main__ import main

    first = tmp_path / "first"
    run_world(tiny_world(), first, base=CONFIGS)
    second = tmp_path / "second"
    (second / "tokenizer").mkdir(parents=True)
    (second / "tokenizer" / "tokenizer").symlink_to(first / "tokenizer" / "tokenizer")
    (second / "judge.safetensors").symlink_to(first / "judge.safetensors")
    args = ["--config", str(CONFIGS / "world_image.yaml"), "--out", str(second)]
    for key, value in TINY.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "reusing the image tokenizer" in out and "reusing the judge" in out
    assert "understanding (held-out exact caption)" in out and (second / "report" / "report.html").is_file()


def test_recipe_errors_are_clear():
    config = tiny_world()
    with pytest.raises(ConfigError, match="top-level"):
        check_world_recipe({**config, "optimizer": {}})
    with pytest.raises(ConfigError, match="exactly one"):
        check_world_recipe({**config, "tokenizer": {"recipe": "a.yaml", "pretrained": "b"}})
    with pytest.raises(ConfigError, match="data key"):
        check_world_recipe({**config, "data": {"batchsize": 3}})
    with pytest.raises(ConfigError, match="World arguments"):
        check_world_recipe({**config, "world": {"class_path": "os.system"}})


def test_the_tokenizer_recipe_trusts_the_world_data_module_and_nothing_else(tmp_path):
    """The tokenizer recipe runs with the example's data module; any other class outside omnitok is refused."""
    recipe = tmp_path / "tokenizer.yaml"
    config = tiny_world()
    forged = load_yaml_config(CONFIGS / "world_tokenizer.yaml")
    forged["model"]["init_args"]["losses"].append({"class_path": "subprocess.Popen", "init_args": {"args": "true"}})
    recipe.write_text(yaml.safe_dump(forged))
    config["tokenizer"]["recipe"] = str(recipe)
    with pytest.raises(ConfigError, match="subprocess.Popen"):
        run_world(config, tmp_path / "run", base=CONFIGS)
    assert not (tmp_path / "run" / "tokenizer").exists()
    forged = load_yaml_config(CONFIGS / "world_tokenizer.yaml")
    forged["data"]["class_path"] = "collections.OrderedDict"
    recipe.write_text(yaml.safe_dump(forged))
    with pytest.raises(ConfigError, match="WorldImageDataModule"):
        run_world(config, tmp_path / "run", base=CONFIGS)


def test_the_tokenizer_recipe_runs_alone_through_omnitok_train(tmp_path):
    """The recipe's own comment: PYTHONPATH=. omnitok train --config examples/world/world_tokenizer.yaml
    --trust-remote-code; without the flag the data module is refused by name."""
    import os
    import subprocess
    import sys

    root = CONFIGS.parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "omnitok.cli.main", "train", "--config", str(CONFIGS / "world_tokenizer.yaml")]
    for key, value in TINY["tokenizer.overrides"].items():
        base += ["--set", f"{key}={value}"]
    refused = subprocess.run(
        base + ["--out", str(tmp_path / "refused")], capture_output=True, text=True, env=env, check=False
    )
    assert (
        refused.returncode == 2 and "WorldImageDataModule" in refused.stderr and "--trust-remote-code" in refused.stderr
    )
    done = subprocess.run(
        base + ["--trust-remote-code", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "tokenizer" / "config.json").is_file()


@pytest.mark.slow
def test_full_world_recipe_beats_three_times_chance(tmp_path):
    """The README's command: held-out caption exact match and generated attribute accuracy each >= 3x chance."""
    config = load_yaml_config(CONFIGS / "world_image.yaml")
    headline = run_world(config, tmp_path / "world", base=CONFIGS).metrics["headline"]
    assert headline["understanding_exact"] >= 3 * headline["understanding_chance"]
    assert headline["generation_attribute_accuracy"] >= 3 * headline["generation_chance"]


@pytest.mark.slow
def test_full_world_with_speech_beats_chance_in_all_four_directions(tmp_path):
    """The README's speech world (Llama): exact captions from images and from held-out voices >= 10x chance,
    generated images and generated speech, as the two judges read them, >= 2x chance."""
    from omnitok.data.speech import espeak_available

    if not espeak_available():
        pytest.skip("needs espeak-ng")
    result = run_world(load_yaml_config(CONFIGS / "world_speech.yaml"), tmp_path / "world", base=CONFIGS)
    headline = result.metrics["headline"]
    assert headline["understanding_exact"] >= 10 * headline["understanding_chance"]
    assert headline["speech_understanding_exact"] >= 10 * headline["understanding_chance"]
    assert headline["generation_attribute_accuracy"] >= 2 * headline["generation_chance"]
    assert headline["speech_generation_attribute_accuracy"] >= 2 * headline["generation_chance"]


def test_evaluation_settings_are_checked():
    from examples.world.evaluation import WorldEvalSettings

    assert WorldEvalSettings.from_dict({"split": "val"}).split == "val"
    with pytest.raises(ConfigError, match="split"):
        WorldEvalSettings.from_dict({"split": "train"})  # training scenes are never scored
    with pytest.raises(ConfigError, match="unknown evaluation"):
        WorldEvalSettings.from_dict({"cfg": 3.0})


SPEECH_TINY = {
    "speech.tokenizer.overrides": {
        "trainer.max_steps": 3,
        "trainer.val_every": 3,
        "trainer.heldout_samples": 4,
        "data.init_args.batch_size": 4,
        "data.init_args.max_val_samples": 4,
        "model.init_args.tokenizer.init_args.encoder.init_args.channels": 16,
        "model.init_args.tokenizer.init_args.encoder.init_args.blocks": 1,
        "model.init_args.tokenizer.init_args.decoder.init_args.channels": 16,
        "model.init_args.tokenizer.init_args.decoder.init_args.blocks": 1,
    },
    "speech.utterances": 24,
    "speech.judge": {"train_utterances": 24, "heldout_utterances": 8, "steps": 2, "batch_size": 8, "width": 8},
    "world.unseen_combinations": 8,
    "evaluation.speech_cfg_scale": 1.0,
    "evaluation.speech_temperature": 0.0,
}


@pytest.mark.parametrize("kind", ["llama", "reference"])
def test_tiny_world_with_speech_runs_all_four_directions(tmp_path, kind):
    from omnitok.data.speech import espeak_available

    if not espeak_available():
        pytest.skip("needs espeak-ng")
    config = load_yaml_config(CONFIGS / "world_speech.yaml")
    for key, value in {**TINY, **SPEECH_TINY, "model": {"kind": kind, "dim": 32, "depth": 1, "heads": 2}}.items():
        set_by_path(config, key, value)
    result = run_world(config, tmp_path / "run", base=CONFIGS)
    run = tmp_path / "run"
    assert (run / "speech" / "codec" / "tokenizer" / "config.json").is_file()
    assert (run / "speech" / "judge.safetensors").is_file()
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    headline = metrics["headline"]
    assert {"speech_understanding_exact", "speech_generation_attribute_accuracy"} <= set(headline)
    for table in ("understanding", "generation", "judge_true_heldout", "judge_reconstructed_heldout"):
        assert set(metrics["speech"][table]) == {"shape", "colour", "cell", "mean_attribute", "exact"}
    assert metrics["setup"]["transformer"]["kind"] == kind
    assert metrics["setup"]["speech"]["spec"]["token_rate"] == 12.5
    if kind == "llama":  # a standard folder that transformers loads
        from transformers import AutoModelForCausalLM

        AutoModelForCausalLM.from_pretrained(run / "transformer")
    html = (run / "report" / "report.html").read_text()
    assert "speech → caption" in html
    assert "caption → speech (greedy)" in html  # each medium's headline names its own sampling
    assert "caption → image, temperature 1, CFG 2)" in html
    assert result.seconds["speech_codec_and_judge"] > 0


def test_speech_recipe_errors():
    config = load_yaml_config(CONFIGS / "world_speech.yaml")
    check_world_recipe(config)
    for key, value, match in [
        ("speech.voices", 3, "unknown speech key"),
        ("speech.tokenizer", {"recipe": "a.yaml", "pretrained": "b"}, "exactly one"),
        ("data.pretokenize", True, "pretokenize covers the images only"),
        ("model.kind", "gpt9", "model.kind"),
    ]:
        bad = load_yaml_config(CONFIGS / "world_speech.yaml")
        set_by_path(bad, key, value)
        with pytest.raises(ConfigError, match=match):
            check_world_recipe(bad)
    images_only = load_yaml_config(CONFIGS / "world_image.yaml")
    set_by_path(images_only, "data.media_weights", {"image": 1.0})
    with pytest.raises(ConfigError, match="media_weights needs a speech section"):
        check_world_recipe(images_only)


@pytest.mark.parametrize("kind", ["reference", "llama", "qwen2"])
def test_every_model_kind_trains_and_generates_over_the_same_vocabulary(kind):
    """Each kind reads the same ids (the world's words first, then the media codes) and generates a decodable span."""
    import torch

    from examples.world.backends import WorldBackend, build_model, text_vocabulary
    from omnitok.protocol import TokenizerSpec
    from omnitok.unified import GenerationConfig, MediaSpan, SharedVocabulary

    spec = TokenizerSpec("image", True, codebook_sizes=(16,), downsample=(4, 4))
    vocab = SharedVocabulary(text_vocabulary(kind, "words"), {"image": spec})
    reference = SharedVocabulary(text_vocabulary("reference", "words"), {"image": spec})
    caption = "a red circle at the top left"
    assert vocab.pack([caption]).ids.tolist() == reference.pack([caption]).ids.tolist()
    world_model = build_model({"kind": kind, "dim": 32, "depth": 1, "heads": 2}, vocab)
    batch = vocab.collate([vocab.pack([caption, MediaSpan("image", torch.zeros(2, 2, dtype=torch.long))])])
    logits = world_model.trained(batch["ids"], batch["positions"], attention_mask=batch["attention_mask"])
    assert logits.shape[:2] == batch["ids"].shape and logits.shape[-1] >= vocab.size
    backend = WorldBackend(world_model, vocab)
    config = GenerationConfig(temperature=1.0, cfg_scale=2.0)
    (span,) = backend.media([[caption]], "image", (2, 2), config, torch.Generator().manual_seed(0))
    assert span.tokens.shape[-2:] == (2, 2) and int(span.tokens.max()) < 16
    assert isinstance(backend.text([[span]], max_tokens=8)[0], str)
