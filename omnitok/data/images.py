"""Image files: listing, decoding, resize + crop, a stable train/val split and a map-style folder dataset.

A *sample* is ``{"image": FloatTensor [3, S, S] in [-1, 1], "path": str}``. A file that cannot be read
(missing, truncated, not an image) gives ``{"image": None, "path": str, "error": str}`` instead of raising,
so one bad file never stops a run; :func:`collate_images` drops such samples from the batch and reports them.

Decoding goes through Pillow (libjpeg-turbo, libpng, libwebp; the same pixels as ``torchvision.io.decode_image``,
without its crash on corrupt PNG streams), so the readable formats are exactly those listed in
:data:`IMAGE_EXTENSIONS`; image sizes are checked against :mod:`omnitok.limits` before decoding.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from omnitok.data.files import list_files
from omnitok.errors import ConfigError, DataError, DTypeError, ShapeError
from omnitok.limits import IMAGE_PIXELS

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})
"""Lower-case suffixes of the formats read (no AVIF/HEIC, which need an optional plug-in; no BMP/TIFF, which
torchvision's writers and readers elsewhere in the ecosystem do not share). GIF gives its first frame."""

Crop = Literal["random", "center"]


def mix_seed(*parts: int | str) -> int:
    """A 63-bit seed determined by ``parts`` alone (e.g. ``(seed, epoch, index)``), for ``Generator.manual_seed``.

    Unlike ``hash()``, it is the same in every process and Python run, so workers agree with each other.
    """
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def list_image_files(root: str | os.PathLike) -> list[Path]:
    """Every image file under ``root``, recursively, sorted by path (the rules of
    :func:`omnitok.data.files.list_files`: any case, hidden files skipped, unlistable folders refused).

    Raises:
        DataError: ``root`` is missing, is not a folder, cannot be listed, or holds no image files.
    """
    return list_files(root, IMAGE_EXTENSIONS, "image")


def decode_image_bytes(data: bytes, name: str, target_side: int | None = None) -> Tensor:
    """Decode encoded image bytes to uint8 [3, H, W] RGB (gray, gray+alpha, palette and RGBA are converted;
    alpha is dropped, not composited; 16-bit PNGs keep their high 8 bits; an animated GIF gives its first frame).

    Decoding goes through Pillow, whose decoders report corrupt data as errors (libpng inside torchvision crashes
    the process on a corrupt compressed stream), and it gives the same pixels as ``torchvision.io.decode_image``
    on valid files. The size in the header is checked against :data:`omnitok.limits.IMAGE_PIXELS` before any
    pixel is decoded (Pillow's own fixed check, at 179 Mpx, also stays in force).

    Args:
        target_side: the shorter side the caller will resize to, if known. A JPEG above the pixel limit is then
            decoded at a reduced scale (1/2, 1/4 or 1/8, the decoder's own) that still covers it, instead of
            being refused. Images within the limit are always decoded at full size.

    Raises:
        DataError: the bytes are empty, truncated, corrupt, not a supported image, or too large; the message
            names ``name``.
    """
    import io

    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise DataError(f"{name}: empty file")
    try:
        with Image.open(io.BytesIO(data), formats=PILLOW_FORMATS) as image:
            image = _within_pixel_limit(image, name, target_side)  # from the header, before any pixel is decoded
            pixels = _rgb_array(image)
    except DataError:
        raise
    except Image.DecompressionBombError as err:  # Pillow's own fixed check (179 Mpx) fired while reading the header
        raise DataError(f"{name}: {_bomb_message(str(err))}") from None
    except UnidentifiedImageError:
        raise DataError(f"{name}: cannot decode image (not a PNG, JPEG, WebP or GIF file)") from None
    except Exception as err:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError... on bad data
        reason = str(err) or type(err).__name__
        raise DataError(f"{name}: cannot decode image ({reason})") from None
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise DataError(f"{name}: decoded to an unusable shape {pixels.shape}")
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def _bomb_message(pillow_message: str) -> str:
    """Pillow's refusal of a huge image in omnitok's terms (its fixed limit is above ours, so ours is the one named)."""
    import re

    found = re.search(r"\((\d+) pixels\)", pillow_message)
    pixels = f"{int(found.group(1)):,} pixels" if found else "more pixels than allowed"
    return f"needs {pixels}, above the limit of {IMAGE_PIXELS.value:,} (raise it with {IMAGE_PIXELS.variable})"


PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
"""The formats :data:`IMAGE_EXTENSIONS` name; Pillow is told to try no others (whatever the file's suffix)."""


def _within_pixel_limit(image, name: str, target_side: int | None):
    """``image`` itself when its header size is within the pixel limit; a reduced-scale JPEG draft that still
    covers ``target_side`` when that fits; else DataError."""
    width, height = image.size
    problem = IMAGE_PIXELS.exceeded(width * height, f"{name} ({width}x{height})")
    if problem is None:
        return image
    if image.format == "JPEG" and target_side is not None and target_side <= min(width, height):
        scale = target_side / min(width, height)
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))  # keeps size >= the request
        width, height = image.size
        if IMAGE_PIXELS.exceeded(width * height, name) is None:
            return image
    raise DataError(problem)


def _rgb_array(image):
    """A decoded Pillow image -> uint8 array [H, W, 3]."""
    import numpy as np

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit gray: keep the high byte, as torchvision does
        gray = (np.asarray(image).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def read_image(path: str | os.PathLike, target_side: int | None = None) -> Tensor:
    """Read and decode one image file to uint8 [3, H, W] RGB (see :func:`decode_image_bytes`).

    Raises:
        DataError: the file is missing, unreadable, truncated, not a supported image or too large; the message
            names it.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    return decode_image_bytes(data, str(path), target_side)


def resize_and_crop(
    image: Tensor, size: int, crop: Crop = "center", generator: torch.Generator | None = None
) -> Tensor:
    """Resize the shorter side to ``size`` (antialiased bicubic), crop ``size`` x ``size``, scale to [-1, 1].

    Args:
        image: uint8 [3, H, W] (as :func:`read_image` returns). An image whose shorter side already equals
            ``size`` is not resampled, so its crop holds exactly its own pixel values.
        size: side of the output square, in pixels.
        crop: ``"center"`` (rounding the offset down) or ``"random"`` (a uniform offset along the longer side).
        generator: the only source of randomness for ``crop="random"`` (required there; unused for center).

    Returns:
        float32 [3, size, size] in [-1, 1] (``uint8 / 127.5 - 1``).
    """
    if image.dtype != torch.uint8:
        raise DTypeError(f"resize_and_crop expects a uint8 image, got {image.dtype}")
    if image.ndim != 3 or image.shape[0] != 3:
        raise ShapeError(f"resize_and_crop expects an image [3, H, W], got {tuple(image.shape)}")
    return resize_and_crop_pixels(image, size, crop, generator).float().div_(127.5).sub_(1.0)


def resize_and_crop_pixels(
    pixels: Tensor, size: int, crop: Crop = "center", generator: torch.Generator | None = None
) -> Tensor:
    """The resize and crop policy on uint8 pixels ``[..., H, W]`` (an image, or a clip's frames with one offset for
    all of them): shorter side to ``size`` (antialiased bicubic; not resampled when it already is ``size``), then a
    ``size`` x ``size`` crop, ``"center"`` (offset rounded down) or ``"random"`` (drawn from ``generator`` only).
    Returns uint8 ``[..., size, size]``."""
    check_size(size)
    if crop not in ("random", "center"):
        raise ConfigError(f"crop must be 'random' or 'center', got {crop!r}")
    if crop == "random" and generator is None:
        raise ConfigError("crop='random' needs an explicit torch.Generator (results must not depend on global RNG)")
    if min(pixels.shape[-2:]) != size:
        pixels = TF.resize(pixels, size, interpolation=InterpolationMode.BICUBIC, antialias=True)
    height, width = pixels.shape[-2:]
    if crop == "center":
        top, left = (height - size) // 2, (width - size) // 2
    else:
        top = int(torch.randint(height - size + 1, (), generator=generator))
        left = int(torch.randint(width - size + 1, (), generator=generator))
    return pixels[..., top : top + size, left : left + size]


def split_files(
    files: Sequence[Path], val_fraction: float, seed: int = 0, root: str | os.PathLike | None = None
) -> tuple[list[Path], list[Path]]:
    """Split files into (train, val) by hashing each path, so the split of a file never depends on the others.

    A file goes to val when ``hash(seed, relative path) < val_fraction`` (a uniform number in [0, 1)), so
    adding or removing files never moves an existing file between splits, and the val share is
    ``val_fraction`` on average (not exactly; a tiny folder may get an empty val). Both lists keep the input
    order.

    Args:
        files: image paths, e.g. from :func:`list_image_files`.
        val_fraction: in [0, 1); 0 gives an empty val list.
        seed: another seed gives another (equally stable) split.
        root: hash paths relative to this folder, so the split survives moving or renaming the dataset folder.
            Without it the paths are hashed as given.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train: list[Path] = []
    val: list[Path] = []
    for file in files:
        file = Path(file)
        key = file.relative_to(root).as_posix() if root is not None else file.as_posix()
        u = mix_seed("split", seed, key) / 2**63
        (val if u < val_fraction else train).append(file)
    return train, val


def failure_sample(path: str, error: str) -> dict:
    """The sample standing in for an unreadable file: ``{"image": None, "path": path, "error": error}``."""
    return {"image": None, "path": path, "error": error}


def error_reason(error: Exception, path: str) -> str:
    """The message of ``error`` without a leading ``"path: "`` (failure samples carry the path separately)."""
    message = str(error)
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message


def collate_images(samples: list[dict]) -> dict:
    """Batch samples, dropping the failed ones: ``DataLoader(..., collate_fn=collate_images)``.

    Returns:
        ``{"image": float [B, 3, S, S] in [-1, 1], "path": list[str] (B paths), "skipped": list[str]}`` where
        ``skipped`` holds ``"path: error"`` for each failed sample and B counts the others. When every sample
        failed (or ``samples`` is empty) ``image`` is ``torch.empty(0, 3, 0, 0)``: the spatial size is unknown,
        so callers should test ``image.shape[0] == 0`` before using the batch.
    """
    good = [s for s in samples if s.get("image") is not None]
    skipped = [f"{s['path']}: {s.get('error', 'unknown error')}" for s in samples if s.get("image") is None]
    if not good:
        return {"image": torch.empty(0, 3, 0, 0), "path": [], "skipped": skipped}
    shapes = {tuple(s["image"].shape) for s in good}
    if len(shapes) > 1:
        raise ShapeError(f"cannot batch images of different shapes {sorted(shapes)} (first: {good[0]['path']})")
    return {"image": torch.stack([s["image"] for s in good]), "path": [s["path"] for s in good], "skipped": skipped}


class ImageFolderDataset(Dataset):
    """Map-style dataset over image files: item i is a sample (see the module docstring) of ``files[i]``.

    The random crop of item i is drawn from ``torch.Generator().manual_seed(mix_seed(seed, epoch, i))``, so it
    depends on (seed, epoch, i) alone: not on worker count, batch order or what was read before, which makes
    resumed training see exactly the crops it would have seen.

    ``set_epoch`` changes the crops of the next epoch. DataLoader workers hold copies of the dataset: call it
    before the epoch's iterator is created, and not with ``persistent_workers=True`` (the copies would keep
    the old epoch).

    Args:
        files: image paths (e.g. from :func:`list_image_files` / :func:`split_files`).
        size: side S of the square output, in pixels.
        crop: ``"random"`` (training) or ``"center"`` (evaluation; then seed and epoch do not matter).
        seed: base seed of the random crops.
    """

    def __init__(self, files: Sequence[str | os.PathLike], size: int, crop: Crop = "random", seed: int = 0) -> None:
        check_size(size)
        if crop not in ("random", "center"):
            raise ValueError(f"crop must be 'random' or 'center', got {crop!r}")
        self.files = [Path(f) for f in files]
        self.size = size
        self.crop: Crop = crop
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        index = range(len(self.files))[index]  # negative indices name the same item (and crop) as positive ones
        path = self.files[index]
        generator = None
        if self.crop == "random":
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, index))
        try:
            image = read_image(path, self.size)
        except DataError as e:
            return failure_sample(str(path), error_reason(e, str(path)))
        return {"image": resize_and_crop(image, self.size, self.crop, generator), "path": str(path)}


def check_size(size: int) -> None:
    """Raise ValueError unless ``size`` is a positive int (an output side in pixels)."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}")
