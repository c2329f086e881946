"""A built-in image dataset that needs no download: tiles of scikit-image's bundled photos + procedural scenes.

Photos: the colour photographs shipped inside the scikit-image wheel (``skimage.data``; none of them is
fetched through pooch, so they load offline). Whole photos are split once and for all:

- train photos (:data:`TRAIN_PHOTOS`): astronaut (512x512), rocket (427x640), motorcycle (the left view of
  ``stereo_motorcycle``, 500x741), hubble_deep_field (872x1000), immunohistochemistry (512x512),
  retina (1411x1411);
- test photos (:data:`TEST_PHOTOS`), held out whole: coffee (400x600), chelsea (the cat, 300x451).

(``skimage.data.cat`` is chelsea again and is not used; ``colorwheel`` and ``logo`` are graphics, not photos.)
All are public domain or CC0 according to scikit-image, except motorcycle, from the Middlebury 2014 stereo
benchmark (Scharstein et al., GCPR 2014), whose docstring states no licence. They are read from the user's
scikit-image install, not redistributed by omnitok.

Scenes: :func:`render_scene` draws a two-colour gradient and 2-6 filled circles, ellipses, rotated rectangles
and triangles in random colours, with light smooth texture and grain, and analytically antialiased edges. The
scene for seed ``s`` is a pure function of ``s`` and the size. Splits use disjoint seed ranges (see
:func:`scene_seed`).

``BuiltinImages`` needs scikit-image (the ``train``/``eval`` extras).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from omnitok.data.images import check_size, mix_seed
from omnitok.errors import DataError

Split = Literal["train", "val", "test"]

TRAIN_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "rocket",
    "motorcycle",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
TEST_PHOTOS: tuple[str, ...] = ("coffee", "chelsea")
VAL_TILES_PER_PHOTO = 2
"""Tiles of each train photo set aside for "val" (the same positions are left out of "train")."""
DEFAULT_SCENES: dict[str, int] = {"train": 1024, "val": 64, "test": 256}
SCENE_SEED_START: dict[str, int] = {"train": 0, "val": 1_000_000, "test": 2_000_000}
"""Scene i of a split (i < 1,000,000) uses seed ``3,000,000 x dataset seed + SCENE_SEED_START[split] + i``."""
FLAT_TILE_STD = 3.0
"""Photo tiles whose pixel standard deviation (uint8 units) is below this (e.g. retina's black corners) are
not used: they teach nothing."""


def scene_seed(split: Split, index: int, seed: int = 0) -> int:
    """The :func:`render_scene` seed of scene ``index`` of ``split`` for dataset seed ``seed``."""
    if not 0 <= index < 1_000_000:
        raise ValueError(f"scene index must be in [0, 1e6), got {index}")
    return 3_000_000 * seed + SCENE_SEED_START[split] + index


def render_scene(seed: int | np.random.Generator, size: int, texture: bool = True) -> Tensor:
    """A procedural scene: gradient background + 2-6 random filled shapes (+ light texture), uint8 [3, size, size].

    Shapes are filled ellipses, rotated rectangles and triangles in random colours, positions and sizes, with
    edges antialiased analytically (pixel coverage from the signed distance to the outline). Deterministic:
    the same integer seed (``numpy.random.default_rng(seed)``) or a generator in the same state gives the same
    image on every platform. Shapes are laid out relative to the side, so a scene looks alike at any size.
    Rendering uses NumPy (single-threaded): small torch ops can stall for milliseconds each on a busy machine.
    """
    check_size(size)
    rng = np.random.default_rng(seed) if isinstance(seed, int) else seed
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = axis[:, None], axis[None, :]  # (size, 1), (1, size): broadcast to (size, size), in (0, 1)

    # background: linear blend of two colours along a random direction
    c0, c1 = rng.random(3, dtype=np.float32), rng.random(3, dtype=np.float32)
    angle = rng.random() * 2 * math.pi
    cos, sin = math.cos(angle), math.sin(angle)
    t = ((xx - 0.5) * cos + (yy - 0.5) * sin) / (abs(cos) + abs(sin)) + 0.5  # (size, size) in [0, 1]
    image = c0[:, None, None] * (1 - t) + c1[:, None, None] * t  # (3, size, size)

    for _ in range(int(rng.integers(2, 7))):
        kind = int(rng.integers(3))
        colour = rng.random(3, dtype=np.float32)
        cx, cy, radius, aspect, theta = rng.random(5).tolist()
        radius = 0.06 + 0.2 * radius
        theta *= math.pi
        if kind == 2:  # triangle: three vertices around the centre, counter-clockwise
            angles = theta + np.array([0.0, 2.1, 4.2]) + 0.6 * (rng.random(3) - 0.5)
            vx, vy = cx + 1.3 * radius * np.cos(angles), cy + 1.3 * radius * np.sin(angles)
            signed = np.full((size, size), -np.inf, dtype=np.float32)
            for i in range(3):  # signed distance to each edge's line, negative inside
                ex, ey = vx[(i + 1) % 3] - vx[i], vy[(i + 1) % 3] - vy[i]
                edge = ((xx - vx[i]) * ey - (yy - vy[i]) * ex) / math.hypot(ex, ey)
                signed = np.maximum(signed, edge.astype(np.float32))
        else:
            dx, dy = xx - cx, yy - cy
            a = dx * math.cos(theta) + dy * math.sin(theta)  # coordinates along the shape's own axes
            b = -dx * math.sin(theta) + dy * math.cos(theta)
            half_a, half_b = radius * (0.6 + 0.8 * aspect), radius * (1.4 - 0.8 * aspect)
            if kind == 0:  # ellipse (approximate distance, exact on circles)
                signed = (np.sqrt((a / half_a) ** 2 + (b / half_b) ** 2) - 1) * min(half_a, half_b)
            else:  # rotated rectangle
                signed = np.maximum(np.abs(a) - half_a, np.abs(b) - half_b)
        coverage = np.clip(0.5 - signed * size, 0, 1)  # (size, size): fraction of each pixel inside
        image = image + coverage * (colour[:, None, None] - image)

    if texture:
        blotch_amp, grain_amp = rng.random(2) * np.array([0.08, 0.03])
        coarse = rng.standard_normal((3, 5, 5), dtype=np.float32)
        up = _linear_upsampling(5, size)  # (size, 5)
        blotches = up @ coarse @ up.T  # (3, size, size): smooth colour variations
        image = image + blotch_amp * blotches + grain_amp * rng.standard_normal((3, size, size), dtype=np.float32)

    return torch.from_numpy(np.clip(np.round(image * 255), 0, 255).astype(np.uint8))


@functools.lru_cache(maxsize=16)
def _linear_upsampling(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of linear interpolation (half-pixel centres, edges clamped)."""
    position = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lower = np.minimum(np.floor(position).astype(int), n_in - 2)
    frac = position - lower
    weights = np.zeros((n_out, n_in), dtype=np.float32)
    weights[np.arange(n_out), lower] = 1 - frac
    weights[np.arange(n_out), lower + 1] = frac
    return weights


@functools.cache
def load_photo(name: str) -> Tensor:
    """One of the bundled scikit-image photos as uint8 [3, H, W] (cached; do not modify the result in place).

    Raises:
        DataError: scikit-image is not installed, or does not ship the photo.
    """
    if name not in TRAIN_PHOTOS + TEST_PHOTOS:
        raise ValueError(f"unknown built-in photo {name!r}; choose from {TRAIN_PHOTOS + TEST_PHOTOS}")
    try:
        import skimage.data
    except ImportError as e:
        raise DataError("the built-in photos come from scikit-image: pip install scikit-image") from e
    try:
        array = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    except Exception as e:  # a missing file makes skimage try a download (pooch), which fails offline
        raise DataError(f"scikit-image could not load its bundled photo {name!r}: {e}") from e
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()  # (H, W, 3) -> (3, H, W)


def photo_tiles(name: str, size: int, scale: float) -> tuple[Tensor, list[tuple[int, int]]]:
    """The non-flat ``size`` x ``size`` tiles of photo ``name`` resized by ``scale``, on a centred grid.

    Returns:
        (tiles uint8 [N, 3, size, size], [(top, left)] in the resized photo), in row-major order.
    """
    photo = load_photo(name)
    height, width = (max(1, round(s * scale)) for s in photo.shape[-2:])
    if scale != 1.0:
        photo = TF.resize(photo, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)
    rows, cols = height // size, width // size
    top0, left0 = (height - rows * size) // 2, (width - cols * size) // 2
    if rows == 0 or cols == 0:
        return torch.empty(0, 3, size, size, dtype=torch.uint8), []
    grid = photo[:, top0 : top0 + rows * size, left0 : left0 + cols * size]
    tiles = grid.reshape(3, rows, size, cols, size).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3, size, size)
    keep = tiles.float().flatten(1).std(dim=1) >= FLAT_TILE_STD
    positions = [(top0 + r * size, left0 + c * size) for r in range(rows) for c in range(cols)]
    return tiles[keep], [p for p, k in zip(positions, keep.tolist()) if k]


class BuiltinImages(Dataset):
    """A small, fixed image dataset built in memory: photo tiles + procedural scenes; samples as in ``images.py``.

    Composition (defaults ``size=64, scale=0.5, tiles_per_photo=32, seed=0``; :meth:`describe` gives the
    counts for any arguments):

    - ``"train"``: 1142 images = 118 tiles of the 6 train photos (astronaut 14, rocket 13, motorcycle 13,
      hubble_deep_field 32, immunohistochemistry 14, retina 32) + 1024 scenes (seeds 0..1023);
    - ``"val"`` (monitoring): 76 images = 12 tiles of the train photos (2 per photo, at grid positions
      "train" never uses) + 64 scenes (seeds 1,000,000..1,000,063);
    - ``"test"``: 274 images = 18 tiles of the held-out photos (coffee 12, chelsea 6) + 256 scenes
      (seeds 2,000,000..2,000,255).

    Each photo is resized by ``scale`` (antialiased bicubic) and cut into non-overlapping ``size`` x ``size``
    tiles on a centred grid; near-constant tiles are dropped (:data:`FLAT_TILE_STD`). Tile positions are
    permuted by ``(seed, photo)``: the first :data:`VAL_TILES_PER_PHOTO` go to val, the next
    ``tiles_per_photo`` to train (test photos: the first ``tiles_per_photo``). Everything is deterministic
    and precomputed at construction into ``self.images`` (uint8 [N, 3, size, size]) and ``self.paths``;
    build train and val with the same ``size``, ``scale`` and ``seed`` to keep them disjoint.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: side of every image, in pixels.
        scale: resize factor applied to the photos before tiling (1.0 keeps full resolution).
        scenes: number of procedural scenes; None uses :data:`DEFAULT_SCENES` for the split.
        tiles_per_photo: at most this many tiles per photo for train/test (None: all).
        seed: seeds the tile choice and the scenes (scene seed ranges: :func:`scene_seed`).
    """

    def __init__(
        self,
        split: Split = "train",
        size: int = 64,
        scale: float = 0.5,
        scenes: int | None = None,
        tiles_per_photo: int | None = 32,
        seed: int = 0,
    ) -> None:
        if split not in DEFAULT_SCENES:
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        check_size(size)
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        scenes = DEFAULT_SCENES[split] if scenes is None else scenes
        if not 0 <= scenes <= 1_000_000:
            raise ValueError(f"scenes must be in [0, 1e6], got {scenes}")
        if tiles_per_photo is not None and tiles_per_photo < 0:
            raise ValueError(f"tiles_per_photo must be >= 0 or None, got {tiles_per_photo}")
        self.split, self.size, self.scale, self.seed = split, size, scale, seed
        self.tiles_per_photo = tiles_per_photo

        chunks: list[Tensor] = []
        self.paths: list[str] = []
        self.photo_counts: dict[str, int] = {}
        for name in TEST_PHOTOS if split == "test" else TRAIN_PHOTOS:
            tiles, positions = photo_tiles(name, size, scale)
            order = torch.randperm(len(positions), generator=torch.Generator().manual_seed(mix_seed(seed, name)))
            order = order.tolist()
            if split == "val":
                chosen = order[:VAL_TILES_PER_PHOTO]
            else:
                start = VAL_TILES_PER_PHOTO if split == "train" else 0
                chosen = order[start:] if tiles_per_photo is None else order[start : start + tiles_per_photo]
            if not chosen:
                warnings.warn(f"built-in photo {name!r} gives no {size}x{size} tile at scale {scale}", stacklevel=2)
            chosen.sort()
            chunks.append(tiles[chosen])
            self.paths.extend(f"builtin/photo/{name}/y{positions[i][0]}x{positions[i][1]}" for i in chosen)
            self.photo_counts[name] = len(chosen)

        self.scene_seeds = [scene_seed(split, i, seed) for i in range(scenes)]
        if scenes:
            chunks.append(torch.stack([render_scene(s, size) for s in self.scene_seeds]))
        self.paths.extend(f"builtin/scene/{s}" for s in self.scene_seeds)
        self.images = torch.cat(chunks) if chunks else torch.empty(0, 3, size, size, dtype=torch.uint8)

    def set_epoch(self, epoch: int) -> None:
        """No-op (the images are fixed); present so training code can treat every dataset alike."""

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index].float().div_(127.5).sub_(1.0), "path": self.paths[index]}

    def describe(self) -> str:
        """One paragraph stating what the split holds, with counts."""
        photos = ", ".join(f"{name} {count}" for name, count in self.photo_counts.items())
        n_tiles = sum(self.photo_counts.values())
        seeds = f"seeds {self.scene_seeds[0]}..{self.scene_seeds[-1]}" if self.scene_seeds else "none"
        return (
            f"BuiltinImages(split={self.split!r}, size={self.size}, scale={self.scale}, seed={self.seed}): "
            f"{len(self)} images = {n_tiles} photo tiles ({photos}) + {len(self.scene_seeds)} procedural scenes "
            f"({seeds})"
        )


def write_builtin_images(
    folder: str | os.PathLike, size: int = 32, scale: float = 0.5, seed: int = 0, splits: Sequence[Split] = ("train", "val", "test")
) -> dict[str, int]:
    """Write the built-in images as PNG files, ``folder/<split>/<photo or scene path>.png``, so every tool that reads
    image folders (``omnitok data pack``, ``omnitok encode``, training from a folder) can use them. The pixels are
    exactly :class:`BuiltinImages`' (PNG is lossless). Returns the number of images per split.

    Raises:
        OutputError: ``folder`` exists and is not empty.
    """
    from torchvision.io import encode_png

    from omnitok.errors import OutputError
    from omnitok.utils import atomic_path

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputError(f"{folder} exists and is not an empty folder")
    counts = {}
    for split in splits:
        images = BuiltinImages(split, size=size, scale=scale, seed=seed)
        for image, path in zip(images.images, images.paths):
            target = folder / split / (path.removeprefix("builtin/") + ".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                tmp.write_bytes(encode_png(image).numpy().tobytes())
        counts[split] = len(images.paths)
    return counts
