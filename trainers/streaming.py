"""Training data streamed from litdata optimized shards (written by ``omnitok data pack``; see
:mod:`omnitok.trainers.packing`), for the image, video and audio data modules.

- Training: :class:`PackedSamples` (a ``litdata.StreamingDataset``) read through :class:`ResumableLoader` (a
  ``litdata.StreamingDataLoader``). litdata streams the chunks (downloading them from object storage into its cache),
  shuffles chunks and samples each epoch from ``seed`` and the epoch, and deals them to distributed ranks and
  DataLoader workers; ``drop_last`` gives every rank the same number of batches, so epoch ends (Lightning starts the
  next epoch, litdata reshuffles) never leave a rank waiting. Random crops and offsets depend on ``(seed, epoch,
  key)`` only.
- Resuming: the loader's ``state_dict()`` is litdata's state after the batches the model has trained on (the
  module's ``step``), not after those Lightning has prefetched; the data module saves it in checkpoints and loads it
  back, so a resumed run continues with exactly the batches the uninterrupted run would have seen.
- Validation and held-out data: :class:`PackedFiles`, the first samples in stored order, center-cropped, the same
  on every rank (the evaluation is split across ranks by whole batches, ``omnitok.trainers.rank_split``).

Each sample's bytes are decoded with the folder readers (:mod:`omnitok.data`), so the media checks are the same;
an unreadable sample becomes a failure sample that training skips and counts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from litdata import StreamingDataLoader, StreamingDataset
from torch.utils.data import Dataset

from omnitok.data.images import error_reason, mix_seed
from omnitok.errors import DataError

Decoder = Callable[[str, str, bytes, int], dict]
"""``(sample name, key, encoded file bytes, epoch) -> sample dict`` (a failure sample when the bytes are unusable);
the name is ``"{root}/{key}"``, random crops and offsets are drawn from ``(seed, epoch, key)``, so they do not
change when the shards move (a local folder, object storage)."""


class PackedSamples(StreamingDataset):
    """A litdata ``StreamingDataset`` of packed files whose items are decoded training samples.

    Args:
        root: a packed folder, or its ``s3://`` / ``gs://`` URL.
        decode: turns ``(name, key, bytes, epoch)`` into a sample (:data:`Decoder`).
        shuffle: shuffle chunks and samples each epoch (training).
        seed: litdata's shuffle seed (the crops take theirs from the decoder).
        drop_last: drop samples so every rank and worker yields the same number (training).
    """

    def __init__(self, root: str, decode: Decoder, shuffle: bool, seed: int, drop_last: bool) -> None:
        try:
            super().__init__(str(root), shuffle=shuffle, seed=seed, drop_last=drop_last)
        except (FileNotFoundError, ValueError) as err:
            raise DataError(f"cannot read packed shards at {root}: {err}") from None
        self.root, self.decode = str(root).rstrip("/"), decode

    def __getitem__(self, index: Any) -> dict:
        item = super().__getitem__(index)
        key = str(item["key"])
        return self.decode(f"{self.root}/{key}", key, bytes(item["data"]), int(self.current_epoch))


class PackedFiles(Dataset):
    """Map-style view of the first ``limit`` samples of a packed folder, in stored order, decoded at epoch 0: the
    same items on every rank (validation and held-out scoring)."""

    def __init__(self, root: str, decode: Decoder, limit: int | None = None) -> None:
        self.samples = PackedSamples(root, decode, shuffle=False, seed=0, drop_last=False)
        self.samples.current_epoch = 0
        # whole chunks into litdata's cache, not one ranged GET per item: validation reads the same items every round,
        # and litdata 0.2.76's ranged read of a remote chunk written with an Arrow footer (pyarrow installed) returned
        # no bytes (the setter needs an open cache; this is the value litdata builds the cache with)
        self.samples._on_demand_bytes = False
        self.samples[0]  # opens litdata's cache (downloads index.json and the first chunk of a remote folder)
        total = len(self.samples.cache)  # every sample, whatever this process's rank
        self.length = total if limit is None else min(limit, total)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.samples[range(self.length)[index]]


class ResumableLoader(StreamingDataLoader):
    """A ``StreamingDataLoader`` whose ``state_dict()`` is its state after ``consumed()`` batches (the batches the
    model trained on), whatever it has prefetched beyond them; ``consumed`` returning None means every batch yielded.

    The state is ``{"batches", "current_epoch", "in_epoch"}`` plus litdata's own state (``"litdata"``) when it falls
    inside an epoch; at an epoch end the next iteration starts the next epoch afresh.
    """

    def __init__(self, dataset: StreamingDataset, consumed: Callable[[], int | None], **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.consumed = consumed
        self.batches = 0  # batches yielded over the run, restored with the state
        self.in_epoch = 0  # batches yielded in the current epoch
        self.resuming = False
        self.epoch_batches = 0  # batches in the current epoch (len(self), computed once per epoch)
        self.states: dict[int, dict[str, Any]] = {0: self._state()}

    def _state(self) -> dict[str, Any]:
        state = {"batches": self.batches, "current_epoch": int(self.current_epoch), "in_epoch": self.in_epoch}
        if 0 < self.in_epoch < self.epoch_batches:
            state["litdata"] = super().state_dict()
        return state

    def __iter__(self) -> Any:
        if not self.resuming:
            self.in_epoch = 0
            # litdata clears its restore flag only when an epoch runs to StopIteration; Lightning ends an epoch after
            # len(loader) batches without asking for more, so a restored loader would replay its restored epoch
            self.restore = False
        self.resuming = False
        self.epoch_batches = len(self)
        for batch in super().__iter__():
            self.batches += 1
            self.in_epoch += 1
            self.states[self.batches] = self._state()
            self.states.pop(self.batches - 64, None)  # Lightning prefetches a batch or two, never 64
            yield batch

    def state_dict(self) -> dict[str, Any]:
        wanted = self.consumed()
        wanted = self.batches if wanted is None else int(wanted)
        if wanted not in self.states:
            raise RuntimeError(f"no data-loader state after {wanted} batches (kept: {sorted(self.states)})")
        return self.states[wanted]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches, self.in_epoch = int(state["batches"]), int(state["in_epoch"])
        self.states = {self.batches: state}
        if "litdata" in state:
            super().load_state_dict(state["litdata"])
            self.resuming = True
        else:  # at an epoch end (or the start): the next iteration begins epoch current_epoch + 1
            self.current_epoch = int(state["current_epoch"])
            self.resuming = False


def train_loader(
    root: str,
    decode: Decoder,
    batch_size: int,
    num_workers: int,
    collate_fn: Callable,
    seed: int,
    consumed: Callable[[], int | None],
) -> ResumableLoader:
    """The training loader of a packed root (module docstring); DataError when a rank would get no full batch."""
    dataset = PackedSamples(root, decode, shuffle=True, seed=seed, drop_last=True)
    loader = ResumableLoader(
        dataset,
        consumed,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate_fn,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
    )
    if len(loader) == 0:
        world = dataset.distributed_env.world_size
        raise DataError(
            f"{root} holds {len(dataset.cache) if dataset.cache else 'too few'} samples: not one batch of "
            f"{batch_size} per process ({world} process(es), {max(1, num_workers)} worker(s) each)"
        )
    return loader


class ImageBytes:
    """Decoder of packed images: the folder reader's decode, resize and crop."""

    def __init__(self, size: int, crop: str, seed: int) -> None:
        self.size, self.crop, self.seed = size, crop, seed

    def __call__(self, name: str, key: str, data: bytes, epoch: int) -> dict:
        from omnitok.data.images import decode_image_bytes, failure_sample, resize_and_crop

        try:
            image = decode_image_bytes(data, name, self.size)
        except DataError as err:
            return failure_sample(name, error_reason(err, name))
        generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch, key)) if self.crop == "random" else None
        return {"image": resize_and_crop(image, self.size, self.crop, generator), "path": name}  # type: ignore[arg-type]


class FileBytes:
    """Decoder of packed files whose readers take a path (video, audio): the bytes go to a temporary file that the
    folder dataset's ``sample(path, generator)`` reads."""

    def __init__(self, dataset: Any, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __call__(self, name: str, key: str, data: bytes, epoch: int) -> dict:
        suffix = PurePosixPath(key).suffix
        fd, tmp = tempfile.mkstemp(prefix="omnitok-packed-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            sample = self.dataset.sample(tmp, torch.Generator().manual_seed(mix_seed(self.seed, epoch, key)))
        finally:
            Path(tmp).unlink(missing_ok=True)
        sample["path"] = name
        if "error" in sample:
            sample["error"] = sample["error"].replace(tmp, name)
        return sample
