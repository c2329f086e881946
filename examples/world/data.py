"""The captioned world's data: scenes as image samples for its tokenizer, task sequences for the Transformer.

``WorldImageDataModule`` serves world scenes as image samples, so the generic ``TokenizerTrainer`` trains the
world's image tokenizer exactly as it trains any image tokenizer.

``world_sequences`` builds the Transformer's data with the library's ``captioned_sequences`` (caption -> image
and image -> caption tasks, and with spoken captions caption -> speech and speech -> caption, drawn per item from a seed that is a pure function of the stream position): each
training scene is encoded once by the (frozen) image tokenizer, in memory (``EncodedScenes``) or by ``omnitok
tokenize`` into a token corpus (``write_scene_files`` lays the scenes out as PNGs with caption sidecars for it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from examples.world.scenes import World, WorldScenes
from omnitok.config import Configurable
from omnitok.errors import ConfigError
from omnitok.trainers.data import EpochIndexed, make_loader, step_indexed_sampler
from omnitok.trainers.unified_data import SequenceDataModule, captioned_sequences


class WorldImageDataModule(pl.LightningDataModule, Configurable):
    """World scenes as image samples ``{"image": [3, S, S] in [-1, 1], "path": str}`` (see ``WorldScenes``).

    Args:
        world: the scene generator (size, held-out combinations, seed).
        train_scenes, val_scenes, test_scenes: scenes rendered per split (val: monitoring; test: held-out report).
        batch_size: per device.
        seed: data order.
    """

    def __init__(
        self,
        world: World | None = None,
        train_scenes: int = 4096,
        val_scenes: int = 64,
        test_scenes: int = 256,
        batch_size: int = 16,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if min(train_scenes, val_scenes, test_scenes, batch_size) < 1:
            raise ConfigError("WorldImageDataModule needs train/val/test scenes and batch_size >= 1")
        self.world = world if world is not None else World()
        self.train_scenes, self.val_scenes, self.test_scenes = train_scenes, val_scenes, test_scenes
        self.batch_size, self.seed, self.num_workers = batch_size, seed, 0
        self.train_data: Any = None
        self.val_data: Any = None
        self.test_data: Any = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is None:
            self.train_data = WorldScenes(self.world, "train", self.train_scenes)
            self.val_data = WorldScenes(self.world, "val", self.val_scenes)
            self.test_data = WorldScenes(self.world, "test", self.test_scenes)

    def _loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        from omnitok.data import collate_images

        images_only = lambda samples: collate_images([{"image": s["image"], "path": s["path"]} for s in samples])
        return make_loader(dataset, self.batch_size, self.num_workers, images_only, **kwargs)

    def train_dataloader(self) -> DataLoader:
        return self._loader(EpochIndexed(self.train_data), sampler=step_indexed_sampler(self, len(self.train_data)))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_data)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_data)

    def describe(self) -> str:
        return (
            f"{self.world.describe()}; scenes train/val/test {self.train_scenes}/{self.val_scenes}/{self.test_scenes}"
        )


class EncodedScenes(Dataset):
    """Scenes with their image tokens: item i -> ``{"text": caption, "tokens": LongTensor [*grid], "labels": [3]}``."""

    def __init__(self, scenes: WorldScenes, tokens: Tensor) -> None:
        if tokens.shape[0] != len(scenes):
            raise ConfigError(f"{tokens.shape[0]} token grids for {len(scenes)} scenes")
        self.scenes, self.tokens = scenes, tokens

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        return {
            "text": self.scenes.scenes[index].caption,
            "tokens": self.tokens[index],
            "labels": self.scenes.labels[index],
        }


class EncodedSpokenScenes(Dataset):
    """Scenes with their image tokens and the speech tokens of their spoken captions: item i -> ``{"text": caption,
    "media": {"image": LongTensor [*grid], "speech": LongTensor [frames(, levels)]}, "labels": [3]}``."""

    def __init__(self, scenes: EncodedScenes, speech_tokens: Tensor, image_name: str, speech_name: str) -> None:
        if speech_tokens.shape[0] != len(scenes):
            raise ConfigError(f"{speech_tokens.shape[0]} spoken captions for {len(scenes)} scenes")
        self.scenes, self.speech_tokens, self.names = scenes, speech_tokens, (image_name, speech_name)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        item = self.scenes[index]
        image, speech = self.names
        return {
            "text": item["text"],
            "media": {image: item["tokens"], speech: self.speech_tokens[index]},
            "labels": item["labels"],
        }


def write_scene_files(scenes: WorldScenes, folder: Path) -> Path:
    """Each scene as ``NNNNNN.png`` with its caption in ``NNNNNN.txt`` (the sidecar ``omnitok tokenize`` reads), so
    the corpus rows (sorted by key) come in scene order. Returns ``folder``."""
    from torchvision.io import write_png

    folder.mkdir(parents=True, exist_ok=True)
    for index, scene in enumerate(scenes.scenes):
        write_png(scenes.images[index], str(folder / f"{index:06d}.png"))
        (folder / f"{index:06d}.txt").write_text(scene.caption + "\n", encoding="utf-8")
    return folder


@torch.no_grad()
def encode_scenes(tokenizer: Any, scenes: WorldScenes, batch_size: int = 256) -> Tensor:
    """Encode every scene image with ``tokenizer`` (any object with ``encode``): LongTensor [N, *grid(, Q)]."""
    chunks = [
        tokenizer.encode(scenes.images[i : i + batch_size].float() / 127.5 - 1)
        for i in range(0, len(scenes), batch_size)
    ]
    return torch.cat(chunks).long().cpu()


def world_sequences(
    encoded: Any,
    vocab: Any,
    names: str | list[str] = "image",
    task_weights: dict[str, float] | None = None,
    caption_dropout: float = 0.1,
    batch_size: int = 32,
    seed: int = 0,
    media_weights: dict[str, float] | None = None,
) -> SequenceDataModule:
    """Interleaved world sequences for ``UnifiedTrainer`` (built by the world run, not from YAML: it needs the
    trained tokenizer and the shared vocabulary): the library's caption <-> media tasks over the training scenes.

    Args:
        encoded: training scenes with their tokens (``EncodedScenes``), or the token corpus ``omnitok tokenize``
            wrote from them (``omnitok.corpus.TokenCorpus``; same rows, same order, same batches), or scenes with
            their spoken captions' tokens as well (``EncodedSpokenScenes``).
        vocab: the ``omnitok.unified.SharedVocabulary``.
        names: the image tokenizer's name in the vocabulary, or the image and speech tokenizers' names.
        media_weights: with image and speech, how often each item trains on each (default: equally).
        task_weights: relative frequency of "generation" and "understanding" items.
        caption_dropout: probability that a generation item drops its caption (CFG training).
        batch_size, seed: per device; data order and task draws.
    """
    return captioned_sequences(encoded, vocab, names, task_weights, caption_dropout, batch_size, seed, media_weights)
