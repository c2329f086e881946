"""Checkpoints through Lightning's own machinery: ``ModelCheckpoint`` decides when (every n steps, rolling
``last.ckpt``, permanent ``step_XXXXXXX.ckpt`` copies, the end of training: :class:`FinalStepCheckpoint`), and :class:`AtomicCheckpointIO`, a
Lightning ``CheckpointIO`` plugin, decides how a file is written.

Lightning's own writer (``TorchCheckpointIO``, through fsspec's local transaction) stages the file in the system
temporary folder and moves it into place without ``fsync``: across file systems (``/tmp`` on local disk, runs on
network storage) the move is a copy, so a job killed during it leaves a truncated ``last.ckpt``, and large
checkpoints fill ``/tmp`` (tested in ``tests/trainers/test_checkpointing.py``). :class:`AtomicCheckpointIO` writes
beside the target, fsyncs and renames, so a checkpoint is either the old file or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from omnitok.utils import atomic_path

LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside its target, fsyncs it and renames it into place."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        with atomic_path(Path(path)) as tmp:
            torch.save(checkpoint, tmp)


class FinalStepCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint``, whose ``last.ckpt`` also holds the final step.

    ``ModelCheckpoint.on_train_end`` writes ``last.ckpt`` only when no checkpoint was written during the run, so a
    run whose ``max_steps`` is not a multiple of ``every_n_train_steps`` would end with ``last.ckpt`` behind its
    last step (and a resume would redo those steps). Here it is written whenever the last save was at another step.
    """

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def checkpoint_callbacks(folder: Path, every: int, keep_every: int) -> list[ModelCheckpoint]:
    """``last.ckpt`` rewritten every ``every`` steps and at the end of training; with ``keep_every`` > 0, also a
    permanent ``step_XXXXXXX.ckpt`` at those multiples. Steps are batches (see ``TokenizerTrainer``)."""
    rolling = FinalStepCheckpoint(
        dirpath=folder,
        every_n_train_steps=every,
        save_top_k=0,
        save_last=True,
        enable_version_counter=False,  # always the same last.ckpt, also for runs started before this callback
    )
    if not keep_every:
        return [rolling]
    kept = ModelCheckpoint(
        dirpath=folder,
        filename="step_{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=keep_every,
        save_top_k=-1,
        enable_version_counter=False,
    )
    return [rolling, kept]


__all__ = ["LAST", "AtomicCheckpointIO", "FinalStepCheckpoint", "checkpoint_callbacks"]
