"""Labelled images for semantic figures: procedural shape/colour scenes and ImageNet-style class folders.

Scenes (:func:`render_labelled_scene`): one main shape of a known kind (ellipse, rectangle, triangle) in a known
colour family (red, green, blue) over a grey-ish gradient background with texture and grain; the label is
``shape * 3 + colour`` (9 classes, chance 1/9). Position, size, rotation, aspect, exact hue and background are
random, so a classifier has to see the shape's outline and colour, not a fixed pixel pattern. The scene for a seed
is a pure function of the seed and the size. Splits use disjoint seed ranges, like :func:`scene_seed`.

Folders (:func:`labelled_folder`): ``root/<class>/<image>`` (the ImageNet layout); classes sorted by name.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from omnitok.data.images import check_size, list_image_files, read_image
from omnitok.errors import DataError

SHAPES: tuple[str, ...] = ("ellipse", "rectangle", "triangle")
COLOURS: tuple[str, ...] = ("red", "green", "blue")
SCENE_CLASSES: tuple[str, ...] = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)
_SEED_START = {"train": 5_000_000, "test": 6_000_000}


@dataclasses.dataclass
class LabelledImages:
    """images: uint8 [N, 3, S, S]; labels: int64 [N] indexing ``classes``."""

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3 or self.images.dtype != torch.uint8:
            raise DataError(
                f"labelled images must be uint8 [N, 3, S, S], got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(f"{self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, start: int, stop: int) -> Tensor:
        """Images ``start:stop`` as float in [-1, 1] (the tokenizers' input range)."""
        return self.images[start:stop].float() / 127.5 - 1


def render_labelled_scene(seed: int, size: int) -> tuple[Tensor, int]:
    """One labelled scene: (uint8 [3, size, size], label in [0, 9)). Deterministic in ``seed``."""
    check_size(size)
    rng = np.random.default_rng(seed)
    shape, colour = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLOURS)))
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = axis[:, None], axis[None, :]  # (size, 1), (1, size) in (0, 1)

    # background: a low-saturation gradient, so the colour of the main shape is the only strong hue
    grey = rng.uniform(0.25, 0.75, size=2).astype(np.float32)
    tint = rng.uniform(-0.08, 0.08, size=(2, 3)).astype(np.float32)
    c0, c1 = grey[0] + tint[0], grey[1] + tint[1]
    angle = rng.random() * 2 * math.pi
    t = ((xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle)) + 0.5
    image = c0[:, None, None] * (1 - t) + c1[:, None, None] * t  # (3, size, size)

    rgb = np.full(3, rng.uniform(0.0, 0.25), dtype=np.float32)
    rgb[colour] = rng.uniform(0.75, 1.0)
    rgb += rng.uniform(-0.1, 0.1, size=3).astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7, size=2)
    radius, aspect, theta = rng.uniform(0.17, 0.27), rng.uniform(0.0, 1.0), rng.random() * math.pi
    signed = _signed_distance(SHAPES[shape], xx, yy, float(cx), float(cy), radius, aspect, theta)
    coverage = np.clip(0.5 - signed * size, 0, 1)  # fraction of each pixel inside: antialiased edges
    image = image + coverage * (rgb[:, None, None] - image)
    image = image + rng.uniform(0.0, 0.03) * rng.standard_normal((3, size, size), dtype=np.float32)
    return torch.from_numpy(np.clip(np.round(image * 255), 0, 255).astype(np.uint8)), shape * len(COLOURS) + colour


def _signed_distance(
    kind: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, radius: float, aspect: float, theta: float
) -> np.ndarray:
    """Signed distance (negative inside, in units of the image side) to an ellipse, rectangle or triangle."""
    if kind == "triangle":  # roughly equilateral, so its area matches the other shapes'
        angles = theta + np.array([0.0, 2.09, 4.19])
        vx, vy = cx + 1.3 * radius * np.cos(angles), cy + 1.3 * radius * np.sin(angles)
        signed = np.full(np.broadcast_shapes(xx.shape, yy.shape), -np.inf, dtype=np.float32)
        for i in range(3):
            ex, ey = vx[(i + 1) % 3] - vx[i], vy[(i + 1) % 3] - vy[i]
            signed = np.maximum(
                signed, (((xx - vx[i]) * ey - (yy - vy[i]) * ex) / math.hypot(ex, ey)).astype(np.float32)
            )
        return signed
    dx, dy = xx - cx, yy - cy
    a = dx * math.cos(theta) + dy * math.sin(theta)
    b = -dx * math.sin(theta) + dy * math.cos(theta)
    half_a, half_b = radius * (0.75 + 0.5 * aspect), radius * (1.25 - 0.5 * aspect)
    if kind == "ellipse":
        return (np.sqrt((a / half_a) ** 2 + (b / half_b) ** 2) - 1) * min(half_a, half_b)
    return np.maximum(np.abs(a) - half_a * 0.9, np.abs(b) - half_b * 0.9)


def labelled_scenes(
    count: int, size: int = 32, split: Literal["train", "test"] = "train", seed: int = 0
) -> LabelledImages:
    """``count`` labelled scenes of ``split`` (disjoint seed ranges per split and dataset seed)."""
    if split not in _SEED_START:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 0 < count < 1_000_000:
        raise ValueError(f"count must be in [1, 1e6), got {count}")
    rendered = [render_labelled_scene(10_000_000 * seed + _SEED_START[split] + i, size) for i in range(count)]
    images = torch.stack([image for image, _ in rendered])
    return LabelledImages(images, torch.tensor([label for _, label in rendered]), SCENE_CLASSES)


def labelled_folder(root: str | Path, size: int, max_per_class: int | None = None) -> LabelledImages:
    """Images under ``root/<class>/...`` (ImageNet layout), resized and centre-cropped to ``size``.

    Raises:
        DataError: ``root`` is missing, has fewer than two class folders, or a class folder has no images.
    """
    from omnitok.data.images import resize_and_crop

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"labelled image folder not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(f"{root} needs at least two class folders (root/<class>/<image>), found {len(classes)}")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = list_image_files(root / name)
        if not files:
            raise DataError(f"class folder {root / name} holds no images")
        for path in files[:max_per_class]:
            image = resize_and_crop(read_image(path, size), size)  # float [3, S, S] in [-1, 1]
            images.append(((image + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
            labels.append(label)
    return LabelledImages(torch.stack(images), torch.tensor(labels), tuple(classes))
