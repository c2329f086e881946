"""``SequenceDataModule``: interleaved token sequences for ``UnifiedTrainer``, resumable exactly.

Training draws from an endless, step-indexed stream (``EndlessSampler``): batch ``s`` depends on ``(seed, s)``
alone and starts at the trainer's step counter, so a resumed run sees the batches the uninterrupted run would
have seen. Each item is asked of the dataset as ``dataset[(index, draw_seed)]``, where the draw seed is a pure
function of the item's stream position: a dataset that draws per item (which task a scene is packed for, whether
a caption is dropped for classifier-free guidance) draws the same on resume and on any number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset

from omnitok.errors import ConfigError
from omnitok.trainers.data import EndlessSampler, make_loader


class SequenceSampler(EndlessSampler):
    """The step-indexed sampler, yielding ``(index, draw seed)`` pairs so each item's draw depends on its stream
    position alone."""

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        position = self.start() * self.batch_size * self.world + self.rank * self.batch_size
        for offset, index in enumerate(super().__iter__()):
            yield (index, self.seed * 1_000_003 + position + offset)


class SequenceDataModule(pl.LightningDataModule):
    """Serves ``dataset`` (items: ``Packed`` sequences, asked for as ``dataset[(index, draw_seed)]``) to
    ``UnifiedTrainer`` in batches collated by the shared vocabulary.

    Args:
        dataset: map-style; ``len(dataset)`` items, each packed by ``vocab``.
        vocab: the ``omnitok.unified.SharedVocabulary`` (its ``collate`` pads and masks a batch).
        batch_size: per device.
        seed: data order and per-item draws.
    """

    def __init__(self, dataset: Dataset, vocab: Any, batch_size: int = 32, seed: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if len(dataset) < 1:  # type: ignore[arg-type]
            raise ConfigError("the sequence dataset is empty")
        self.dataset, self.vocab, self.batch_size, self.seed, self.num_workers = dataset, vocab, batch_size, seed, 0

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = SequenceSampler(
            len(self.dataset),  # type: ignore[arg-type]
            self.batch_size,
            self.seed,
            start=lambda: int(getattr(trainer.lightning_module, "step", 0)) if trainer else 0,
            rank=trainer.global_rank if trainer else 0,
            world=trainer.world_size if trainer else 1,
        )
        return make_loader(self.dataset, self.batch_size, self.num_workers, self.vocab.collate, sampler=sampler)
