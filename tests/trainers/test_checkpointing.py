"""Steps are batches and checkpoints are Lightning's ModelCheckpoint, written atomically.

A GAN recipe whose discriminator starts at step 2 steps two optimizers per batch from then on; Lightning's step
counter, ``max_steps`` and ``every_n_train_steps`` still count batches, and a run resumed from any checkpoint ends
bit-identical to the uninterrupted one."""

from __future__ import annotations

import tempfile
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from omnitok.trainers.checkpointing import AtomicCheckpointIO
from omnitok.trainers.export import read_checkpoint
from omnitok.trainers.run import train
from tests.trainers.recipes import tiny_recipe


class BatchCounter(pl.Callback):
    def __init__(self) -> None:
        self.batches = 0

    def on_train_batch_end(self, *args, **kwargs) -> None:
        self.batches += 1


def _gan_recipe() -> dict:
    return tiny_recipe(
        model__adversarial__start_step=2,
        trainer__max_steps=6,
        trainer__checkpoint_every=2,
        trainer__keep_checkpoint_every=2,
        trainer__val_every=100,
        trainer__heldout_samples=0,
    )


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> tuple[Path, int]:
    counter = BatchCounter()
    out = tmp_path_factory.mktemp("gan") / "run"
    train(_gan_recipe(), out, callbacks=[counter])
    return out, counter.batches


def test_a_step_is_a_batch_before_and_after_the_discriminator_starts(gan_run):
    out, batches = gan_run
    assert batches == 6
    files = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert files == ["last.ckpt", "step_0000002.ckpt", "step_0000004.ckpt", "step_0000006.ckpt"]
    for step in (2, 4, 6):
        checkpoint = read_checkpoint(out / "checkpoints" / f"step_{step:07d}.ckpt")
        assert checkpoint["global_step"] == checkpoint["omnitok"]["step"] == step
    discriminator = read_checkpoint(out / "checkpoints" / "step_0000004.ckpt")["optimizer_states"][1]["state"]
    assert discriminator and all(int(s["step"]) == 2 for s in discriminator.values())  # it stepped at batches 2, 3


@pytest.mark.parametrize("step", [2, 4])
def test_resuming_from_any_checkpoint_ends_bit_identical(gan_run, step, tmp_path):
    out, _ = gan_run
    expected = read_checkpoint(out / "checkpoints" / "last.ckpt")
    counter = BatchCounter()
    result = train(
        _gan_recipe(), tmp_path / "resumed", resume=out / "checkpoints" / f"step_{step:07d}.ckpt", callbacks=[counter]
    )
    assert counter.batches == 6 - step and result.step == 6
    resumed = read_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert resumed["state_dict"].keys() == expected["state_dict"].keys()
    for name, value in expected["state_dict"].items():  # tokenizer, EMA average and discriminator
        assert torch.equal(resumed["state_dict"][name], value), name
    assert resumed["global_step"] == 6


def test_last_checkpoint_holds_the_final_step_when_max_steps_is_not_a_multiple(tmp_path):
    recipe = tiny_recipe(trainer__max_steps=3, trainer__checkpoint_every=2, trainer__heldout_samples=0)
    train(recipe, tmp_path / "run")
    assert read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")["omnitok"]["step"] == 3


def test_checkpoints_are_written_beside_their_target_and_replace_it_whole(tmp_path, monkeypatch):
    target = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, target)
    real_save = torch.save

    def interrupted(obj, path, *args, **kwargs):
        assert Path(path).parent == target.parent  # staged beside the target, not in the system temp folder
        real_save(obj, path)
        with open(path, "r+b") as f:
            f.truncate(10)  # half written...
        raise KeyboardInterrupt  # ...when the job is killed

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"step": 2}, target)
    assert torch.load(target, weights_only=True) == {"step": 1}  # the previous checkpoint, whole
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_lightnings_own_writer_stages_checkpoints_in_the_system_temp_folder(tmp_path, monkeypatch):
    """The shortcoming AtomicCheckpointIO exists for: the default writer's file is moved (copied, across file
    systems) from the system temp folder, so a kill during that copy truncates the checkpoint."""
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    staged = []
    real_mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        staged.append(Path(name).parent)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    TorchCheckpointIO().save_checkpoint({"step": 1}, tmp_path / "last.ckpt")
    assert staged and staged[0] == Path(tempfile.gettempdir()) != tmp_path
