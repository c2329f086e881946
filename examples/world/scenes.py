"""A captioned procedural world for the unified Transformer: one shape, one colour, one place per scene.

Grammar: a scene holds one object, ``shape`` in :data:`SHAPES` (circle, square, triangle) x ``colour`` in
:data:`COLOURS` (red, green, blue, yellow) x ``cell`` in :data:`CELLS` (the four cells of a 2x2 grid: top left,
top right, bottom left, bottom right): 48 combinations. Its canonical caption reads
``"a red circle at the top left"``. Nuisance variation the caption does not describe: the object's size
(radius 0.18-0.24 of the side, so it nearly fills its cell), its offset inside the cell (+-0.03 of the side), its rotation (squares and
triangles), the exact shade of its colour and of the grey background.

Images are rendered at ``size`` x ``size`` with analytically antialiased edges (coverage from the signed distance
to the outline, as :func:`omnitok.data.builtin.render_scene` does), uint8 [3, S, S]. Scene ``index`` of a split is a
pure function of ``(world seed, split, index)``; "train", "val" and "test" draw from disjoint seed ranges.

Held-out combinations: with ``unseen_combinations=k`` the world sets aside ``k`` of the 48 combinations
(chosen by the world seed, at most one per shape-colour pair so every shape, colour and cell is still seen):
"train" never shows them, "val"/"test" draw uniformly from all 48, and :meth:`World.is_unseen` tells which
held-out scenes use one. With the default ``k=0`` held-out scenes are new renderings (new sizes, offsets,
rotations, shades) of combinations that training also shows.

Chance levels (uniform guessing over the grammar, which is how held-out scenes are drawn): exact caption
1/48; per attribute shape 1/3, colour 1/4, cell 1/4 (mean 0.278). :func:`chance_levels` returns them.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from omnitok.config import Configurable
from omnitok.data.images import check_size, mix_seed
from omnitok.errors import ConfigError, DataError

Split = Literal["train", "val", "test"]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.12),
    "green": (0.10, 0.65, 0.20),
    "blue": (0.12, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.10),
}
CELLS: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right")
ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "cell")
"""The attributes of a scene, in the order of :meth:`Scene.labels`."""
NUM_CLASSES: dict[str, int] = {"shape": len(SHAPES), "colour": len(COLOURS), "cell": len(CELLS)}
SPLIT_SEED_START: dict[str, int] = {"train": 0, "val": 1_000_000, "test": 2_000_000}
_CAPTION = re.compile(
    r"a (?P<colour>{}) (?P<shape>{}) at the (?P<cell>{})".format("|".join(COLOURS), "|".join(SHAPES), "|".join(CELLS))
)


@dataclasses.dataclass(frozen=True)
class Scene:
    """One scene: its attributes (names from :data:`SHAPES`, :data:`COLOURS`, :data:`CELLS`) and render seed."""

    shape: str
    colour: str
    cell: str
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("shape", self.shape, SHAPES),
            ("colour", self.colour, tuple(COLOURS)),
            ("cell", self.cell, CELLS),
        ):
            if value not in allowed:
                raise DataError(f"unknown {name} {value!r}; the world has {list(allowed)}")

    @property
    def caption(self) -> str:
        """The canonical caption, e.g. ``"a red circle at the top left"``."""
        return f"a {self.colour} {self.shape} at the {self.cell}"

    @property
    def combination(self) -> tuple[str, str, str]:
        return (self.shape, self.colour, self.cell)

    def labels(self) -> Tensor:
        """LongTensor [3]: class index of (shape, colour, cell)."""
        return torch.tensor(
            [SHAPES.index(self.shape), list(COLOURS).index(self.colour), CELLS.index(self.cell)], dtype=torch.long
        )


def parse_caption(text: str) -> Scene | None:
    """The scene a caption describes (seed 0), or None when ``text`` is not exactly a caption of the grammar."""
    match = _CAPTION.fullmatch(text.strip())
    if match is None:
        return None
    return Scene(match["shape"], match["colour"], match["cell"])


def chance_levels() -> dict[str, float]:
    """Accuracy of uniform guessing over the grammar: per attribute, their mean, and the exact caption."""
    per = {name: 1.0 / n for name, n in NUM_CLASSES.items()}
    return {**per, "mean_attribute": sum(per.values()) / len(per), "exact": 1.0 / math.prod(NUM_CLASSES.values())}


def all_combinations() -> list[tuple[str, str, str]]:
    """The 48 (shape, colour, cell) combinations in a fixed order."""
    return [(s, c, p) for s in SHAPES for c in COLOURS for p in CELLS]


class World(Configurable):
    """The scene generator: deterministic scenes per split, rendering, and the held-out combination set.

    Args:
        size: image side in pixels (>= 16; the scenes are laid out relative to the side).
        unseen_combinations: combinations never shown in "train" (0 to 12; see the module docstring).
        seed: world seed: scene draws and the choice of unseen combinations.
    """

    def __init__(self, size: int = 32, unseen_combinations: int = 0, seed: int = 0) -> None:
        check_size(size)
        if size < 16:
            raise ConfigError(f"world images need a side of at least 16 pixels, got {size}")
        pairs = len(SHAPES) * len(COLOURS)
        if not 0 <= unseen_combinations <= pairs:
            raise ConfigError(f"unseen_combinations must be in [0, {pairs}], got {unseen_combinations}")
        self.size, self.seed = size, seed
        rng = np.random.default_rng(mix_seed("world-unseen", seed))
        chosen = rng.permutation(pairs)[:unseen_combinations]  # distinct shape-colour pairs, each in one random cell
        self.unseen: frozenset[tuple[str, str, str]] = frozenset(
            (SHAPES[i // len(COLOURS)], list(COLOURS)[i % len(COLOURS)], CELLS[int(rng.integers(len(CELLS)))])
            for i in chosen.tolist()
        )

    def scene_seed(self, split: Split, index: int) -> int:
        """The seed of scene ``index`` of ``split`` (disjoint ranges per split)."""
        if split not in SPLIT_SEED_START:
            raise ConfigError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if not 0 <= index < 1_000_000:
            raise ConfigError(f"scene index must be in [0, 1e6), got {index}")
        return 3_000_000 * self.seed + SPLIT_SEED_START[split] + index

    def scene(self, split: Split, index: int) -> Scene:
        """Scene ``index`` of ``split``: attributes drawn uniformly ("train" redraws the unseen combinations)."""
        seed = self.scene_seed(split, index)
        rng = np.random.default_rng(seed)
        while True:
            shape, colour, cell = (int(rng.integers(n)) for n in NUM_CLASSES.values())
            combination = (SHAPES[shape], list(COLOURS)[colour], CELLS[cell])
            if split != "train" or combination not in self.unseen:
                return Scene(*combination, seed=seed)

    def is_unseen(self, scene: Scene) -> bool:
        """True when ``scene``'s combination never appears in "train"."""
        return scene.combination in self.unseen

    def render(self, scene: Scene) -> Tensor:
        """The image of ``scene``: uint8 [3, size, size]; the nuisance variation is drawn from ``scene.seed``."""
        return render_world_scene(scene, self.size)

    def describe(self) -> str:
        unseen = ", ".join(" ".join(c) for c in sorted(self.unseen)) or "none"
        return (
            f"World(size={self.size}, seed={self.seed}): one object per scene, {len(SHAPES)} shapes x "
            f"{len(COLOURS)} colours x {len(CELLS)} cells = {len(all_combinations())} combinations; "
            f"combinations held out of training: {unseen}"
        )


def render_world_scene(scene: Scene, size: int) -> Tensor:
    """Render ``scene`` at ``size`` x ``size`` -> uint8 [3, size, size] (see the module docstring)."""
    rng = np.random.default_rng(mix_seed("world-render", scene.seed))
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = axis[:, None], axis[None, :]  # (size, 1), (1, size) in (0, 1)
    grey = 0.72 + 0.2 * rng.random()
    image = np.full((3, size, size), grey, dtype=np.float32)

    cell = CELLS.index(scene.cell)
    cy = (0.25 if cell < 2 else 0.75) + 0.06 * (rng.random() - 0.5)
    cx = (0.25 if cell % 2 == 0 else 0.75) + 0.06 * (rng.random() - 0.5)
    radius = 0.18 + 0.06 * rng.random()
    theta = (rng.random() - 0.5) * math.pi / 6  # +-15 degrees
    colour = np.clip(np.array(COLOURS[scene.colour], dtype=np.float32) + 0.08 * (rng.random(3) - 0.5), 0, 1)
    dx, dy = xx - cx, yy - cy
    if scene.shape == "circle":
        signed = np.sqrt(dx**2 + dy**2) - radius
    elif scene.shape == "square":
        a = dx * math.cos(theta) + dy * math.sin(theta)
        b = -dx * math.sin(theta) + dy * math.cos(theta)
        half = radius * 0.85  # about the circle's area
        signed = np.maximum(np.abs(a), np.abs(b)) - half
    else:  # upward-pointing triangle, rotated by theta around its centre
        angles = theta + np.array([-math.pi / 2, math.pi / 6, 5 * math.pi / 6])
        vx = cx + 1.15 * radius * np.cos(angles)
        vy = cy + 0.15 * radius + 1.15 * radius * np.sin(angles)  # lowered so the apex stays inside the image
        signed = np.full((size, size), -np.inf, dtype=np.float32)
        for i in range(3):  # signed distance to each edge's line, negative inside
            ex, ey = vx[(i + 1) % 3] - vx[i], vy[(i + 1) % 3] - vy[i]
            edge = ((xx - vx[i]) * ey - (yy - vy[i]) * ex) / math.hypot(ex, ey)
            signed = np.maximum(signed, edge.astype(np.float32))
    coverage = np.clip(0.5 - signed * size, 0, 1).astype(np.float32)  # fraction of each pixel inside
    image = image + coverage * (colour[:, None, None] - image)
    return torch.from_numpy(np.clip(np.round(image * 255), 0, 255).astype(np.uint8))


def spoken_caption(scene: Scene, sample_rate: int = 16_000, voice: str = "en-us", speed: int = 160) -> Tensor:
    """The caption of ``scene`` spoken by espeak-ng (pitch 50): float [1, S] in [-1, 1] at ``sample_rate``; see
    :mod:`examples.world.speech` for the world's voice variants.

    Raises:
        DataError: espeak-ng is not installed or fails.
    """
    from examples.world.speech import Voice, speak

    return speak(scene.caption, Voice(voice, speed, 50), sample_rate)


class WorldScenes(Dataset):
    """``count`` scenes of one split, rendered once into memory.

    Samples: ``{"image": float [3, S, S] in [-1, 1], "caption": str, "labels": LongTensor [3], "path": str}``
    (``path`` names the scene, ``world/<split>/<seed>``, so image tools that report paths work unchanged).

    Attributes:
        scenes: the :class:`Scene` list; images: uint8 [N, 3, S, S]; labels: LongTensor [N, 3].
    """

    def __init__(self, world: World, split: Split, count: int) -> None:
        if count < 0:
            raise ConfigError(f"count must be >= 0, got {count}")
        self.world, self.split = world, split
        self.scenes = [world.scene(split, i) for i in range(count)]
        self.images = (
            torch.stack([world.render(s) for s in self.scenes])
            if count
            else torch.empty(0, 3, world.size, world.size, dtype=torch.uint8)
        )
        self.labels = torch.stack([s.labels() for s in self.scenes]) if count else torch.empty(0, 3, dtype=torch.long)

    def set_epoch(self, epoch: int) -> None:
        """No-op (the scenes are fixed); present so training code can treat every dataset alike."""

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        scene = self.scenes[index]
        return {
            "image": self.images[index].float().div(127.5).sub(1.0),
            "caption": scene.caption,
            "labels": self.labels[index],
            "path": f"world/{self.split}/{scene.seed}",
        }
