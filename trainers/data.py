"""``ImageDataModule``: image folders, packed shards or the built-in images, behind one Lightning DataModule.

Map-style training data (folders, built-in) is drawn from an endless stream of per-epoch permutations seeded by
``seed``; batch ``s`` of the stream depends on ``s`` alone, and the stream starts at the trainer's own step
counter, so a resumed run sees exactly the batches the uninterrupted run would have seen.

Packed shards (``omnitok data pack``: a local folder holding litdata's ``index.json``, or an ``s3://`` / ``gs://``
URL) are streamed with litdata (:mod:`omnitok.trainers.streaming`, the ``scale`` extra): shuffled per epoch from
``seed``, split across ranks and workers by litdata, and resumed exactly from the loader state the module saves in
checkpoints (``state_dict`` / ``load_state_dict``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms.v2.functional import resize

from omnitok.config import Configurable
from omnitok.errors import ConfigError, DataError

BUILTIN = "builtin"
PACKED = "packed"


class EndlessSampler(Sampler[int]):
    """Yields this rank's share of an endless stream of epoch permutations, from batch ``start()`` on.

    Stream position ``k`` holds ``epoch * n + perm_epoch[k % n]`` with ``epoch = k // n``; global batch ``s`` is
    positions ``[s*B*W, (s+1)*B*W)`` and rank ``r`` takes its ``r``-th slice of ``B``.
    """

    def __init__(self, size: int, batch_size: int, seed: int, start: Callable[[], int], rank: int = 0, world: int = 1):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start, self.rank, self.world = start, rank, world

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))

    def __iter__(self) -> Iterator[int]:
        global_batch = self.batch_size * self.world
        step = self.start()
        epoch, perm = -1, None
        while True:
            first = step * global_batch + self.rank * self.batch_size
            for k in range(first, first + self.batch_size):
                if k // self.size != epoch:
                    epoch = k // self.size
                    perm = self._permutation(epoch)
                yield epoch * self.size + int(perm[k % self.size])
            step += 1


class EpochIndexed(Dataset):
    """Index ``epoch * n + i`` -> item ``i`` of a dataset put in epoch ``epoch`` (its random crops depend on it)."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        epoch, item = divmod(index, len(self.dataset))
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[item]


class PackedStream:
    """A data module's streaming training loader over packed shards and the position it resumes from: the module's
    ``state_dict`` / ``load_state_dict`` hooks (which Lightning saves in and restores from checkpoints) go through it.
    """

    def __init__(self) -> None:
        self.loader: Any = None
        self.pending: dict | None = None

    def train_loader(self, module: pl.LightningDataModule, root: str, decode: Any, collate_fn: Any) -> DataLoader:
        """A fresh loader over ``root`` (litdata), moved to the saved position if a checkpoint was loaded."""
        from omnitok.trainers.streaming import train_loader

        trainer = module.trainer
        loader = train_loader(
            root,
            decode,
            module.batch_size,
            module.num_workers,
            collate_fn,
            module.seed,
            consumed=lambda: int(getattr(trainer.lightning_module, "step", 0)) if trainer else None,
        )
        if self.pending is not None:
            loader.load_state_dict(self.pending)
            self.pending = None
        self.loader = loader
        return loader

    def state_dict(self) -> dict[str, Any]:
        if self.loader is not None:
            return {"train_loader": self.loader.state_dict()}
        return {"train_loader": self.pending} if self.pending is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending = state.get("train_loader")


def is_packed(root: str | None) -> bool:
    """Whether ``root`` names packed shards: an object-store URL (``s3://``, ``gs://``, ...) or a local folder holding
    litdata's ``index.json`` (written last, so a half-written folder is not taken for shards)."""
    if root is None:
        return False
    return "://" in str(root) or (Path(root) / "index.json").is_file()


class ImageDataModule(pl.LightningDataModule, Configurable):
    """Images for tokenizer training.

    Args:
        root: ``"builtin"`` (scikit-image photos + procedural scenes, no download), a folder searched recursively
            for jpg/png/webp, or packed shards (``omnitok data pack``): their folder or ``s3://`` / ``gs://`` URL.
        size: square training resolution (shorter side resized, then cropped).
        batch_size: per device.
        num_workers: DataLoader worker processes.
        val_fraction: folders only: share of files held out (a stable split by path hash); packed shards hold out
            nothing (give ``val_root``).
        val_root: a separate validation folder or packed shards (then ``val_fraction`` is unused); packed
            validation data is its first ``max_val_samples`` samples, center-cropped.
        max_val_samples: cap on validation images per round.
        crop: training crop; validation and held-out data are always center-cropped.
        seed: data order and crops.
        builtin_scale: built-in only: photo scale before tiling (smaller = coarser content per tile).
    """

    def __init__(
        self,
        root: str = BUILTIN,
        size: int = 256,
        batch_size: int = 16,
        num_workers: int = 4,
        val_fraction: float = 0.01,
        val_root: str | None = None,
        max_val_samples: int = 256,
        crop: Literal["random", "center"] = "random",
        seed: int = 0,
        builtin_scale: float = 0.5,
    ):
        super().__init__()
        if crop not in ("random", "center"):
            raise ConfigError(f"crop must be 'random' or 'center', got {crop!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
        self.root, self.size, self.batch_size, self.num_workers = str(root), size, batch_size, num_workers
        self.val_fraction, self.val_root, self.max_val_samples = val_fraction, val_root, max_val_samples
        self.crop, self.seed, self.builtin_scale = crop, seed, builtin_scale
        self.kind = _kind(self.root)
        self.stream = PackedStream()
        self.train_data: Any = None
        self.val_data: Any = None
        self.test_data: Any = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is not None:
            return
        from omnitok import data

        if self.kind == BUILTIN:
            common = {"size": self.size, "scale": self.builtin_scale, "seed": self.seed}
            self.train_data = data.BuiltinImages("train", **common)
            self.val_data = data.BuiltinImages("val", **common)
            self.test_data = data.BuiltinImages("test", **common)
        elif self.kind == "folder":
            files = data.list_image_files(self.root)
            train, val = (files, []) if self.val_root else data.split_files(files, self.val_fraction, self.seed, root=self.root)
            if not train:
                raise DataError(f"{self.root}: every image fell into the validation split; lower val_fraction")
            self.train_data = data.ImageFolderDataset(train, self.size, crop=self.crop, seed=self.seed)
            if val:
                self.val_data = data.ImageFolderDataset(val[: self.max_val_samples], self.size, crop="center")
        else:
            from omnitok.trainers.streaming import ImageBytes

            self.train_data = ImageBytes(self.size, self.crop, self.seed)  # the loader streams; this decodes
        if self.val_root:
            self.val_data = self._held_out(self.val_root)
        if self.test_data is None:
            self.test_data = self.val_data

    def _held_out(self, root: str) -> Any:
        from omnitok import data

        if _kind(root) == "folder":
            files = data.list_image_files(root)[: self.max_val_samples]
            return data.ImageFolderDataset(files, self.size, crop="center")
        if _kind(root) == PACKED:
            from omnitok.trainers.streaming import ImageBytes, PackedFiles

            return PackedFiles(root, ImageBytes(self.size, "center", 0), limit=self.max_val_samples)
        raise ConfigError("val_root must be a folder or packed shards")

    def _loader(self, dataset: Any, **kwargs: Any) -> DataLoader:
        from omnitok.data import collate_images

        return make_loader(dataset, self.batch_size, self.num_workers, collate_images, **kwargs)

    def train_dataloader(self) -> DataLoader:
        if self.kind == PACKED:
            from omnitok.data import collate_images

            return self.stream.train_loader(self, self.root, self.train_data, collate_images)
        return self._loader(EpochIndexed(self.train_data), sampler=step_indexed_sampler(self, len(self.train_data)))

    def state_dict(self) -> dict[str, Any]:
        """The packed-shards loader's position (saved in checkpoints); empty for folders and built-in data, whose
        position is the step."""
        return self.stream.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.stream.load_state_dict(state_dict)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_data is None:
            return []
        data = self.val_data
        if len(data) > self.max_val_samples:
            data = torch.utils.data.Subset(data, range(self.max_val_samples))
        return self._loader(data)

    def test_dataloader(self) -> DataLoader | list:
        return [] if self.test_data is None else self._loader(self.test_data)

    def showcase_images(self, count: int = 4, max_size: int = 256) -> list[Tensor]:
        """A few whole held-out images at a larger size than the training crops, in [-1, 1], for people to look at:
        the held-out built-in photos (at the training scale), or the first validation files of a folder."""
        from omnitok import data

        if self.kind == BUILTIN:
            images = []
            for name in data.builtin.TEST_PHOTOS[:count]:
                photo = data.builtin.load_photo(name)
                height, width = (round(s * self.builtin_scale) for s in photo.shape[-2:])
                photo = resize(photo, [height, width], antialias=True)
                images.append(_center_crop_multiple(photo, max_size, 16).float() / 127.5 - 1.0)
            return images
        images = []
        if isinstance(self.val_data, data.ImageFolderDataset):
            for path in self.val_data.files[:count]:
                try:
                    images.append(data.resize_and_crop(data.read_image(path, max_size), max_size, crop="center"))
                except DataError:  # unreadable files are reported by training; the showcase just leaves them out
                    continue
        return images

    def describe(self) -> str:
        if self.kind == BUILTIN and self.train_data is not None:
            return self.train_data.describe()
        return f"{self.kind} {self.root}"


def make_loader(dataset: Any, batch_size: int, num_workers: int, collate_fn: Any, **kwargs: Any) -> DataLoader:
    """The DataLoader every data module uses: fresh workers each epoch, pinned memory when CUDA is present."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate_fn,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
        **kwargs,
    )


def step_indexed_sampler(module: pl.LightningDataModule, size: int) -> EndlessSampler:
    """The training sampler of a map-style dataset of ``size`` items: batch s depends on (seed, s) alone, starting
    at the module's current step (so a resumed run sees the batches it would have seen) and split across ranks."""
    trainer = module.trainer
    return EndlessSampler(
        size,
        module.batch_size,
        module.seed,
        start=lambda: int(getattr(trainer.lightning_module, "step", 0)) if trainer else 0,
        rank=trainer.global_rank if trainer else 0,
        world=trainer.world_size if trainer else 1,
    )


def _kind(root: str) -> str:
    if root == BUILTIN:
        return BUILTIN
    if is_packed(root):
        return PACKED
    path = Path(root)
    if not path.exists():
        raise DataError(f"image data not found: {root} (a folder, packed shards, or 'builtin')")
    if not path.is_dir():
        raise DataError(f"image data {root} is a file; give a folder, packed shards, or 'builtin'")
    return "folder"


def _center_crop_multiple(image: Tensor, max_size: int, multiple: int) -> Tensor:
    """Center crop [C, H, W] to at most ``max_size`` per side, each side a multiple of ``multiple``."""
    height, width = (min(max_size, s) // multiple * multiple for s in image.shape[-2:])
    top, left = (image.shape[-2] - height) // 2, (image.shape[-1] - width) // 2
    return image[:, top : top + height, left : left + width]

