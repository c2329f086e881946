"""``SequenceDataModule``: interleaved token sequences for ``UnifiedTrainer``, resumable exactly.

Training draws from an endless, step-indexed stream (``EndlessSampler``): batch ``s`` depends on ``(seed, s)``
alone and starts at the trainer's step counter, so a resumed run sees the batches the uninterrupted run would
have seen. Each item is asked of the dataset as ``dataset[(index, draw_seed)]``, where the draw seed is a pure
function of the item's stream position: a dataset that draws per item (which task a scene is packed for, whether
a caption is dropped for classifier-free guidance) draws the same on resume and on any number of ranks.

``captioned_sequences`` serves media-with-caption data this way, from memory or from a token corpus that
``omnitok tokenize`` wrote (``omnitok.corpus.TokenCorpus``, read as rows in corpus order, so the same rows give the
same batches whichever source holds them). Each item is drawn as one task:

- generation, caption -> media: ``caption <boi> media tokens <eoi>``; with probability ``caption_dropout`` the
  caption is dropped (an empty prompt), which trains the unconditional branch classifier-free guidance needs;
- understanding, media -> caption: ``<boi> media tokens <eoi> caption``.

A sample without a caption is packed as its media span alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from omnitok.errors import ConfigError
from omnitok.trainers.data import EndlessSampler, make_loader

TASKS = ("generation", "understanding")


class SequenceSampler(EndlessSampler):
    """The step-indexed sampler, yielding ``(index, draw seed)`` pairs so each item's draw depends on its stream
    position alone."""

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        first_step, global_batch = self.start(), self.batch_size * self.world
        for offset, index in enumerate(super().__iter__()):
            step, slot = divmod(offset, self.batch_size)  # this rank's slot in global batch first_step + step
            position = (first_step + step) * global_batch + self.rank * self.batch_size + slot
            yield (index, self.seed * 1_000_003 + position)


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
        self.collate: Any = None  # a batch maker other than vocab.collate, e.g. omnitok.unified.RowPacker (packing)

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
        collate = self.collate or self.vocab.collate
        return make_loader(self.dataset, self.batch_size, self.num_workers, collate, sampler=sampler)


class CorpusRows(Dataset):
    """A ``TokenCorpus`` as a map-style dataset in corpus order (shards by index, rows by key), the same rows on
    every rank: item i -> ``{"tokens": Tensor, "text": str | None, "key": str, ...}`` (the corpus's item)."""

    def __init__(self, corpus: Any) -> None:
        self.corpus, self.rows = corpus, int(corpus.manifest["rows"])

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.corpus[int(index)]


class CaptionedTasks(Dataset):
    """Packs one task per item (see the module docstring) from ``items``: ``{"tokens": [*grid(, Q)], "text": str |
    None}`` for one tokenizer, or ``{"media": {name: tokens}, "text": ...}`` for several (the same caption as an
    image and as speech, say), when each item first draws which medium it trains on from ``media_weights``.
    Index: ``(item, draw seed)``."""

    def __init__(
        self,
        items: Dataset,
        vocab: Any,
        names: str | Sequence[str],
        task_weights: dict[str, float],
        caption_dropout: float,
        media_weights: dict[str, float] | None = None,
    ) -> None:
        self.names = [names] if isinstance(names, str) else list(names)
        self.items, self.vocab, self.caption_dropout = items, vocab, caption_dropout
        self.tasks = [t for t in TASKS if task_weights.get(t, 0.0) > 0]
        self.weights = torch.tensor([float(task_weights[t]) for t in self.tasks])
        self.media_weights = torch.tensor([float((media_weights or {}).get(n, 1.0)) for n in self.names])

    def __len__(self) -> int:
        return len(self.items)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        from omnitok.unified import MediaSpan

        index, draw = key
        item = self.items[index % len(self)]
        generator = torch.Generator().manual_seed(draw)
        if len(self.names) == 1:  # no draw: one medium (the draws of a one-medium stream stay as they were)
            name, tokens = self.names[0], item["tokens"] if "tokens" in item else item["media"][self.names[0]]
        else:
            name = self.names[int(torch.multinomial(self.media_weights, 1, generator=generator))]
            tokens = item["media"][name]
        task = self.tasks[int(torch.multinomial(self.weights, 1, generator=generator))]
        media, text = MediaSpan(name, tokens), item.get("text")
        if text is None:
            return self.vocab.pack([media])
        if task == "generation":
            drop = float(torch.rand((), generator=generator)) < self.caption_dropout
            return self.vocab.pack(([] if drop else [text]) + [media])
        return self.vocab.pack([media, text])


def captioned_sequences(
    items: Any,
    vocab: Any,
    name: str | Sequence[str],
    task_weights: dict[str, float] | None = None,
    caption_dropout: float = 0.1,
    batch_size: int = 32,
    seed: int = 0,
    media_weights: dict[str, float] | None = None,
) -> SequenceDataModule:
    """Caption <-> media task sequences for ``UnifiedTrainer`` (see the module docstring).

    Args:
        items: a ``omnitok.corpus.TokenCorpus``, or any map-style dataset of ``{"tokens", "text"}`` items (one
            tokenizer) or ``{"media": {name: tokens}, "text"}`` items (several).
        vocab: the ``omnitok.unified.SharedVocabulary``; ``name`` its tokenizer (or tokenizers) whose tokens the
            items hold.
        media_weights: with several names, how often each medium is drawn (default: equally).
        task_weights: relative frequency of "generation" and "understanding" items (default 1:1).
        caption_dropout: probability that a generation item drops its caption (classifier-free guidance).
        batch_size, seed: per device; data order and task draws.
    """
    task_weights = dict(task_weights or {"generation": 1.0, "understanding": 1.0})
    unknown = sorted(set(task_weights) - set(TASKS))
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; known: {list(TASKS)}")
    if not any(w > 0 for w in task_weights.values()) or any(w < 0 for w in task_weights.values()):
        raise ConfigError(f"task_weights must be >= 0 with one > 0, got {task_weights}")
    if not 0.0 <= caption_dropout < 1.0:
        raise ConfigError(f"caption_dropout must be in [0, 1), got {caption_dropout}")
    names = [name] if isinstance(name, str) else list(name)
    for each in names:
        if each not in vocab.names:
            raise ConfigError(f"the vocabulary has no tokenizer {each!r}; it has {list(vocab.names)}")
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"name must be one tokenizer or distinct tokenizers, got {name!r}")
    bad = sorted(set(media_weights or {}) - set(names))
    if bad or any(w < 0 for w in (media_weights or {}).values()):
        raise ConfigError(f"media_weights must be >= 0 and name only {names}, got {media_weights}")
    if media_weights and not any(media_weights.get(n, 1.0) > 0 for n in names):
        raise ConfigError(f"media_weights must leave one medium > 0, got {media_weights}")
    if hasattr(items, "manifest"):  # a TokenCorpus: its rows in corpus order
        items = CorpusRows(items)
    dataset = CaptionedTasks(items, vocab, names, task_weights, caption_dropout, media_weights)
    return SequenceDataModule(dataset, vocab, batch_size=batch_size, seed=seed)
