"""``VideoDataModule``: a video folder or generated moving-shapes clips, optionally mixed with images as 1-frame
videos (joint image + video training), behind one Lightning DataModule.

Batches are ``{"video": [B, 3, T, S, S] in [-1, 1], "path": [...], "skipped": [...]}`` (set the trainer's
``media_key: video``); an image batch has ``T = 1``. Each batch holds one kind only, so a step trains either on
clips or on images. Which kind step ``s`` gets, and which items, depend on ``(seed, s)`` alone: a resumed run sees
exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset, Sampler

from omnitok.config import Configurable
from omnitok.errors import ConfigError, DataError
from omnitok.trainers.data import (
    BUILTIN,
    EndlessSampler,
    EpochIndexed,
    PackedStream,
    is_packed,
    make_loader,
    step_indexed_sampler,
)

GENERATED = "generated"


class VideoDataModule(pl.LightningDataModule, Configurable):
    """Video clips for tokenizer training, with images mixed in as 1-frame videos if asked.

    Args:
        root: a folder searched recursively for video files (mp4/mov/mkv/webm/avi), ``"generated"``: procedural
            moving-shapes clips rendered in memory (``omnitok.data.MovingShapes``; train/val/test seed ranges), or
            packed shards (``omnitok data pack``; their folder or ``s3://`` / ``gs://`` URL), streamed with litdata
            (:mod:`omnitok.trainers.streaming`; no held-out split: give ``val_root``; no ``images`` mixing).
        frames: clip length T (causal tokenizers with temporal factor f want ``1 + k*f``: 9, 17, 33, ...).
        size: square frame side (shorter side resized, then cropped).
        stride: take every ``stride``-th frame of a file (ignored when ``fps`` is given).
        fps: target frame rate of the clips (the step follows each file's own rate).
        short: files shorter than a clip: "repeat_last" (hold the last frame), "loop" (start over) or "skip"
            (count the file as unusable: skipped and reported like unreadable files).
        batch_size: clips per device and step.
        num_workers: DataLoader worker processes.
        val_fraction: folders: share of files held out (a stable split by path hash); held-out clips start at frame 0.
        val_root: a separate validation folder or packed shards (then ``val_fraction`` is unused).
        max_val_samples: cap on validation clips.
        crop: training crop ("random": random clip start and crop; "center").
        seed: data order, clip starts, crops, generated clips.
        generated_clips: ``root="generated"``: training clips (validation and test get 64 each, other seeds).
        images: mix images in as 1-frame videos: None, ``"builtin"`` (the built-in photos and scenes) or an image
            folder.
        image_every: with ``images``, every ``image_every``-th step is an image batch (2: alternate; 0: never).
        image_batch_size: images per image batch (default: ``batch_size * frames``, the same pixel count).
    """

    def __init__(
        self,
        root: str = GENERATED,
        frames: int = 9,
        size: int = 32,
        stride: int = 1,
        fps: float | None = None,
        short: Literal["repeat_last", "loop", "skip"] = "repeat_last",
        batch_size: int = 8,
        num_workers: int = 2,
        val_fraction: float = 0.05,
        val_root: str | None = None,
        max_val_samples: int = 64,
        crop: Literal["random", "center"] = "random",
        seed: int = 0,
        generated_clips: int = 1024,
        images: str | None = None,
        image_every: int = 0,
        image_batch_size: int | None = None,
    ):
        super().__init__()
        if crop not in ("random", "center"):
            raise ConfigError(f"crop must be 'random' or 'center', got {crop!r}")
        if short not in ("repeat_last", "loop", "skip"):
            raise ConfigError(f"short must be 'repeat_last', 'loop' or 'skip', got {short!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if frames < 1 or size < 1 or batch_size < 1 or stride < 1:
            raise ConfigError("frames, size, batch_size and stride must be >= 1")
        if image_every < 0 or image_every == 1:
            raise ConfigError(f"image_every must be 0 (no images) or >= 2, got {image_every} (1 would leave no clips)")
        if image_every and images is None:
            raise ConfigError("image_every needs images: 'builtin' or an image folder")
        if image_every and is_packed(str(root)):
            raise ConfigError("image_every (images mixed into video batches) works with video folders, not packed shards")
        self.root, self.frames, self.size, self.stride, self.fps, self.short = (
            str(root),
            frames,
            size,
            stride,
            fps,
            short,
        )
        self.batch_size, self.num_workers, self.val_fraction, self.val_root = (
            batch_size,
            num_workers,
            val_fraction,
            val_root,
        )
        self.max_val_samples, self.crop, self.seed, self.generated_clips = max_val_samples, crop, seed, generated_clips
        self.images, self.image_every = images, image_every if images is not None else 0
        self.image_batch_size = image_batch_size or batch_size * frames
        self.train_data: Any = None
        self.image_data: Any = None
        self.val_data: Any = None
        self.test_data: Any = None  # held-out clips: the generated test seeds, or the held-out files
        self.stream = PackedStream()

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is not None:
            return
        from omnitok import data

        if self.root == GENERATED:
            common = {"frames": self.frames, "size": self.size, "seed": self.seed}
            self.train_data = data.MovingShapes("train", clips=self.generated_clips, **common)
            self.val_data = data.MovingShapes("val", clips=min(64, self.max_val_samples), **common)
            self.test_data = data.MovingShapes("test", clips=64, **common)
        elif is_packed(self.root) or is_packed(self.val_root):
            self._setup_packed()
        else:
            files = data.list_video_files(self.root)
            if self.val_root:
                train, val = files, data.list_video_files(self.val_root)
            else:
                train, val = data.split_files(files, self.val_fraction, self.seed, root=self.root)
            if not train:
                raise DataError(f"{self.root}: every video fell into the validation split; lower val_fraction")
            self.train_data = self._clips(train, self.crop)
            if val:
                self.val_data = self.test_data = self._clips(val[: self.max_val_samples], "center")
        if self.image_every:
            self.image_data = self._image_dataset()

    def _setup_packed(self) -> None:
        """Packed shards as training and/or validation data (the other one may be a folder)."""
        from omnitok.data import list_video_files
        from omnitok.trainers.streaming import FileBytes, PackedFiles

        if is_packed(self.root):
            self.train_data = FileBytes(self._clips([], self.crop), self.seed)  # the loader streams; this decodes
        else:
            self.train_data = self._clips(list_video_files(self.root), self.crop)
        if is_packed(self.val_root):
            decode = FileBytes(self._clips([], "center"), self.seed)
            self.val_data = self.test_data = PackedFiles(str(self.val_root), decode, limit=self.max_val_samples)
        elif self.val_root:
            self.val_data = self.test_data = self._clips(list_video_files(self.val_root)[: self.max_val_samples], "center")

    def _clips(self, files: list, crop: str) -> Any:
        from omnitok.data import VideoFolderDataset

        return VideoFolderDataset(
            files, self.frames, self.size, stride=self.stride, fps=self.fps, crop=crop, short=self.short, seed=self.seed
        )

    def _image_dataset(self) -> Any:
        from omnitok import data

        if self.images == BUILTIN:
            return data.BuiltinImages("train", size=self.size, seed=self.seed)
        return data.ImageFolderDataset(data.list_image_files(self.images), self.size, crop=self.crop, seed=self.seed)

    def _loader(self, dataset: Any, **kwargs: Any) -> DataLoader:
        from omnitok.data import collate_videos

        return make_loader(
            dataset, kwargs.pop("batch_size", self.batch_size), self.num_workers, collate_videos, **kwargs
        )

    def train_dataloader(self) -> DataLoader:
        if is_packed(self.root):
            from omnitok.data import collate_videos

            return self.stream.train_loader(self, self.root, self.train_data, collate_videos)
        clips = step_indexed_sampler(self, len(self.train_data))
        if not self.image_every:
            return self._loader(EpochIndexed(self.train_data), sampler=clips)
        sampler = JointBatchSampler(clips, len(self.image_data), self.image_batch_size, self.image_every)
        dataset = ClipsAndImages(EpochIndexed(self.train_data), EpochIndexed(self.image_data))
        return self._loader(dataset, batch_size=1, batch_sampler=sampler)

    def state_dict(self) -> dict[str, Any]:
        """The packed-shards loader's position (saved in checkpoints); empty otherwise (the position is the step)."""
        return self.stream.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.stream.load_state_dict(state_dict)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_data is None else self._loader(self.val_data)

    def test_dataloader(self) -> DataLoader | list:
        """Held-out clips (the generated test split, or the held-out files), each from frame 0, center-cropped."""
        return [] if self.test_data is None else self._loader(self.test_data)

    def describe(self) -> str:
        what = (
            f"{self.generated_clips} generated moving-shapes clips"
            if self.root == GENERATED
            else f"packed videos {self.root}"
            if is_packed(self.root)
            else f"videos in {self.root}"
        )
        mixed = f", every {self.image_every}th batch {self.images} images as 1-frame videos" if self.image_every else ""
        return f"{what}: {self.frames} frames at {self.size}x{self.size}{mixed}"


CLIP, STILL = "video", "image"  # the two kinds of item a joint batch draws (named as their data)


class JointBatchSampler(Sampler[list]):
    """Batches of one kind each: step ``s`` is an image batch when ``s % image_every == image_every - 1``, else a
    clip batch. Each kind is its own endless, step-indexed stream (``EndlessSampler``), positioned from the steps
    before the start, so batch ``s`` depends on ``(seed, s)`` alone and resumed runs continue exactly.

    Yields lists of ``(CLIP, index)`` or ``(STILL, index)`` keys for :class:`ClipsAndImages`.
    """

    def __init__(self, clips: EndlessSampler, images: int, image_batch_size: int, image_every: int):
        if image_every < 2:
            raise ConfigError(f"image_every must be >= 2, got {image_every}")
        self.clips, self.images, self.image_batch_size, self.image_every = clips, images, image_batch_size, image_every

    def __iter__(self) -> Iterator[list[tuple[str, int]]]:
        step = self.clips.start()
        image_steps = step // self.image_every  # image batches among steps [0, step)
        clips, rank, world = self.clips, self.clips.rank, self.clips.world
        video_start = step - image_steps
        video = iter(EndlessSampler(clips.size, clips.batch_size, clips.seed, lambda: video_start, rank, world))
        image = iter(
            EndlessSampler(self.images, self.image_batch_size, clips.seed + 1, lambda: image_steps, rank, world)
        )
        while True:
            if step % self.image_every == self.image_every - 1:
                yield [(STILL, next(image)) for _ in range(self.image_batch_size)]
            else:
                yield [(CLIP, next(video)) for _ in range(clips.batch_size)]
            step += 1


class ClipsAndImages(Dataset):
    """Keys ``(CLIP, i)`` -> clip sample i; ``(STILL, i)`` -> image sample i as a 1-frame video [3, 1, S, S]."""

    def __init__(self, clips: Dataset, images: Dataset):
        self.clips, self.images = clips, images

    def __getitem__(self, key: tuple[str, int]) -> dict:
        kind, index = key
        if kind == CLIP:
            return self.clips[index]
        sample = self.images[index]
        image = sample.get("image")
        result = {"video": None if image is None else image.unsqueeze(1), "path": sample["path"]}
        if "error" in sample:
            result["error"] = sample["error"]
        return result
