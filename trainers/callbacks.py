"""Callbacks: atomic rolling checkpoints, and the held-out before/after evaluation every run ends with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from torch import Tensor

from omnitok.metrics import (
    budget_pixels,
    mean_colour_baseline,
    mean_image_baseline,
    psnr,
    resample_baseline,
    to_unit_range,
)
from omnitok.utils import atomic_path

LAST = "last.ckpt"


class RollingCheckpoint(pl.Callback):
    """Writes ``<run>/checkpoints/last.ckpt`` every ``every`` steps and at the end, atomically (temp + rename), so
    an interrupted run loses at most ``every`` steps and never leaves a half-written checkpoint. With
    ``keep_every`` > 0 a permanent ``step_XXXXXXX.ckpt`` is kept at those multiples."""

    def __init__(self, folder: str | Path, every: int = 500, keep_every: int = 0):
        self.folder, self.every, self.keep_every = Path(folder), every, keep_every

    def _save(self, trainer: pl.Trainer, name: str) -> None:
        path = self.folder / name
        tmp = path.with_name(f".{name}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # full training state; every rank calls, rank zero writes
        if trainer.is_global_zero:
            if tmp.is_file():
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())  # on disk before the rename makes it visible
            os.replace(tmp, path)
        trainer.strategy.barrier("omnitok-checkpoint")

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = module.step
        if self.every and step % self.every == 0:
            self._save(trainer, LAST)
        if self.keep_every and step % self.keep_every == 0:
            self._save(trainer, f"step_{step:07d}.ckpt")

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        self._save(trainer, LAST)


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


class HeldOutEvaluation(pl.Callback):
    """Measures PSNR on the held-out data before training and after it, next to trivial baselines.

    Writes ``<run>/heldout.json`` and ``<run>/heldout.md`` (before / after / baselines: per-image mean colour, the
    held-out mean image, and resampling at the tokens' information budget, see ``omnitok.metrics.baselines``) and
    ``<run>/reconstructions.png`` (originals, reconstructions, absolute error) and ``<run>/showcase.png`` (a few
    whole held-out images, original beside reconstruction, when the data offers them).
    """

    def __init__(self, folder: str | Path, max_samples: int = 256):
        self.folder, self.max_samples = Path(folder), max_samples

    @torch.no_grad()
    def _measure(self, module: Any, data: Any) -> dict[str, Any]:
        model = module.inference_model
        was_training = model.training
        model.eval()
        originals, reconstructions = [], []
        seen = 0
        for batch in data.test_dataloader():
            x = batch["image"][: self.max_samples - seen].to(module.device)
            if x.shape[0]:
                originals.append(x.cpu())
                reconstructions.append(model(x).reconstruction.float().cpu())
                seen += x.shape[0]
            if seen >= self.max_samples:
                break
        model.train(was_training)
        x, x_hat = torch.cat(originals), torch.cat(reconstructions)
        return {"x": x, "x_hat": x_hat, "psnr": _mean_psnr(x_hat, x), "samples": seen}

    @torch.no_grad()
    def _showcase(self, module: Any, data: Any) -> list[float]:
        """Reconstruct a few whole held-out images (larger than the training crops) into showcase.png."""
        images = data.showcase_images() if hasattr(data, "showcase_images") else []
        if not images:
            return []
        model = module.inference_model
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
        before = self.folder / "heldout_before.json"
        if not trainer.is_global_zero or before.exists() or not _has_test_data(trainer):
            return
        figures = self._measure(module, trainer.datamodule)
        with atomic_path(before) as tmp:
            tmp.write_text(json.dumps({"step": module.step, "psnr": figures["psnr"]}))

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        if not trainer.is_global_zero or not _has_test_data(trainer):
            return
        after = self._measure(module, trainer.datamodule)
        x, x_hat = after["x"], after["x_hat"]
        spec = module.tokenizer.spec
        pixels = budget_pixels(spec, tuple(x.shape[-2:]))
        before_path = self.folder / "heldout_before.json"
        before = json.loads(before_path.read_text()) if before_path.exists() else {}
        result = {
            "samples": after["samples"],
            "resolution": list(x.shape[-2:]),
            "step": module.step,
            "psnr_before": before.get("psnr"),
            "psnr_after": after["psnr"],
            "baselines": {
                "mean_colour": _mean_psnr(mean_colour_baseline(x), x),
                "mean_image": _mean_psnr(mean_image_baseline(x), x),
                f"resample_{pixels}px": _mean_psnr(resample_baseline(x, pixels), x),
            },
            "budget_pixels": pixels,
            "skipped_files": len(module.skipped_files),
        }
        result["showcase_psnr"] = self._showcase(module, trainer.datamodule)
        with atomic_path(self.folder / "heldout.json") as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        with atomic_path(self.folder / "heldout.md") as tmp:
            tmp.write_text(_markdown(result))
        _save_comparison(x, x_hat, self.folder / "reconstructions.png")


def _has_test_data(trainer: pl.Trainer) -> bool:
    data = trainer.datamodule
    return data is not None and getattr(data, "test_data", None) is not None


def _mean_psnr(x_hat: Tensor, x: Tensor) -> float:
    return float(psnr(to_unit_range(x_hat), to_unit_range(x)).mean())


def _markdown(result: dict[str, Any]) -> str:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        f"# Held-out reconstruction ({result['samples']} images, {result['resolution'][0]}x{result['resolution'][1]})",
        "",
        "| reconstruction | PSNR (dB) |",
        "|---|---|",
        f"| tokenizer before training | {fmt(result['psnr_before'])} |",
        f"| tokenizer after {result['step']} steps | **{fmt(result['psnr_after'])}** |",
    ]
    for name, value in result["baselines"].items():
        lines.append(f"| baseline: {name.replace('_', ' ')} | {fmt(value)} |")
    lines += [
        "",
        (
            f"The resampling baseline keeps {result['budget_pixels']} RGB pixels per image, the information the "
            "tokens carry (bits / 24 for discrete tokens, latent scalars / 3 for continuous ones)."
        ),
        "",
    ]
    if result.get("showcase_psnr"):
        figures = ", ".join(f"{value:.2f}" for value in result["showcase_psnr"])
        lines += [f"Whole held-out images in showcase.png (original | reconstruction): PSNR {figures} dB.", ""]
    return "\n".join(lines)


def _save_comparison(x: Tensor, x_hat: Tensor, path: Path, count: int = 8) -> None:
    from torchvision.utils import make_grid, save_image

    count = min(count, x.shape[0])
    original, recon = to_unit_range(x[:count]), to_unit_range(x_hat[:count])
    error = (original - recon).abs().mean(1, keepdim=True).mul(4).clamp(0, 1).expand_as(original)
    grid = make_grid(torch.cat([original, recon, error]), nrow=count, padding=2, pad_value=1.0)
    with atomic_path(path) as tmp:
        save_image(grid, tmp, format="png")


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
