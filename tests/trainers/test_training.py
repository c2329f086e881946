"""End-to-end training runs on tiny recipes: artifacts, exact resume, the NaN guard, fine-tuning, precision."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from safetensors.torch import load_file

from omnitok.errors import ConfigError, DataError, NonFiniteError
from omnitok.hub import load_tokenizer
from omnitok.trainers import export_checkpoint, tokenizer_from_checkpoint, train
from omnitok.trainers.export import read_checkpoint
from tests.trainers.recipes import tiny_recipe


class RecordLosses(pl.Callback):
    def __init__(self) -> None:
        self.losses: dict[int, float] = {}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if outputs:  # skipped steps return nothing
            self.losses[module.step] = float(outputs["loss"])


class Crash(pl.Callback):
    """Raises after ``at`` steps, like a machine dying mid-run."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.step == self.at:
            raise RuntimeError("simulated crash")


FULL = {  # every moving part on: GAN from step 2, EMA, LPIPS (random backbone), k-means, restarts
    "model__adversarial__start_step": 2,
    "model__ema_decay": 0.9,
    "model__losses": [
        {"class_path": "omnitok.trainers.ReconstructionLoss", "init_args": {"kind": "l1"}},
        {"class_path": "omnitok.trainers.PerceptualLoss", "init_args": {"pretrained": False, "weight": 0.1}},
    ],
}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    recorder = RecordLosses()
    config = tiny_recipe(**FULL, trainer__loggers=["csv", "tensorboard", "wandb"])
    result = train(config, out, callbacks=[recorder])
    return out, result, recorder.losses


def test_run_leaves_checkpoint_export_samples_logs_and_heldout_figures(full_run):
    out, result, losses = full_run
    assert result.step == 6 and sorted(losses) == [1, 2, 3, 4, 5, 6]
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert (out / "checkpoints" / "last.ckpt").is_file() and (out / "config.yaml").is_file()
    assert sorted(p.name for p in (out / "samples").glob("*.png")) == ["step_0000003.png", "step_0000006.png"]
    heldout = json.loads((out / "heldout.json").read_text())
    assert heldout["samples"] == 8 and heldout["psnr_before"] is not None
    assert set(heldout["baselines"]) == {"mean_colour", "mean_image", f"resample_{heldout['budget_pixels']}px"}
    assert (out / "reconstructions.png").is_file() and "PSNR" in (out / "heldout.md").read_text()
    csv_logs = list((out / "logs").rglob("metrics.csv"))
    assert csv_logs and "train/loss_lpips" in csv_logs[0].read_text().splitlines()[0]
    header = csv_logs[0].read_text().splitlines()[0]
    for column in ("train/loss_generator", "train/loss_discriminator", "train/perplexity", "val/psnr", "val/usage"):
        assert column in header
    assert list((out / "logs" / "tensorboard").rglob("events.out.tfevents*"))
    assert list(out.rglob("wandb/offline-run-*"))


def test_exported_tokenizer_is_the_ema_average_and_round_trips(full_run):
    out, result, _ = full_run
    tokenizer = load_tokenizer(result.tokenizer)
    checkpoint = read_checkpoint(out / "checkpoints" / "last.ckpt")
    ema = {k[len("ema.average.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("ema.average.")}
    exported = load_file(result.tokenizer / "model.safetensors")
    assert exported.keys() == ema.keys() and all(torch.equal(exported[k], ema[k]) for k in ema)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    tokens = tokenizer.encode(x)
    assert tokens.shape == (2, 8, 8) and tokens.dtype == torch.long
    assert tokenizer.decode(tokens).shape == x.shape
    live = tokenizer_from_checkpoint(out / "checkpoints" / "last.ckpt", weights="live")
    assert not torch.equal(live.decoder.conv_out.weight, tokenizer.decoder.conv_out.weight)
    again = export_checkpoint(out / "checkpoints" / "last.ckpt", out / "again")
    assert load_file(again / "model.safetensors").keys() == exported.keys()


def test_resume_after_a_crash_continues_exactly(tmp_path):
    config = tiny_recipe(**FULL)
    straight = RecordLosses()
    train(config, tmp_path / "straight", callbacks=[straight])

    first = RecordLosses()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "crashed", callbacks=[first, Crash(at=5)])
    assert read_checkpoint(tmp_path / "crashed" / "checkpoints" / "last.ckpt")["omnitok"]["step"] == 3
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config, tmp_path / "crashed")
    resumed = RecordLosses()
    train(config, tmp_path / "crashed", resume=tmp_path / "crashed" / "checkpoints" / "last.ckpt", callbacks=[resumed])

    assert sorted(resumed.losses) == [4, 5, 6]
    for step in (1, 2, 3):
        assert first.losses[step] == straight.losses[step]
    for step in (4, 5, 6):
        assert resumed.losses[step] == straight.losses[step], f"step {step} differs after resume"
    a = load_file(tmp_path / "straight" / "tokenizer" / "model.safetensors")
    b = load_file(tmp_path / "crashed" / "tokenizer" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


class PoisonGradients(pl.Callback):
    """Makes the decoder's gradients NaN on the given steps (as a bf16 overflow would)."""

    def __init__(self, steps: set[int] | None) -> None:
        self.steps, self.handle = steps, None

    def on_train_start(self, trainer, module) -> None:
        weight = module.tokenizer.decoder.conv_out.weight
        self.handle = weight.register_hook(
            lambda g: g * float("nan") if self.steps is None or module.step in self.steps else g
        )


def test_nonfinite_steps_are_skipped_and_counted(tmp_path):
    recorder = RecordLosses()
    train(tiny_recipe(), tmp_path, callbacks=[recorder, PoisonGradients({2, 4})])
    checkpoint = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert checkpoint["omnitok"]["skipped_steps"] == 2
    assert sorted(recorder.losses) == [1, 3, 5, 6]


def test_persistent_nonfinite_steps_stop_with_a_clear_error(tmp_path):
    with pytest.raises(NonFiniteError, match="consecutive steps"):
        train(tiny_recipe(model__max_nonfinite_steps=2), tmp_path, callbacks=[PoisonGradients(None)])


def test_fine_tuning_starts_from_given_weights(full_run, tmp_path):
    _, result, _ = full_run
    config = tiny_recipe(trainer__max_steps=1, model__learning_rate=1e-12, model__warmup_steps=0)
    fine = train(config, tmp_path, init_from=result.tokenizer)
    start = load_file(result.tokenizer / "model.safetensors")
    end = load_file(fine.tokenizer / "model.safetensors")
    moved = [k for k in start if not torch.allclose(start[k].float(), end[k].float(), atol=1e-3)]
    codebook_state = ("quantizer.codebook", "quantizer.draws.state")  # the EMA codebook and its random-draw counter
    assert all(k.startswith("quantizer.ema_") or k in codebook_state for k in moved), moved
    assert bool(end["quantizer.initialized"])  # k-means init is not redone on pretrained codes


def test_bf16_mixed_precision_trains(tmp_path):
    recorder = RecordLosses()
    train(tiny_recipe("quickstart_fsq", trainer__precision="bf16-mixed", trainer__max_steps=3), tmp_path, callbacks=[recorder])
    assert len(recorder.losses) == 3 and all(math.isfinite(v) for v in recorder.losses.values())


def test_bad_recipes_fail_before_training(tmp_path):
    with pytest.raises(ConfigError, match="unknown trainer setting"):
        train(tiny_recipe(trainer__max_step=3), tmp_path / "a")
    with pytest.raises(ConfigError, match="top-level"):
        train({**tiny_recipe(), "trainr": {}}, tmp_path / "b")
    with pytest.raises(DataError, match="not found"):
        train(tiny_recipe(data__root=str(tmp_path / "missing")), tmp_path / "c")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty|no image"):
        train(tiny_recipe(data__root=str(empty)), tmp_path / "d")
    with pytest.raises(ConfigError, match="out_channels"):
        train(tiny_recipe(model__tokenizer__encoder__out_channels=5), tmp_path / "e")
    assert not (tmp_path / "c" / "checkpoints").exists()


def test_unreadable_images_are_skipped_and_reported(tmp_path):
    from torchvision.io import write_png

    folder = tmp_path / "images" / "nested"
    folder.mkdir(parents=True)
    for i in range(12):
        write_png((torch.rand(3, 40, 48) * 255).to(torch.uint8), str(folder / f"img{i}.png"))
    (folder / "broken.png").write_bytes(b"not an image at all")
    good = (folder / "img0.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    result = train(tiny_recipe(data__root=str(tmp_path / "images"), data__val_fraction=0.0, trainer__max_steps=8), tmp_path / "run")
    assert result.step == 8
    assert {Path(line.split(":")[0]).name for line in result.skipped_files} == {"broken.png", "truncated.png"}


def test_resuming_a_finished_run_asks_for_more_steps(full_run):
    out, _, _ = full_run
    with pytest.raises(ConfigError, match="raise trainer.max_steps"):
        train(tiny_recipe(**FULL), out, resume=out / "checkpoints" / "last.ckpt")


def test_fp16_mixed_precision_is_refused_up_front(tmp_path):
    with pytest.raises(ConfigError, match="precision"):
        train(tiny_recipe(trainer__precision="16-mixed"), tmp_path)


def test_training_without_a_terminal_prints_one_clean_line_per_interval(tmp_path, capsys, monkeypatch):
    """stderr is a pipe here (pytest captures it): plain progress lines with the step and figures, no bar."""
    monkeypatch.setenv("OMNITOK_PROGRESS_SECONDS", "0")  # a line per step
    train(tiny_recipe(trainer__progress_bar=True, trainer__max_steps=3), tmp_path)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("train: step")]
    assert [line.split(",")[0] for line in lines] == [f"train: step {s}/3 ({100 * s // 3}%)" for s in (1, 2, 3)]
    assert "loss" in lines[-1] and "\r" not in err and "\x1b[" not in err
