"""Recipes are checked before anything is built or written: each bad value is refused with the key that holds it,
and no run folder is made."""

from __future__ import annotations

import pytest
import yaml

from omnitok.cli.main import main
from omnitok.config import instantiate
from omnitok.errors import ConfigError
from tests.trainers.recipes import tiny_recipe

CASES = {
    "infinite max_steps": ({"trainer__max_steps": float("inf")}, "trainer.max_steps: must be an integer, got inf"),
    "fractional max_steps": ({"trainer__max_steps": 2.7}, "trainer.max_steps: must be an integer, got 2.7"),
    "checkpoint_every 0": ({"trainer__checkpoint_every": 0}, "trainer.checkpoint_every must be a positive integer"),
    "a string for the loggers list": ({"trainer__loggers": "csv"}, "trainer.loggers: must be a list, got 'csv'"),
    "a string learning rate": ({"model__learning_rate": "fast"}, "model.learning_rate: must be a number, got 'fast'"),
    "a fractional batch size": ({"data__batch_size": 2.5}, "data.batch_size: must be an integer, got 2.5"),
    "a quoted codebook size": (
        {"model__tokenizer__quantizer__codebook_size": "1024"},
        "model.tokenizer.quantizer.codebook_size: must be an integer, got '1024'",
    ),
    "a boolean where a number goes": (
        {"model__warmup_steps": True},
        "model.warmup_steps: must be an integer, got True",
    ),
    "an unknown argument": ({"model__tokenizer__quantizer__codebok_size": 3}, "takes no argument(s) ['codebok_size']"),
    "an unknown logger": ({"trainer__loggers": ["csv", "neptune"]}, "unknown logger(s) ['neptune']"),
    "an unsupported strategy": ({"trainer__strategy": "deepspeed"}, "trainer.strategy 'deepspeed' is not supported"),
    "a module where a number goes": (
        {"model__learning_rate": {"class_path": "omnitok.trainers.ReconstructionLoss"}},
        "model.learning_rate: must be a number",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_recipe_values_are_refused_by_key_before_a_run_folder_exists(case, tmp_path, capsys):
    overrides, message = CASES[case]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(**overrides)))
    out = tmp_path / "run"
    assert main(["train", "--config", str(recipe), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_malformed_set_values_name_the_key(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe()))
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "run"), "--set", "data.size=["]) == 2
    assert "--set data.size=[: the value is not valid YAML" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_trust_check_looks_at_the_class_a_name_imports():
    with pytest.raises(ConfigError, match="which is pathlib.Path"):
        instantiate({"class_path": "omnitok.config.Path", "init_args": {}})  # omnitok.config imports pathlib.Path
    assert instantiate({"class_path": "torch.nn.Identity"}).__class__.__name__ == "Identity"


def _user_recipe(**overrides):
    return tiny_recipe(
        model__losses=[{"class_path": "tests.trainers.user_parts.HalfL1", "init_args": {"weight": 1.0}}],
        trainer__max_steps=1,
        trainer__val_every=1,
        trainer__heldout_samples=0,
        **overrides,
    )


def test_train_names_a_users_own_class_only_with_trust_remote_code(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_user_recipe()))
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "refused")]) == 2
    assert "model.losses[0]" in capsys.readouterr().err and not (tmp_path / "refused").exists()
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "run"), "--trust-remote-code"]) == 0


def test_any_lightning_logger_by_class_path(tmp_path, capsys):
    logger = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"name": "my_csv"}}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(trainer__loggers=[logger], trainer__max_steps=2)))
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "run")]) == 0
    assert list((tmp_path / "run" / "my_csv").rglob("metrics.csv"))  # save_dir defaults to the run folder
    outside = {"class_path": "lightning.pytorch.loggers.csv_logs.Path", "init_args": {}}  # a name, not a logger
    recipe.write_text(yaml.safe_dump(tiny_recipe(trainer__loggers=[outside])))
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "other")]) == 2
    assert "trainer.loggers[0]" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_a_logger_entry_cannot_smuggle_in_an_untrusted_class(tmp_path, capsys):
    marker = tmp_path / "ran"
    payload = {"class_path": "subprocess.Popen", "init_args": {"args": ["touch", str(marker)]}}
    logger = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"extra": payload}}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(trainer__loggers=[logger])))
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "run")]) == 2
    assert "trainer.loggers[0].extra" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "run").exists()
