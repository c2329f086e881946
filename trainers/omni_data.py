"""``OmniDataModule``: the image, video and audio data modules behind one Lightning DataModule, for joint training of
an :class:`omnitok.models.OmniTokenizer` (:class:`omnitok.trainers.OmniTrainer`).

Sampling rule: **every training step carries one batch of every modality**, each at its own module's batch size.
Step ``s`` holds batch ``s`` of each modality's own endless, step-indexed stream (the streams of
:mod:`omnitok.trainers.data`, seeded by each module's ``seed``), so batch ``s`` depends on ``(seeds, s)`` alone and a
resumed run continues exactly. A modality's batch at step ``s`` is the very batch its data module gives a
single-modality run at step ``s``: an omni run and separate runs built from the same data modules see the same
examples per modality for the same number of steps (the equal-data arm of a comparison).

Training batches are ``{"image": [B_i, 3, H, W], "video": [B_v, 3, T, H, W], "audio": [B_a, C, S], "path": {modality:
[...]}, "skipped": [...]}`` (the modalities present). Validation and held-out batches come one modality at a time,
each as its own module yields it (``{"audio": x, ...}``): ``val_dataloader`` returns one loader per modality.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from omnitok.config import Configurable
from omnitok.errors import ConfigError


class OmniDataModule(pl.LightningDataModule, Configurable):
    """One data module per modality, joined: each training step has a batch of every modality.

    Args:
        image: an :class:`~omnitok.trainers.ImageDataModule` (its batches hold ``"image"``), or None.
        video: a :class:`~omnitok.trainers.VideoDataModule` (``"video"``; no image mixing), or None.
        audio: an :class:`~omnitok.trainers.AudioDataModule` (``"audio"``), or None.

    Each module keeps its own settings (root, size, batch size, seed, workers); its batch size is the modality's
    share of a step. At least one modality is needed.
    """

    def __init__(
        self,
        image: pl.LightningDataModule | None = None,
        video: pl.LightningDataModule | None = None,
        audio: pl.LightningDataModule | None = None,
    ):
        super().__init__()
        parts = {
            name: part for name, part in (("image", image), ("video", video), ("audio", audio)) if part is not None
        }
        if not parts:
            raise ConfigError("OmniDataModule needs at least one of image, video, audio")
        for name, part in parts.items():
            if not isinstance(part, pl.LightningDataModule):
                raise ConfigError(f"OmniDataModule.{name} must be a LightningDataModule, got {type(part).__name__}")
        if getattr(video, "image_every", 0):
            raise ConfigError("OmniDataModule.video: image mixing (image_every) is the image branch's job here; set 0")
        self.parts: dict[str, pl.LightningDataModule] = parts

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.parts)

    @property
    def test_data(self) -> dict[str, Any] | None:
        """Each modality's held-out set (None where a modality has none; None when no modality has one)."""
        held = {name: getattr(part, "test_data", None) for name, part in self.parts.items()}
        return held if any(v is not None for v in held.values()) else None

    def _attach(self) -> None:
        """Each module's step-indexed sampler reads the step from its trainer: give them this module's trainer."""
        for part in self.parts.values():
            part.trainer = self.trainer

    def prepare_data(self) -> None:
        for part in self.parts.values():
            part.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self._attach()
        for part in self.parts.values():
            part.setup(stage)

    def train_dataloader(self) -> JointBatches:
        self._attach()
        return JointBatches({name: part.train_dataloader() for name, part in self.parts.items()})

    def val_dataloader(self) -> list[DataLoader]:
        """One loader per modality that has validation data, in :attr:`modalities` order."""
        self._attach()
        loaders = [part.val_dataloader() for part in self.parts.values()]
        return [loader for loader in loaders if not isinstance(loader, list)]

    def test_dataloaders(self) -> dict[str, Any]:
        """modality -> its held-out loader (the held-out report of an omni run reads each)."""
        self._attach()
        return {name: part.test_dataloader() for name, part in self.parts.items()}

    def test_dataloader(self) -> list[DataLoader]:
        return [loader for loader in self.test_dataloaders().values() if not isinstance(loader, list)]

    def state_dict(self) -> dict[str, Any]:
        """Each module's loader position (packed shards; empty for step-indexed data, whose position is the step)."""
        return {name: part.state_dict() for name, part in self.parts.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for name, part in self.parts.items():
            if name in state_dict:
                part.load_state_dict(state_dict[name])

    def describe(self) -> str:
        return "; ".join(f"{name}: {part.describe()}" for name, part in self.parts.items() if hasattr(part, "describe"))


class JointBatches:
    """The training loader of an omni run: the modalities' endless loaders advanced together, one batch of each per
    step, merged into one dict (see the module docstring)."""

    def __init__(self, loaders: dict[str, Any]):
        self.loaders = loaders

    def __iter__(self) -> Iterator[dict[str, Any]]:
        streams = {name: iter(loader) for name, loader in self.loaders.items()}
        while True:
            batch: dict[str, Any] = {"path": {}, "skipped": []}
            for name, stream in streams.items():
                try:
                    part = next(stream)
                except StopIteration:  # a finite loader (packed shards at the end of an epoch): the run stops here
                    return
                batch[name] = part[name]
                batch["path"][name] = part.get("path", [])
                batch["skipped"].extend(part.get("skipped", []))
            yield batch
