"""The video evaluation set: a folder of videos (or procedural moving-shapes clips), prepared by one pinned policy.

Policy: each file is decoded with :func:`omnitok.data.read_video` from its first frame, ``frames`` frames at a
frame ``stride`` (a video shorter than that repeats its last frame), every frame's shorter side resized to
``resolution`` (antialiased bicubic) and center-cropped to a square at the same place in every frame, kept as
uint8 [3, T, R, R]. The fingerprint hashes the policy and every used file's relative path and bytes.

``"generated"`` renders ``generated_clips`` clips of the moving-shapes test split
(:class:`omnitok.data.MovingShapes`, deterministic by seed; never the training seeds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor

from omnitok.errors import ConfigError, ShapeError
from omnitok.evaluation.sets import check_modality, to_uint8
from omnitok.protocol import TokenizerSpec

GENERATED = "generated"
GENERATED_FPS = 8.0
VIDEO_POLICY = (
    "{frames} frames from the first at stride {stride} (short videos repeat their last frame), shorter side "
    "resized to {r} (bicubic, antialiased), center crop {r} x {r} in every frame, 8-bit RGB"
)


@dataclasses.dataclass
class EvalVideos:
    """clips: uint8 [N, 3, T, R, R]; fps: frames per second of the clips as sampled (source fps / stride), used for
    previews; names: one per clip; fingerprint: SHA-256."""

    clips: Tensor
    names: list[str]
    root: str
    resolution: int
    stride: int
    fps: float
    fingerprint: str
    skipped: list[str] = dataclasses.field(default_factory=list)
    modality = "video"
    unit = "clips"
    scale = (0.0, 1.0)

    def __len__(self) -> int:
        return self.clips.shape[0]

    @property
    def frames(self) -> int:
        return self.clips.shape[2]

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.frames, self.resolution, self.resolution)

    def batch(self, start: int, stop: int) -> Tensor:
        """Clips start..stop as float32 [B, 3, T, R, R] in [0, 1]."""
        return self.clips[start:stop].float() / 255.0

    def select(self, indices: list[int]) -> Tensor:
        return self.clips[list(indices)].float() / 255.0

    def stored(self, indices: list[int]) -> Tensor:
        return self.clips[list(indices)]

    def store(self, x: Tensor) -> Tensor:
        return to_uint8(x)

    def describe(self) -> str:
        source = "generated moving shapes" if self.root == GENERATED else self.root
        return f"{len(self)} clips of {self.frames} frames from {source} at {self.resolution}x{self.resolution}"

    def check(self, spec: TokenizerSpec, name: str) -> None:
        check_modality(spec, name, self)
        if spec.channels != 3:
            raise ConfigError(f"{name} takes {spec.channels}-channel input; the evaluation clips are RGB (3 channels)")
        try:
            spec.grid(self.sample_shape)
        except ShapeError as err:
            t, s, _ = spec.downsample
            frames = f"1 + a multiple of {t}" if spec.causal_time else f"a multiple of {t}"
            raise ShapeError(
                f"{name} cannot take clips of {self.frames} frames at {self.resolution}x{self.resolution} ({err}); "
                f"it needs {frames} frames and a resolution that {s} divides"
            ) from None

    def protocol_fields(self) -> dict:
        policy = VIDEO_POLICY.format(frames=self.frames, stride=self.stride, r=self.resolution)
        details = {"frames": self.frames, "fps": self.fps, "stride": self.stride}
        return {"resolution": self.resolution, "policy": policy, "details": details}


def load_eval_videos(
    root: str | os.PathLike,
    frames: int,
    resolution: int,
    max_samples: int | None = None,
    seed: int = 0,
    skip_unreadable: bool = False,
    stride: int = 1,
    generated_clips: int = 16,
) -> EvalVideos:
    """Read the video evaluation set from a folder (mp4/mov/mkv/webm/avi, searched recursively) or ``"generated"``.

    Args:
        frames: clip length T (the tokenizer's temporal factor must fit it, e.g. 1 + 4k for causal ones).
        resolution: side R of the square frames.
        max_samples: use at most this many videos, a subset drawn with ``seed``.
        seed: the subset; for ``"generated"`` the clips' seeds.
        skip_unreadable: leave out unreadable videos (listed in ``skipped``) instead of failing.
        stride: take every ``stride``-th frame.
        generated_clips: how many clips ``"generated"`` renders (before ``max_samples``).

    Raises:
        DataError: missing or empty folder, or an unreadable video (unless ``skip_unreadable``).
    """
    from omnitok.evaluation.data import choose_subset

    if frames < 1 or resolution < 1 or stride < 1:
        raise ConfigError(f"frames, resolution and stride must be positive, got {frames}, {resolution}, {stride}")
    if str(root) == GENERATED:
        from omnitok.data.video_synthetic import MovingShapes

        source = MovingShapes(split="test", frames=frames, size=resolution, clips=generated_clips, seed=seed)
        order = choose_subset(list(range(len(source))), max_samples, seed)
        clips, names = source.clips[order], [source.paths[i] for i in order]
        policy = f"procedural moving shapes (test split, seed {seed}), {frames} frames at {resolution}x{resolution}"
        digest = hashlib.sha256(f"{policy}\n".encode())
        for name, clip in zip(names, clips):
            digest.update(name.encode() + b"\0" + clip.numpy().tobytes())
        return EvalVideos(clips, names, GENERATED, resolution, 1, GENERATED_FPS, digest.hexdigest())
    from omnitok.data.video import list_video_files

    root = Path(root)
    files = choose_subset(list_video_files(root), max_samples, seed)
    return _read(root, files, frames, resolution, stride, skip_unreadable)


def _read(root: Path, files: list[Path], frames: int, resolution: int, stride: int, skip: bool) -> EvalVideos:
    from omnitok.data.video import read_video, resize_and_crop_video, video_info
    from omnitok.evaluation.data import read_files

    policy = VIDEO_POLICY.format(frames=frames, stride=stride, r=resolution)
    digest = hashlib.sha256(f"{policy}\n".encode())
    samples, names, skipped = read_files(
        root,
        files,
        digest,
        lambda path, _: (
            video_info(path).fps,
            read_video(path, frames, stride=stride, position="start", short="repeat_last"),
        ),
        lambda read: (
            read[0],
            to_uint8(resize_and_crop_video(read[1], resolution, crop="center", value_range=(0.0, 1.0))),
        ),
        "videos",
        skip,
    )
    rates, clips = [r for r, _ in samples], [c for _, c in samples]
    rates = [r for r in rates if r > 0]
    fps = (sorted(rates)[len(rates) // 2] if rates else GENERATED_FPS) / stride
    return EvalVideos(torch.stack(clips), names, str(root), resolution, stride, fps, digest.hexdigest(), skipped)


def videos_from_tensors(
    clips: Tensor, fps: float = GENERATED_FPS, names: list[str] | None = None, root: str = "tensors"
) -> EvalVideos:
    """An evaluation set from uint8 clips [N, 3, T, R, R] (fingerprint of the values)."""
    if clips.dtype != torch.uint8 or clips.ndim != 5 or clips.shape[1] != 3 or clips.shape[-1] != clips.shape[-2]:
        raise ShapeError(f"clips must be uint8 [N, 3, T, R, R], got {tuple(clips.shape)} {clips.dtype}")
    names = names or [f"clip_{i:04d}" for i in range(clips.shape[0])]
    digest = hashlib.sha256(b"tensors\n")
    digest.update(clips.contiguous().numpy().tobytes())
    return EvalVideos(clips, names, root, clips.shape[-1], 1, fps, digest.hexdigest())
