"""Checkpoints carry their recipe as plain data: ``TokenizerTrainer.load_from_checkpoint(path, weights_only=True)``
rebuilds a module that continues training exactly, and no checkpoint can run code when it is read."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from omnitok.cli.main import main
from omnitok.config import instantiate, load_yaml_config
from omnitok.errors import ConfigError
from omnitok.trainers.export import tokenizer_from_checkpoint
from omnitok.trainers.system import TokenizerTrainer

RECIPE = Path(__file__).resolve().parents[1] / "compat" / "v0_1" / "recipe.yaml"  # tiny GAN recipe with EMA


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt") / "run"
    assert main(["train", "--config", str(RECIPE), "--out", str(folder)]) == 0
    return folder


def test_the_recipe_is_stored_as_plain_data(run):
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)  # no pickled objects
    stored = checkpoint["hyper_parameters"]
    recipe = load_yaml_config(RECIPE)["model"]["init_args"]
    assert stored["tokenizer"]["class_path"] == "omnitok.models.autoencoder.Autoencoder"
    assert stored["learning_rate"] == recipe["learning_rate"] and stored["max_steps"] == 2
    assert yaml.safe_load(yaml.safe_dump(dict(stored))) == dict(stored)  # plain YAML-able data only


def test_load_from_checkpoint_continues_training_exactly(run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "copy")
    assert main(["train", "--resume", str(copy), "--set", "trainer.max_steps=3"]) == 0
    expected = tokenizer_from_checkpoint(copy / "checkpoints" / "last.ckpt", weights="live").state_dict()
    checkpoint = run / "checkpoints" / "last.ckpt"
    module = TokenizerTrainer.load_from_checkpoint(checkpoint, weights_only=True, max_steps=3)
    assert module.step == 2
    trainer = pl.Trainer(
        max_epochs=-1,
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        val_check_interval=2,
        check_val_every_n_epoch=None,
        use_distributed_sampler=False,
        accelerator="cpu",
        devices=1,
        default_root_dir=str(tmp_path / "plain"),
    )
    data = instantiate(load_yaml_config(RECIPE)["data"])
    trainer.fit(module, datamodule=data, ckpt_path=str(checkpoint), weights_only=True)
    assert module.step == 3
    for name, value in module.tokenizer.state_dict().items():
        assert torch.equal(value, expected[name]), name


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_a_checkpoint_carrying_a_pickle_payload_is_refused(run, tmp_path, capsys):
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    _Payload.marker = tmp_path / "owned"
    checkpoint["hyper_parameters"]["evil"] = _Payload()
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "config.yaml", tmp_path / "run" / "config.yaml")
    bad = tmp_path / "run" / "checkpoints" / "last.ckpt"
    torch.save(checkpoint, bad)
    with pytest.raises(Exception, match="Weights only load failed|Unsupported global"):
        TokenizerTrainer.load_from_checkpoint(bad, weights_only=True)
    assert main(["train", "--resume", str(tmp_path / "run"), "--set", "trainer.max_steps=3"]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err
    assert not _Payload.marker.exists()


def test_a_checkpoint_without_a_recipe_says_how_to_load_it():
    old = RECIPE.parent / "train_step2.ckpt"  # omnitok 0.1.0 wrote no hyperparameters
    with pytest.raises(ConfigError, match="carries no recipe.*omnitok train --resume"):
        TokenizerTrainer.load_from_checkpoint(old, weights_only=True)
    recipe = load_yaml_config(RECIPE)["model"]["init_args"]
    module = TokenizerTrainer.load_from_checkpoint(old, weights_only=True, max_steps=2, **recipe)
    assert module.step == 2
