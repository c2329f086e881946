"""Multi-process training through the real CLI: ``omnitok train`` on 2 CPU processes (gloo), started by
Lightning's own launcher, by torchrun and as two SLURM tasks, against one process holding the whole global batch.

The recipe has every stateful part on: a VQ codebook with k-means initialisation and dead-code restarts, EMA
weights, LPIPS (random backbone: no download) and a discriminator that starts at step 2 with the adaptive weight.

Tolerance of the 1- vs 2-process comparison: the runs sum the same gradients in another order (all-reduce of two
halves against one sum), float32 rounding that Adam's division by the root of tiny second moments enlarges; measured
at most 1.5e-5 over every weight, codebook and discriminator entry after 6 steps. One Adam step moves a weight by up
to the learning rate (3e-4 here), so 6e-5 (a fifth of one step) fails a missing gradient all-reduce, a sampler that
gives both ranks the same samples, or a codebook drawn per rank (the k-means and dead-code draws before they were
made rank-independent moved codebook entries by O(1)).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.trainers.recipes import tiny_recipe

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)
ROOT = Path(__file__).resolve().parents[2]
STEPS = 6
TWO_PROCESSES = ["--set", "trainer.devices=2", "--set", "trainer.strategy=ddp"]
BF16 = ["--set", "trainer.precision=bf16-mixed"]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "omnitok.cli.main", *args]


def _train(recipe: Path, out: Path, *extra: str) -> str:
    done = subprocess.run(
        _command("train", "--config", str(recipe), "--out", str(out), *extra),
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _state(run: Path) -> dict[str, torch.Tensor]:
    """The whole weights of a run's last checkpoint (a sharded folder is gathered, as ``omnitok export`` does)."""
    from omnitok.trainers.export import read_checkpoint

    return read_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]


def _assert_close_states(actual: dict, expected: dict, atol: float) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        if value.is_floating_point():
            torch.testing.assert_close(actual[name], value, rtol=0, atol=atol, msg=name)
        else:
            assert torch.equal(actual[name], value), name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gan_vq_recipe(path: Path) -> Path:
    """The tiny VQ quickstart with every stateful part on (k-means, dead-code restarts, EMA, LPIPS with a random
    backbone, a discriminator from step 2), written to ``path``: the recipe of the DDP and FSDP tests."""
    config = tiny_recipe(
        "quickstart_vq",
        model__adversarial__start_step=2,
        model__tokenizer__quantizer__codebook_size=64,
        model__tokenizer__quantizer__dead_code_threshold=0.5,
        trainer__max_steps=STEPS,
        trainer__val_every=2,
        trainer__checkpoint_every=2,
        trainer__heldout_samples=8,
        trainer__accelerator="cpu",
    )
    config["model"]["init_args"]["losses"].append(
        {
            "class_path": "omnitok.trainers.PerceptualLoss",
            "init_args": {"net": "alex", "weight": 0.1, "pretrained": False},
        }
    )
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def recipe(tmp_path_factory) -> Path:
    return gan_vq_recipe(tmp_path_factory.mktemp("recipe") / "ddp.yaml")


@pytest.fixture(scope="session")
def runs(recipe, tmp_path_factory) -> dict[str, Path]:
    """One process at batch 8 and two processes at batch 4 each (Lightning's launcher), the same 6 global batches;
    and two processes started by torchrun, in bf16."""
    folder = tmp_path_factory.mktemp("runs")
    _train(recipe, folder / "one", "--set", "data.batch_size=8")
    output = _train(recipe, folder / "two", "--set", "data.batch_size=4", *TWO_PROCESSES)
    (folder / "two.out").write_text(output)
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "omnitok.cli.main",
    ]
    args = ["train", "--config", str(recipe), "--out", str(folder / "torchrun_bf16"), "--set", "data.batch_size=4"]
    done = subprocess.run(
        [*torchrun, *args, *TWO_PROCESSES, *BF16], check=False, capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {
        "one": folder / "one",
        "two": folder / "two",
        "two_output": folder / "two.out",
        "torchrun_bf16": folder / "torchrun_bf16",
    }


def test_two_processes_equal_one_process_over_the_same_global_batches(runs):
    one, two = _state(runs["one"]), _state(runs["two"])
    assert any(k.startswith("adversarial.discriminator.") for k in one)  # the discriminator is compared too
    _assert_close_states(two, one, atol=6e-5)
    for run in (runs["one"], runs["two"]):
        checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert checkpoint["omnitok"]["step"] == STEPS


def test_rank_zero_alone_exports_reports_and_logs(runs):
    two = runs["two"]
    assert (two / "tokenizer" / "model.safetensors").is_file() and (two / "heldout.md").is_file()
    assert len(list((two / "logs").iterdir())) == 1  # one logger folder, not one per rank
    output = runs["two_output"].read_text()
    assert output.count("run folder:") == 1 and output.count("# Held-out reconstruction") == 1
    rows = (two / "logs").joinpath(next((two / "logs").iterdir()).name, "metrics.csv").read_text().splitlines()
    assert len([r for r in rows[1:] if r.split(",")[1] == "0"]) == 1  # step 0 logged once
    one_held, two_held = (json.loads((run / "heldout.json").read_text()) for run in (runs["one"], two))
    assert one_held["samples"] == two_held["samples"] == 8
    assert two_held["psnr_after"] == pytest.approx(one_held["psnr_after"], abs=1e-3)


def test_a_killed_two_process_bf16_run_resumes_exactly(recipe, runs, tmp_path):
    """Killed with SIGKILL after a checkpoint and resumed, a bf16 run started by Lightning's launcher ends with the
    weights of the uninterrupted bf16 run torchrun started, bit for bit."""
    run = tmp_path / "killed"
    args = ["train", "--config", str(recipe), "--out", str(run), "--set", "data.batch_size=4", *TWO_PROCESSES, *BF16]
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
    os.killpg(process.pid, signal.SIGKILL)  # both ranks, mid-run
    process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = torch.load(last, map_location="cpu", weights_only=True)["omnitok"]["step"]
    assert 0 < killed_at < STEPS
    done = subprocess.run(
        _command("train", "--resume", str(run)), check=False, capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_close_states(_state(run), _state(runs["torchrun_bf16"]), atol=0.0)  # bit for bit


def test_slurm_tasks_train_as_lightnings_launcher_does(recipe, runs, tmp_path):
    """Under SLURM, srun starts the processes (here: two processes given the SLURM_* variables Lightning's SLURM
    environment reads); they give the Lightning-launched run's weights bit for bit."""
    args = ["train", "--config", str(recipe), "--set", "data.batch_size=4", *TWO_PROCESSES]
    slurm = {
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_NNODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "omnitok-test",
        "SLURM_NODELIST": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    tasks = [
        subprocess.Popen(
            _command(*args, "--out", str(tmp_path / "slurm")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_env(**slurm, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank)),
        )
        for rank in range(2)
    ]
    outputs = [task.communicate(timeout=300) for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0], [err[-2000:] for _, err in outputs]
    for rank, (_, err) in enumerate(outputs):  # each task is one rank of Lightning's SLURM environment
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in err and "SLURM auto-requeueing" in err
    _assert_close_states(_state(tmp_path / "slurm"), _state(runs["two"]), atol=0.0)


QUICKSTART_EVAL_PSNR = 26.86  # README: omnitok eval of the 1-process quickstart_vq on the built-in held-out images


@pytest.mark.slow
def test_the_quickstart_from_packed_shards_on_two_processes_killed_and_resumed(tmp_path):
    """The README's path at full size: the built-in images packed into shards, quickstart_vq trained from them on two
    processes (batch 8 each: the quickstart's global batch 16), killed after a checkpoint, resumed, exported and
    evaluated on the built-in held-out images. Its PSNR is within 0.5 dB of the 1-process quickstart's, which reads
    the built-in images in another order (the packed stream is shuffled by litdata, not by the built-in sampler)."""

    def omnitok(*args: str) -> None:
        done = subprocess.run(_command(*args), check=False, capture_output=True, text=True, env=_env(), cwd=ROOT)
        assert done.returncode == 0, done.stderr[-3000:]

    omnitok("data", "builtin", str(tmp_path / "builtin"))
    omnitok("data", "pack", str(tmp_path / "builtin" / "train"), str(tmp_path / "packed"), "--workers", "2")
    run = tmp_path / "run"
    recipe = ROOT / "configs" / "image" / "quickstart_vq.yaml"
    train = ["train", "--config", str(recipe), "--out", str(run), "--set", f"data.root={tmp_path / 'packed'}"]
    train += ["--set", "data.batch_size=8", "--set", "trainer.progress_bar=false", *TWO_PROCESSES]
    process = subprocess.Popen(
        _command(*train),
        env=_env(),
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = run / "checkpoints" / "last.ckpt"
    while not last.exists() and process.poll() is None:
        time.sleep(0.5)
    time.sleep(5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    omnitok("train", "--resume", str(run))
    assert torch.load(last, map_location="cpu", weights_only=True)["omnitok"]["step"] == 2000
    report = tmp_path / "report"
    omnitok(
        "eval", "--tokenizer", str(run / "tokenizer"), "--data", "builtin", "--resolution", "64", "--out", str(report)
    )
    figures = json.loads((report / "metrics.json").read_text())
    psnr = figures["tokenizers"][0]["reconstruction"]["psnr"]
    print(f"packed, 2 processes, killed and resumed: eval PSNR {psnr:.2f} dB (1 process: {QUICKSTART_EVAL_PSNR})")
    assert abs(psnr - QUICKSTART_EVAL_PSNR) < 0.5, psnr
