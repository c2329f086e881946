"""The evaluation set: a folder of images (or the built-in held-out images), prepared by one pinned policy.

Every image is resized so its shorter side equals the resolution (antialiased bicubic) and center-cropped to a
square, then kept as uint8 [3, R, R]. The same files, the same policy and the same seed give the same tensors,
bit for bit. The fingerprint hashes every used file's relative path and bytes, so two reports computed on
different data can never be mistaken for each other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor

from omnitok.data.images import decode_image_bytes, list_image_files, resize_and_crop_pixels
from omnitok.errors import ConfigError, DataError, ShapeError
from omnitok.evaluation.sets import check_modality, to_uint8
from omnitok.protocol import TokenizerSpec

BUILTIN = "builtin"
T = TypeVar("T")
RESIZE_POLICY = "shorter side resized to {r} (bicubic, antialiased), center crop {r} x {r}, 8-bit RGB"


@dataclasses.dataclass
class EvalImages:
    """images: uint8 [N, 3, R, R]; names: one per image (path relative to the root); fingerprint: SHA-256."""

    images: Tensor
    names: list[str]
    root: str
    resolution: int
    fingerprint: str
    skipped: list[str] = dataclasses.field(default_factory=list)
    modality = "image"
    unit = "images"
    scale = (0.0, 1.0)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def sample_shape(self) -> tuple[int, int]:
        return (self.resolution, self.resolution)

    def batch(self, start: int, stop: int) -> Tensor:
        """Images start..stop as float32 [B, 3, R, R] in [0, 1]."""
        return self.images[start:stop].float() / 255.0

    def select(self, indices: list[int]) -> Tensor:
        return self.images[list(indices)].float() / 255.0

    def stored(self, indices: list[int]) -> Tensor:
        return self.images[list(indices)]

    def store(self, x: Tensor) -> Tensor:
        return to_uint8(x)

    def describe(self) -> str:
        return f"{len(self)} images from {self.root} at {self.resolution}x{self.resolution}"

    def check(self, spec: TokenizerSpec, name: str) -> None:
        check_modality(spec, name, self)
        if spec.channels != 3:
            raise ConfigError(f"{name} takes {spec.channels}-channel input; the evaluation images are RGB (3 channels)")
        try:
            spec.grid(self.sample_shape)
        except ShapeError as err:
            factors = "x".join(str(d) for d in spec.downsample)
            raise ShapeError(
                f"{name} cannot take {self.resolution}x{self.resolution} images ({err}); choose a resolution that its "
                f"downsampling ({factors}) divides"
            ) from None

    def protocol_fields(self) -> dict:
        return {"resolution": self.resolution, "policy": RESIZE_POLICY.format(r=self.resolution), "details": {}}


def load_eval_images(
    root: str | os.PathLike,
    resolution: int,
    max_samples: int | None = None,
    seed: int = 0,
    skip_unreadable: bool = False,
) -> EvalImages:
    """Read the evaluation set from a folder of images (searched recursively) or ``"builtin"``.

    Args:
        root: a folder, or ``"builtin"`` for the built-in held-out set (whole test photos never seen in
            training, tiled at ``resolution``, plus unseen procedural scenes).
        resolution: side R of the square each image becomes.
        max_samples: use at most this many images, a subset drawn with ``seed`` (all when None).
        seed: seeds the subset choice.
        skip_unreadable: leave unreadable files out (listed in ``skipped`` and in the report) instead of failing.

    Raises:
        DataError: the folder is missing or empty, or a file cannot be read (unless ``skip_unreadable``).
    """
    if resolution < 1:
        raise ValueError(f"resolution must be a positive number of pixels, got {resolution}")
    if str(root) == BUILTIN:
        return _builtin(resolution, max_samples, seed)
    root = Path(root)
    files = choose_subset(list_image_files(root), max_samples, seed)
    digest = hashlib.sha256(f"{RESIZE_POLICY}\n".encode())
    images, names, skipped = read_files(
        root,
        files,
        digest,
        lambda path, data: decode_image_bytes(data, str(path), resolution),
        lambda image: resize_and_crop_pixels(image, resolution, crop="center"),
        "images",
        skip_unreadable,
    )
    return EvalImages(torch.stack(images), names, str(root), resolution, digest.hexdigest(), skipped)


def read_files(
    root: Path,
    files: list[Path],
    digest: Any,
    decode: Callable[[Path, bytes], Any],
    prepare: Callable[[Any], T],
    kind: str,
    skip_unreadable: bool,
) -> tuple[list[T], list[str], list[str]]:
    """Read the files of an evaluation set (any modality) one by one, with one rule for unreadable files.

    Each file's bytes are read once; ``decode(path, bytes)`` turns them into media, and ``prepare`` (outside the
    skip rule: its errors are not the file's fault) into the stored sample. A file whose read or decode raises
    DataError or OSError is listed in ``skipped``. ``digest`` is updated with every used file's relative
    path and the SHA-256 of its bytes.

    Returns:
        (samples, names relative to ``root``, skipped messages).

    Raises:
        DataError: some files could not be read and ``skip_unreadable`` is False (the first ten are named), or no
            file could be read (``kind`` names what was looked for, e.g. "images").
    """
    samples, names, skipped = [], [], []
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            data = path.read_bytes()  # read once: decoded and hashed from the same bytes
            media = decode(path, data)
        except DataError as err:  # before OSError, which DataError subclasses: its message already names the file
            skipped.append(str(err))
            continue
        except OSError as err:
            skipped.append(f"{path}: cannot read file ({err.strerror or err})")
            continue
        samples.append(prepare(media))
        names.append(name)
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    if skipped and not skip_unreadable:
        listed = "\n  ".join(skipped[:10]) + (f"\n  ... and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        raise DataError(
            f"{len(skipped)} file(s) under {root} cannot be read, first {skipped[0]} (pass --skip-unreadable to "
            f"leave them out):\n  {listed}"
        )
    if not samples:
        raise DataError(f"no readable {kind} under {root}")
    return samples, names, skipped


def choose_subset(items: list, max_samples: int | None, seed: int) -> list:
    if max_samples is None or max_samples >= len(items):
        return items
    if max_samples < 1:
        raise ValueError(f"max_samples must be positive, got {max_samples}")
    chosen = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))[:max_samples]
    return [items[i] for i in sorted(chosen.tolist())]


def _builtin(resolution: int, max_samples: int | None, seed: int) -> EvalImages:
    from omnitok.data import BuiltinImages

    data = BuiltinImages(split="test", size=resolution)
    order = choose_subset(list(range(len(data))), max_samples, seed)
    images = data.images[order]
    names = [data.paths[i] for i in order]
    digest = hashlib.sha256(f"{RESIZE_POLICY}\n{data.describe()}\n".encode())
    for name, image in zip(names, images):
        digest.update(name.encode() + b"\0" + image.numpy().tobytes())
    return EvalImages(images, names, BUILTIN, resolution, digest.hexdigest())
