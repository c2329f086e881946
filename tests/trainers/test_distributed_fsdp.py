"""FSDP through the real CLI: ``omnitok train --set trainer.strategy=fsdp`` on 2 CPU processes (gloo), against one
process holding the whole global batch, killed after a sharded checkpoint and resumed, and exported.

The recipe has every stateful part on (as in test_distributed_training.py): a VQ codebook with k-means initialisation
and dead-code restarts (buffers, kept equal across ranks), EMA weights (sharded like the live weights), LPIPS (random
backbone) and a discriminator that starts at step 2 with the adaptive weight (a gradient at the decoder's last layer,
which FSDP keeps gathered from its forward to its backward). The discriminator starts at the first checkpoint, so the
checkpoint holds the state of an optimizer that has not stepped yet.

Tolerance of the 1-process comparison: the same as for DDP (see test_distributed_training.py): the runs sum the same
gradients in another order; measured at most 7e-6 over every weight, codebook and discriminator entry after 6 steps
(FSDP against DDP on 2 processes: 2.4e-7); 4 steps here. 6e-5 is a fifth of one Adam step (learning rate 3e-4), so a missing
gradient reduction, an EMA that averages the wrong shards or an optimizer step off by one fails it (the last, torch
counting its zero-gradient initialisation of a not-yet-stepped optimizer as a step, moved weights by 5e-4).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.trainers.test_distributed_training import (
    ROOT,
    _assert_close_states,
    _command,
    _env,
    _state,
    _train,
    gan_vq_recipe,
)

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)
STEPS = 4
FSDP = ["--set", "trainer.devices=2", "--set", "trainer.strategy=fsdp", "--set", "data.batch_size=4"]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    return gan_vq_recipe(tmp_path_factory.mktemp("recipe") / "fsdp.yaml")


@pytest.fixture(scope="module")
def runs(recipe, tmp_path_factory) -> dict[str, Path]:
    """One process at batch 8, and two FSDP processes at batch 4 each over the same 4 global batches."""
    folder = tmp_path_factory.mktemp("runs")
    _train(recipe, folder / "one", "--set", "data.batch_size=8")
    _train(recipe, folder / "fsdp", *FSDP)
    return {"one": folder / "one", "fsdp": folder / "fsdp"}


def test_fsdp_on_two_processes_equals_one_process_and_checkpoints_shards(runs):
    last = runs["fsdp"] / "checkpoints" / "last.ckpt"
    assert last.is_dir() and sorted(p.name for p in last.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    from torch.distributed.checkpoint import FileSystemReader

    index = FileSystemReader(str(last)).read_metadata().state_dict_metadata
    for name in ("tokenizer.decoder.conv_out.weight", "ema.average.encoder.conv_in.weight"):
        assert len(index[f"state_dict.{name}"].chunks) == 2, name  # each process holds half of it
    one, fsdp = _state(runs["one"]), _state(runs["fsdp"])
    assert any(k.startswith("adversarial.discriminator.") for k in one)  # the discriminator is compared too
    _assert_close_states(fsdp, one, atol=6e-5)


def test_fsdp_exports_whole_weights_that_load(runs, tmp_path):
    """The run's tokenizer/ (gathered from the shards at the end of training) holds the same entries as the 1-process
    export, loads with omnitok.load_tokenizer and reconstructs; exporting the sharded checkpoint as ``omnitok export
    RUN`` does writes the same tensors and config."""
    import omnitok
    from omnitok.trainers.export import export_checkpoint
    from omnitok.trainers.run import resolve_resume

    exported, reference = runs["fsdp"] / "tokenizer", runs["one"] / "tokenizer"
    weights = load_file(exported / "model.safetensors")
    _assert_close_states(weights, load_file(reference / "model.safetensors"), atol=6e-5)
    assert (exported / "config.json").read_text() == (reference / "config.json").read_text()
    tokenizer = omnitok.load_tokenizer(str(exported))
    assert all(torch.equal(tokenizer.state_dict()[k], v) for k, v in weights.items())
    with torch.no_grad():
        assert tokenizer(torch.rand(1, 3, 32, 32) * 2 - 1).reconstruction.shape == (1, 3, 32, 32)
    _, checkpoint = resolve_resume(runs["fsdp"])
    assert checkpoint == runs["fsdp"] / "checkpoints" / "last.ckpt"
    export_checkpoint(checkpoint, tmp_path / "export")
    _assert_close_states(load_file(tmp_path / "export" / "model.safetensors"), weights, atol=0.0)
    assert (tmp_path / "export" / "config.json").read_text() == (exported / "config.json").read_text()


def test_a_killed_fsdp_run_resumes_from_its_shards_exactly(recipe, runs, tmp_path):
    """Killed with SIGKILL once its first sharded checkpoint is in place and resumed with ``--resume RUN``, the run
    ends with the uninterrupted FSDP run's weights, codebooks, EMA and discriminator, bit for bit."""
    run = tmp_path / "killed"
    args = ["train", "--config", str(recipe), "--out", str(run), *FSDP]
    process = subprocess.Popen(
        _command(*args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        cwd=ROOT,
        start_new_session=True,
    )
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # both ranks, mid-run (a checkpoint is swapped in whole, never half)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    from omnitok.trainers.export import read_checkpoint

    killed_at = read_checkpoint(last, weights=False)["omnitok"]["step"]
    assert 0 < killed_at < STEPS
    done = subprocess.run(
        _command("train", "--resume", str(run)), check=False, capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_close_states(_state(run), _state(runs["fsdp"]), atol=0.0)  # bit for bit
