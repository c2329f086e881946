"""Callbacks: the step progress bar, and the held-out before/after evaluation every run ends with (checkpoints:
:mod:`omnitok.trainers.checkpointing`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from torch import Tensor

from omnitok.metrics import psnr, to_unit_range
from omnitok.modalities import get_modality
from omnitok.progress import progress_interval
from omnitok.trainers import heldout
from omnitok.trainers.rank_split import broadcast_flag, gather_in_order, is_mine
from omnitok.utils import atomic_path


class StepProgressBar(TQDMProgressBar):
    """Progress in training steps (``step / max_steps``, resumed runs start where they stopped) with the figures
    that matter: loss, PSNR, codebook usage, validation PSNR."""

    def get_metrics(self, trainer: pl.Trainer, module: Any) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, module)
        metrics.pop("v_num", None)
        return metrics

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        super().on_train_start(trainer, module)
        self._reset(module)

    def on_train_epoch_start(self, trainer: pl.Trainer, module: Any) -> None:
        super().on_train_epoch_start(trainer, module)
        self._reset(module)

    def _reset(self, module: Any) -> None:  # a resumed run may skip the epoch start; set the bar up either way
        self.train_progress_bar.reset(total=module.max_steps)
        self.train_progress_bar.initial = module.step
        self.train_progress_bar.set_description("train")

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if module.step % self.refresh_rate == 0 or module.step >= module.max_steps:
            self.train_progress_bar.n = module.step
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, module))
            self.train_progress_bar.refresh()


class StepLines(pl.Callback):
    """The progress of training where stderr is not a terminal (a log file, a CI job, a pipe): one complete line per
    interval (``OMNITOK_PROGRESS_SECONDS``, default 10 s) and at the last step, e.g. ``train: step 120/2000 (6%),
    35.2 s, loss 0.1234, psnr 21.30``, on the main process only; never a carriage return."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = progress_interval() if interval is None else float(interval)
        self._start = self._last = 0.0

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        self._start = self._last = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.monotonic()
        last_step = module.step >= module.max_steps
        if not trainer.is_global_zero or (now - self._last < self.interval and not last_step):
            return
        self._last = now
        figures = [f"{name.split('/')[-1]} {float(value):.4g}" for name, value in trainer.progress_bar_metrics.items()]
        percent = 100 * module.step // max(1, module.max_steps)
        line = f"train: step {module.step}/{module.max_steps} ({percent}%), {now - self._start:.1f} s"
        sys.stderr.write(", ".join([line, *figures]) + "\n")
        sys.stderr.flush()


class HeldOutEvaluation(pl.Callback):
    """Measures the held-out data before training and after it, next to trivial baselines, for the tokenizer's
    modality (see :mod:`omnitok.trainers.heldout`): PSNR for images, per-frame PSNR for video, SI-SDR and mel
    distance for audio.

    Writes ``<run>/heldout.json`` and ``<run>/heldout.md`` (before / after / baselines) and
    ``<run>/reconstructions.png`` (images: originals, reconstructions, absolute error; video: frame strips; audio:
    spectrograms), and for images ``<run>/showcase.png`` (a few whole held-out images, original beside
    reconstruction, when the data offers them). heldout.json keeps ``<metric>_before`` / ``<metric>_after`` for each
    metric (``psnr_before``/``psnr_after`` for images and video), ``baselines`` (name -> the first metric) and
    ``baseline_figures`` (name -> every metric); video adds ``psnr_per_frame`` (after training, per frame index).
    The data module's ``test_dataloader`` yields batches holding the media under the trainer's ``media_key``.
    """

    def __init__(self, folder: str | Path, max_samples: int = 256):
        self.folder, self.max_samples = Path(folder), max_samples

    @torch.no_grad()
    def _measure(self, trainer: pl.Trainer, module: Any) -> dict[str, Any] | None:
        """Reconstruct the held-out samples, each rank its share of the batches, gathered in order on rank 0 (so the
        figures are the single-process figures), which alone scores them; the other ranks get None. A collective
        under data parallelism (FSDP included: the whole weights are gathered on every rank first)."""
        model = whole_weights(module)
        loader = trainer.datamodule.test_dataloader()
        key = getattr(module, "media_key", "image")
        spec = module.tokenizer.spec
        figures = reconstruct_heldout(trainer, model, spec, loader, key, self.max_samples, module.device)
        return None if figures is None else {**figures, "model": model}

    @torch.no_grad()
    def _showcase(self, model: Any, module: Any, data: Any) -> list[float]:
        """Reconstruct a few whole held-out images (larger than the training crops) into showcase.png."""
        images = data.showcase_images() if hasattr(data, "showcase_images") else []
        if not images:
            return []
        was_training = model.training
        model.eval()
        pairs, figures = [], []
        for image in images:
            x = image.unsqueeze(0).to(module.device)
            x_hat = model(x).reconstruction.float().cpu()
            figures.append(_mean_psnr(x_hat, x.cpu()))
            pairs.append(torch.cat([to_unit_range(x.cpu()), to_unit_range(x_hat)], dim=-1)[0])
        model.train(was_training)
        _save_column(pairs, self.folder / "showcase.png")
        return figures

    def on_fit_start(self, trainer: pl.Trainer, module: Any) -> None:
        if hasattr(module, "heldout_views"):  # an omni run: a section per modality and the shared codebook
            from omnitok.trainers.omni_heldout import measure_before

            measure_before(self.folder, self.max_samples, trainer, module)
            return
        before = self.folder / "heldout_before.json"
        if not _has_test_data(trainer) or broadcast_flag(before.exists(), trainer):
            return
        figures = self._measure(trainer, module)
        if figures is None:  # not rank 0
            return
        with atomic_path(before) as tmp:
            tmp.write_text(json.dumps({"step": module.step, **figures["scores"]}))

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        if hasattr(module, "heldout_views"):
            from omnitok.trainers.omni_heldout import measure_after

            measure_after(self.folder, self.max_samples, trainer, module)
            return
        if not _has_test_data(trainer):
            return
        after = self._measure(trainer, module)
        if after is None:  # not rank 0: rank 0 writes the figures, once
            return
        spec = module.tokenizer.spec
        names = get_modality(spec.modality).heldout_metrics()
        before_path = self.folder / "heldout_before.json"
        before = json.loads(before_path.read_text()) if before_path.exists() else {}
        result = heldout_result(spec, after, before, module.step)
        result["skipped_files"] = len(module.skipped_files)
        result["showcase_psnr"] = self._showcase(after["model"], module, trainer.datamodule)
        with atomic_path(self.folder / "heldout.json") as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        with atomic_path(self.folder / "heldout.md") as tmp:
            tmp.write_text(_markdown(result, names))
        picture = get_modality(spec.modality).heldout_picture(spec, after["x"], after["x_hat"])
        if picture is not None:
            with atomic_path(self.folder / "reconstructions.png") as tmp:
                tmp.write_bytes(picture)


@torch.no_grad()
def reconstruct_heldout(
    trainer: pl.Trainer, model: Any, spec: Any, loader: Any, key: str, max_samples: int, device: torch.device
) -> dict[str, Any] | None:
    """Reconstruct up to ``max_samples`` held-out samples of ``loader`` (batches holding the media under ``key``) with
    ``model`` (its ``forward(x).reconstruction``), each rank its share of the batches, gathered in order on rank 0,
    which scores them: ``{"x", "x_hat", "scores", "samples"}`` there, None on the other ranks (a collective)."""
    modality = get_modality(spec.modality)
    was_training = model.training
    model.eval()
    mine: dict[int, tuple[Tensor, Tensor]] = {}
    seen = 0
    for index, batch in enumerate(loader):
        x = batch[key][: max_samples - seen]
        if x.shape[0] and is_mine(index, trainer):
            x_hat = model(x.to(device)).reconstruction.float().cpu()
            mine[index] = (x.cpu(), modality.fit_reconstruction(x_hat, x.cpu()))
        seen += x.shape[0]
        if seen >= max_samples:
            break
    model.train(was_training)
    batches = gather_in_order(mine, trainer, everywhere=False)
    if batches is None:
        return None
    x, x_hat = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    return {"x": x, "x_hat": x_hat, "scores": modality.heldout_scores(spec, x, x_hat), "samples": seen}


def heldout_result(spec: Any, after: dict[str, Any], before: dict[str, Any], step: int) -> dict[str, Any]:
    """heldout.json's figures for one modality: ``after`` from :func:`reconstruct_heldout`, ``before`` the scores
    measured before training (may be empty), the trivial baselines and the modality's details."""
    modality = get_modality(spec.modality)
    x, x_hat = after["x"], after["x_hat"]
    names = modality.heldout_metrics()
    candidates, note = modality.heldout_baselines(spec, x)
    figures = {name: modality.heldout_scores(spec, x, value) for name, value in candidates.items()}
    result: dict[str, Any] = {
        "modality": spec.modality,
        "unit": modality.plural,
        "samples": after["samples"],
        "shape": list(x.shape[2:]),
        "step": step,
    }
    for metric in names:
        result[f"{metric}_before"] = heldout.finite(before.get(metric))
        result[f"{metric}_after"] = heldout.finite(after["scores"][metric])
    result["baselines"] = {name: heldout.finite(values[names[0]]) for name, values in figures.items()}
    result["baseline_figures"] = {n: {m: heldout.finite(v) for m, v in f.items()} for n, f in figures.items()}
    result["baseline_note"] = note
    result.update(modality.heldout_details(spec, x, x_hat))
    return result


def whole_weights(module: Any) -> Any:
    """The module's inference model with whole weights on this rank (gathered under FSDP: a collective)."""
    gather = getattr(module, "whole_inference_model", None)
    return gather() if gather is not None else module.inference_model


def _has_test_data(trainer: pl.Trainer) -> bool:
    data = trainer.datamodule
    return data is not None and getattr(data, "test_data", None) is not None


def _mean_psnr(x_hat: Tensor, x: Tensor) -> float:
    return float(psnr(to_unit_range(x_hat), to_unit_range(x)).mean())


def _markdown(result: dict[str, Any], names: tuple[str, ...]) -> str:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.4f}"

    shape = "x".join(str(s) for s in result["shape"])
    unit = result["unit"]
    labels = [heldout.label(m) for m in names]
    if result.get("psnr_per_frame"):
        labels = [f"per-frame {label}" for label in labels]
    lines = [
        f"# Held-out reconstruction ({result['samples']} {unit}, {shape})",
        "",
        "| reconstruction | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(names),
        "| tokenizer before training | " + " | ".join(fmt(result[f"{m}_before"]) for m in names) + " |",
        f"| tokenizer after {result['step']} steps | "
        + " | ".join(f"**{fmt(result[f'{m}_after'])}**" for m in names)
        + " |",
    ]
    for name, figures in result["baseline_figures"].items():
        lines.append(f"| baseline: {name.replace('_', ' ')} | " + " | ".join(fmt(figures[m]) for m in names) + " |")
    lines += ["", result["baseline_note"], ""]
    if result.get("psnr_per_frame"):
        curve = ", ".join(f"{value:.2f}" for value in result["psnr_per_frame"])
        lines += [f"PSNR per frame index after training (dB): {curve}.", ""]
    if result.get("showcase_psnr"):
        figures = ", ".join(f"{value:.2f}" for value in result["showcase_psnr"])
        lines += [f"Whole held-out images in showcase.png (original | reconstruction): PSNR {figures} dB.", ""]
    return "\n".join(lines)


def _save_column(images: list[Tensor], path: Path, gap: int = 4) -> None:
    """Stack [3, H, W_i] images of different sizes top to bottom on a white page."""
    from torchvision.utils import save_image

    width = max(image.shape[-1] for image in images)
    height = sum(image.shape[-2] for image in images) + gap * (len(images) - 1)
    page = torch.ones(3, height, width)
    top = 0
    for image in images:
        page[:, top : top + image.shape[-2], : image.shape[-1]] = image
        top += image.shape[-2] + gap
    with atomic_path(path) as tmp:
        save_image(page, tmp, format="png")
