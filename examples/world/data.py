"""The captioned world's data: scenes as image samples for its tokenizer, task sequences for the Transformer.

``WorldImageDataModule`` serves world scenes as image samples, so the generic ``TokenizerTrainer`` trains the
world's image tokenizer exactly as it trains any image tokenizer.

``world_sequences`` builds the Transformer's data on the library's ``SequenceDataModule``: each training scene is
encoded once by the (frozen) image tokenizer, and every item is drawn as one task from its draw seed (a pure
function of the stream position, so a resumed run sees the same batches):

- generation, caption -> image: ``caption <boi> image tokens <eoi>``; with probability ``caption_dropout`` the
  caption is dropped (an empty prompt), which trains the unconditional branch classifier-free guidance needs;
- understanding, image -> caption: ``<boi> image tokens <eoi> caption``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from examples.world.scenes import World, WorldScenes
from omnitok.config import Configurable
from omnitok.errors import ConfigError
from omnitok.trainers.data import EpochIndexed, make_loader, step_indexed_sampler
from omnitok.trainers.unified_data import SequenceDataModule

TASKS = ("generation", "understanding")


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
    """Scenes with their image tokens: item i -> ``{"caption": str, "tokens": LongTensor [*grid], "labels": [3]}``."""

    def __init__(self, scenes: WorldScenes, tokens: Tensor) -> None:
        if tokens.shape[0] != len(scenes):
            raise ConfigError(f"{tokens.shape[0]} token grids for {len(scenes)} scenes")
        self.scenes, self.tokens = scenes, tokens

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        return {
            "caption": self.scenes.scenes[index].caption,
            "tokens": self.tokens[index],
            "labels": self.scenes.labels[index],
        }


@torch.no_grad()
def encode_scenes(tokenizer: Any, scenes: WorldScenes, batch_size: int = 256) -> Tensor:
    """Encode every scene image with ``tokenizer`` (any object with ``encode``): LongTensor [N, *grid(, Q)]."""
    chunks = [
        tokenizer.encode(scenes.images[i : i + batch_size].float() / 127.5 - 1)
        for i in range(0, len(scenes), batch_size)
    ]
    return torch.cat(chunks).long().cpu()


class TaskSequences(Dataset):
    """Packs one task per item from ``EncodedScenes`` (see the module docstring). Index: ``(scene, draw seed)``."""

    def __init__(
        self,
        encoded: EncodedScenes,
        vocab: Any,
        image_name: str,
        task_weights: dict[str, float],
        caption_dropout: float,
    ):
        self.encoded, self.vocab, self.image_name = encoded, vocab, image_name
        self.caption_dropout = caption_dropout
        self.tasks = [t for t in TASKS if task_weights.get(t, 0.0) > 0]
        self.weights = torch.tensor([float(task_weights[t]) for t in self.tasks])

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        from omnitok.unified import MediaSpan

        epoch_index, draw = key
        item = self.encoded[epoch_index % len(self.encoded)]
        generator = torch.Generator().manual_seed(draw)
        task = self.tasks[int(torch.multinomial(self.weights, 1, generator=generator))]
        image = MediaSpan(self.image_name, item["tokens"])
        if task == "generation":
            drop = float(torch.rand((), generator=generator)) < self.caption_dropout
            return self.vocab.pack(([] if drop else [item["caption"]]) + [image])
        return self.vocab.pack([image, item["caption"]])



def world_sequences(
    encoded: EncodedScenes,
    vocab: Any,
    image_name: str = "image",
    task_weights: dict[str, float] | None = None,
    caption_dropout: float = 0.1,
    batch_size: int = 32,
    seed: int = 0,
) -> SequenceDataModule:
    """Interleaved world sequences for ``UnifiedTrainer`` (built by the world run, not from YAML: it needs the
    trained tokenizer and the shared vocabulary).

    Args:
        encoded: training scenes with their tokens.
        vocab: the ``omnitok.unified.SharedVocabulary``.
        image_name: the image tokenizer's name in the vocabulary.
        task_weights: relative frequency of "generation" and "understanding" items.
        caption_dropout: probability that a generation item drops its caption (CFG training).
        batch_size, seed: per device; data order and task draws.
    """
    task_weights = dict(task_weights or {"generation": 1.0, "understanding": 1.0})
    unknown = sorted(set(task_weights) - set(TASKS))
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; the world has {list(TASKS)}")
    if not any(w > 0 for w in task_weights.values()) or any(w < 0 for w in task_weights.values()):
        raise ConfigError(f"task_weights must be >= 0 with one > 0, got {task_weights}")
    if not 0.0 <= caption_dropout < 1.0:
        raise ConfigError(f"caption_dropout must be in [0, 1), got {caption_dropout}")
    dataset = TaskSequences(encoded, vocab, image_name, task_weights, caption_dropout)
    return SequenceDataModule(dataset, vocab, batch_size=batch_size, seed=seed)
