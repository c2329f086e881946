"""Generated video that needs no download: procedural moving shapes, and FFmpeg's test sources through PyAV.

Moving shapes (:func:`moving_shapes_clip`): a two-colour gradient background drifting slowly, and 2-5 filled
ellipses, rotated rectangles and triangles (the shapes of :func:`omnitok.data.render_scene`) that translate at
constant speed, bounce off the frame's borders and rotate, with analytically antialiased edges. The clip for seed
``s`` is a pure function of ``(s, frames, size)``; a longer clip of the same seed starts with the shorter one.
Splits use the disjoint seed ranges of :func:`omnitok.data.scene_seed`.

Test sources (:func:`write_test_sources`): FFmpeg's ``testsrc``, ``testsrc2`` and ``mandelbrot`` lavfi sources,
rendered by the FFmpeg inside PyAV (no ``ffmpeg`` binary needed) and encoded to files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from omnitok.data.builtin import DEFAULT_SCENES, Split, scene_seed
from omnitok.data.images import check_size
from omnitok.errors import ConfigError, DataError

TEST_SOURCES: tuple[str, ...] = ("testsrc", "testsrc2", "mandelbrot")


def _bounce(position: np.ndarray, low: float = 0.1, high: float = 0.9) -> np.ndarray:
    """Fold positions into [low, high] as a ball bouncing between two walls (a triangle wave)."""
    width = high - low
    phase = np.mod(position - low, 2 * width)
    return low + np.where(phase > width, 2 * width - phase, phase)


def moving_shapes_clip(seed: int, frames: int, size: int) -> Tensor:
    """A procedural clip of moving, rotating shapes: uint8 [3, frames, size, size] (deterministic in ``seed``).

    Motion is laid out relative to the side (speeds of 1-4% of the side per frame), so a clip looks alike at any
    size. Rendering uses NumPy on one thread.
    """
    check_size(size)
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    rng = np.random.default_rng(seed)
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = axis[:, None, None], axis[None, :, None]  # (size, 1, 1), (1, size, 1): broadcast against time
    t = np.arange(frames, dtype=np.float32)[None, None, :]  # (1, 1, T)

    c0, c1 = rng.random(3, dtype=np.float32), rng.random(3, dtype=np.float32)
    angle = rng.random() * 2 * math.pi
    drift = (rng.random() - 0.5) * 0.02  # background phase per frame
    cos, sin = math.cos(angle), math.sin(angle)
    ramp = ((xx - 0.5) * cos + (yy - 0.5) * sin) / (abs(cos) + abs(sin)) + 0.5 + drift * t  # (S, S, T)
    ramp = _bounce(ramp, 0.0, 1.0)
    image = c0[:, None, None, None] * (1 - ramp) + c1[:, None, None, None] * ramp  # (3, S, S, T)

    for _ in range(int(rng.integers(2, 6))):
        kind = int(rng.integers(3))
        colour = rng.random(3, dtype=np.float32)
        cx, cy, radius, aspect, theta = rng.random(5).tolist()
        speed, heading, spin = rng.random(3).tolist()
        radius = 0.08 + 0.15 * radius
        speed = 0.01 + 0.03 * speed
        heading *= 2 * math.pi
        spin = (spin - 0.5) * 0.3  # radians per frame
        px = _bounce(0.1 + 0.8 * cx + speed * math.cos(heading) * t)  # (1, 1, T)
        py = _bounce(0.1 + 0.8 * cy + speed * math.sin(heading) * t)
        rot = theta * math.pi + spin * t
        dx, dy = xx - px, yy - py  # (S, S, T)
        a = dx * np.cos(rot) + dy * np.sin(rot)  # coordinates along the shape's own axes
        b = -dx * np.sin(rot) + dy * np.cos(rot)
        if kind == 2:  # triangle: three vertices on a circle, in the shape's rotating frame
            corners = np.array([0.0, 2.1, 4.2]) + 0.6 * (rng.random(3) - 0.5)
            vx, vy = 1.3 * radius * np.cos(corners), 1.3 * radius * np.sin(corners)
            signed = np.full(a.shape, -np.inf, dtype=np.float32)
            for i in range(3):  # signed distance to each edge's line, negative inside
                ex, ey = vx[(i + 1) % 3] - vx[i], vy[(i + 1) % 3] - vy[i]
                edge = ((a - vx[i]) * ey - (b - vy[i]) * ex) / math.hypot(ex, ey)
                signed = np.maximum(signed, edge.astype(np.float32))
        else:
            half_a, half_b = radius * (0.6 + 0.8 * aspect), radius * (1.4 - 0.8 * aspect)
            if kind == 0:  # ellipse (approximate distance, exact on circles)
                signed = (np.sqrt((a / half_a) ** 2 + (b / half_b) ** 2) - 1) * min(half_a, half_b)
            else:  # rotated rectangle
                signed = np.maximum(np.abs(a) - half_a, np.abs(b) - half_b)
        coverage = np.clip(0.5 - signed * size, 0, 1)  # (S, S, T): fraction of each pixel inside
        image = image + coverage * (colour[:, None, None, None] - image)

    video = np.clip(np.round(image * 255), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2)  # (3, T, S, S)
    return torch.from_numpy(np.ascontiguousarray(video))


class MovingShapes(Dataset):
    """A fixed set of procedural moving-shapes clips, rendered at construction; samples as in ``video.py``.

    Clip i of a split uses seed ``scene_seed(split, i, seed)`` (train 0.., val 1,000,000.., test 2,000,000..
    for ``seed=0``), so splits never share a clip. ``self.clips`` is uint8 [N, 3, T, S, S].

    Args:
        split: "train", "val" or "test".
        frames: clip length T.
        size: frame side S.
        clips: number of clips (default: 1024 / 64 / 256 like the built-in scenes).
        seed: dataset seed.
    """

    def __init__(
        self, split: Split = "train", frames: int = 9, size: int = 32, clips: int | None = None, seed: int = 0
    ):
        if split not in DEFAULT_SCENES:
            raise ConfigError(f"split must be 'train', 'val' or 'test', got {split!r}")
        clips = DEFAULT_SCENES[split] if clips is None else clips
        if clips < 1:
            raise ConfigError(f"clips must be >= 1, got {clips}")
        self.split, self.frames, self.size, self.seed = split, frames, size, seed
        self.seeds = [scene_seed(split, i, seed) for i in range(clips)]
        self.clips = torch.stack([moving_shapes_clip(s, frames, size) for s in self.seeds])
        self.paths = [f"generated/moving-shapes/{s}" for s in self.seeds]

    def set_epoch(self, epoch: int) -> None:
        """No-op (the clips are fixed); present so training code treats every dataset alike."""

    def __len__(self) -> int:
        return self.clips.shape[0]

    def __getitem__(self, index: int) -> dict:
        return {"video": self.clips[index].float().div_(127.5).sub_(1.0), "path": self.paths[index]}

    def describe(self) -> str:
        return (
            f"MovingShapes(split={self.split!r}): {len(self)} procedural clips of {self.frames} frames at "
            f"{self.size}x{self.size} (seeds {self.seeds[0]}..{self.seeds[-1]})"
        )


def write_moving_shapes(
    folder: str | os.PathLike,
    count: int,
    frames: int,
    size: int,
    fps: float = 8.0,
    seed: int = 0,
    split: Split = "train",
) -> list[Path]:
    """Write ``count`` moving-shapes clips as ``folder/shapes_XXXX.mp4`` (H.264, near-lossless); returns the paths.

    Files that already exist are kept (the content is a function of the arguments), so this doubles as a cache.
    """
    from omnitok.data.video import write_video

    folder = Path(folder)
    paths = []
    for i in range(count):
        path = folder / f"shapes_{i:04d}.mp4"
        if not path.exists():
            write_video(path, moving_shapes_clip(scene_seed(split, i, seed), frames, size), fps, crf=12)
        paths.append(path)
    return paths


def render_test_source(source: str, frames: int, width: int, height: int, fps: float = 8.0) -> Tensor:
    """Frames of an FFmpeg lavfi test source ("testsrc", "testsrc2", "mandelbrot"): uint8 [3, frames, H, W]."""
    import av

    if source not in TEST_SOURCES:
        raise ConfigError(f"unknown test source {source!r}; choose from {TEST_SOURCES}")
    description = f"{source}=size={width}x{height}:rate={fps}"
    try:
        with av.open(description, format="lavfi") as container:
            arrays = []
            for frame in container.decode(video=0):
                arrays.append(frame.to_ndarray(format="rgb24"))
                if len(arrays) == frames:
                    break
    except av.FFmpegError as err:
        raise DataError(f"FFmpeg could not render the {source} test source ({err})") from None
    return torch.from_numpy(np.stack(arrays)).permute(3, 0, 1, 2).contiguous()


def write_test_sources(
    folder: str | os.PathLike,
    frames: int = 24,
    width: int = 64,
    height: int = 48,
    fps: float = 8.0,
    sources: tuple[str, ...] = TEST_SOURCES,
) -> list[Path]:
    """Render each FFmpeg test source into ``folder/<source>.mp4``; returns the paths."""
    from omnitok.data.video import write_video

    return [
        write_video(Path(folder) / f"{source}.mp4", render_test_source(source, frames, width, height, fps), fps)
        for source in sources
    ]
