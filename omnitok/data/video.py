"""Video files: listing, decoding clips with decord, resize + crop, writing with PyAV, and a folder dataset.

A *sample* is ``{"video": FloatTensor [3, T, S, S] in [-1, 1], "path": str}`` (channels first, then time). A file
that cannot be read (missing, truncated, not a video, too short under ``short="skip"``) gives
``{"video": None, "path": str, "error": str}`` instead of raising, so one bad file never stops a run;
:func:`collate_videos` drops such samples and reports them in the batch's ``"skipped"`` list, which the trainer
counts exactly as it does for images.

Clips: ``T`` frames taken every ``stride`` frames of the file, or at a target ``fps`` (the step is the file's
frame rate divided by ``fps``, rounded per frame, so 30 fps sources give 10 fps clips by taking every third frame).
A file shorter than the clip's span is handled by the ``short`` policy:

- ``"loop"``: the clip continues from the file's first frame again (indices modulo the frame count);
- ``"repeat_last"``: the last frame is held (indices clamped);
- ``"skip"``: the file is treated as unusable (a failure sample, skipped and counted).

Decoding needs decord (the ``video`` extra); writing needs PyAV (``av``, which bundles FFmpeg), so neither the
FFmpeg command line nor torchvision's video IO is required.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

from omnitok.data.files import list_files
from omnitok.data.images import Crop, check_size, error_reason, mix_seed, resize_and_crop_pixels
from omnitok.errors import ConfigError, DataError, DTypeError, ShapeError
from omnitok.extras import extra_hint
from omnitok.limits import DECODED_VALUES, IMAGE_PIXELS

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
"""Lower-case suffixes :func:`list_video_files` picks up (containers FFmpeg, inside decord, reads)."""

ShortPolicy = Literal["loop", "repeat_last", "skip"]
SHORT_POLICIES: tuple[str, ...] = ("loop", "repeat_last", "skip")
Position = Literal["random", "start", "center"]

_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: ``frames`` decodable frames at ``fps`` frames per second, each ``height`` x ``width``."""

    frames: int
    fps: float
    height: int
    width: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


def list_video_files(root: str | os.PathLike) -> list[Path]:
    """Every video file (:data:`VIDEO_EXTENSIONS`, any case) under ``root``, recursively, sorted by path (the rules
    of :func:`omnitok.data.files.list_files`: hidden files skipped, unlistable folders refused).

    Raises:
        DataError: ``root`` is missing, is not a folder, cannot be listed, or holds no video files.
    """
    return list_files(root, VIDEO_EXTENSIONS, "video")


def _open(path: str | os.PathLike):
    """A decord VideoReader on ``path`` (one decoding thread), or a DataError naming the file."""
    import decord

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except _decode_errors() as err:
        raise DataError(f"{path}: cannot decode video ({_first_line(err)})") from None
    if len(reader) == 0:
        raise DataError(f"{path}: the video holds no frames")
    return reader


def _decode_errors() -> tuple[type[Exception], ...]:
    """What decord raises on unreadable or truncated input (its DECORDError is not a RuntimeError)."""
    import decord

    return (decord.DECORDError, RuntimeError, OSError, ValueError, IndexError)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


@extra_hint("reading video")
def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate and frame size of a video file (the size from its first frame, decoded).

    Raises:
        DataError: the file is missing, empty or not a decodable video.
    """
    reader = _open(path)
    try:
        height, width = reader[0].shape[:2]
    except _decode_errors() as err:
        raise DataError(f"{path}: cannot decode the first frame ({_first_line(err)})") from None
    return VideoInfo(frames=len(reader), fps=float(reader.get_avg_fps()), height=int(height), width=int(width))


def clip_indices(
    num_frames: int,
    frames: int,
    *,
    stride: int = 1,
    fps: float | None = None,
    source_fps: float | None = None,
    position: Position = "start",
    short: ShortPolicy = "repeat_last",
    generator: torch.Generator | None = None,
) -> list[int]:
    """Frame indices of a clip of ``frames`` frames from a video of ``num_frames`` frames.

    Args:
        num_frames: frames in the video (>= 1).
        frames: frames in the clip (>= 1).
        stride: take every ``stride``-th frame (ignored when ``fps`` is given).
        fps: target frame rate: the step is ``source_fps / fps`` frames (may be fractional; positions are rounded).
        source_fps: the video's frame rate (required with ``fps``).
        position: where the clip starts: ``"random"`` (uniform over the valid starts, drawn from ``generator``),
            ``"start"`` (frame 0) or ``"center"``.
        short: policy for videos shorter than the clip's span (see the module docstring).
        generator: the only source of randomness for ``position="random"``.

    Raises:
        DataError: the video is shorter than the clip and ``short="skip"``.
        ConfigError: inconsistent arguments.
    """
    if num_frames < 1:
        raise DataError(f"a video needs at least one frame, got {num_frames}")
    if frames < 1:
        raise ConfigError(f"clip frames must be >= 1, got {frames}")
    if short not in SHORT_POLICIES:
        raise ConfigError(f"short must be one of {SHORT_POLICIES}, got {short!r}")
    if position == "random" and generator is None:
        raise ConfigError("position='random' needs an explicit torch.Generator")
    if fps is not None:
        if fps <= 0 or not source_fps or source_fps <= 0:
            raise ConfigError(f"fps sampling needs positive fps and source_fps, got fps={fps}, source_fps={source_fps}")
        step = source_fps / fps
    else:
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        step = float(stride)
    offsets = [round(k * step) for k in range(frames)]
    span = offsets[-1] + 1
    if span > num_frames:
        if short == "skip":
            raise DataError(f"the video has {num_frames} frames, fewer than the clip's span of {span}")
        if short == "loop":
            return [o % num_frames for o in offsets]
        return [min(o, num_frames - 1) for o in offsets]
    last_start = num_frames - span
    if position == "random":
        start = int(torch.randint(last_start + 1, (), generator=generator))
    elif position == "center":
        start = last_start // 2
    elif position == "start":
        start = 0
    else:
        raise ConfigError(f"position must be 'random', 'start' or 'center', got {position!r}")
    return [start + o for o in offsets]


@extra_hint("reading video")
def read_video(
    path: str | os.PathLike,
    frames: int | None = None,
    *,
    stride: int = 1,
    fps: float | None = None,
    position: Position = "start",
    short: ShortPolicy = "repeat_last",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Decode a clip (or the whole video) into uint8 [3, T, H, W] RGB.

    Args:
        path: a video file.
        frames: clip length T; None decodes every frame (at ``stride`` / ``fps`` when given).
        stride, fps, position, short, generator: see :func:`clip_indices`.

    Raises:
        DataError: the file is missing, unreadable or truncated, or too short under ``short="skip"``.
    """
    reader = _open(path)
    total, source_fps = len(reader), float(reader.get_avg_fps())
    if frames is None:
        step = source_fps / fps if fps is not None and source_fps > 0 else float(stride)
        frames = max(1, math.floor((total - 1) / step) + 1) if step > 0 else total
    indices = clip_indices(
        total,
        frames,
        stride=stride,
        fps=fps,
        source_fps=source_fps,
        position=position,
        short=short,
        generator=generator,
    )
    _check_clip_size(path, len(indices))
    try:
        array = reader.get_batch(indices).asnumpy()  # (T, H, W, 3) uint8
    except _decode_errors() as err:  # a truncated stream fails here, after the container opened
        if "DECORDArrayCopyFromTo" not in str(err):
            raise DataError(f"{path}: cannot decode frames {indices[0]}..{indices[-1]} ({_first_line(err)})") from None
        array = _read_frames_pyav(path, indices)  # decord 0.6 cannot copy out frames narrower than 32 pixels
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] != len(indices):
        raise DataError(f"{path}: decoded to an unusable shape {array.shape}")
    return torch.from_numpy(array).permute(3, 0, 1, 2).contiguous()  # (3, T, H, W)


def _check_clip_size(path: str | os.PathLike, frames: int) -> None:
    """Refuse, before decoding, a clip whose frames exceed the pixel limit or whose ``frames`` frames exceed the
    decoded-values limit (:mod:`omnitok.limits`); the frame size comes from the stream header."""
    stat = os.stat(path)
    size = _frame_size(str(path), stat.st_mtime_ns, stat.st_size)
    if size is None:
        return  # decord opened it; its own decode reports what is wrong
    width, height = size
    problem = IMAGE_PIXELS.exceeded(width * height, f"{path} ({width}x{height} frames)") or DECODED_VALUES.exceeded(
        frames * height * width * 3, f"{path} ({frames} frames of {width}x{height})"
    )
    if problem:
        raise DataError(problem)


@functools.lru_cache(maxsize=65536)
def _frame_size(path: str, mtime_ns: int, size: int) -> tuple[int, int] | None:
    """(width, height) from the first video stream's header (PyAV), read once per file version: training reads
    many clips of the same files."""
    import av

    try:
        with av.open(path) as container:
            context = container.streams.video[0].codec_context
            return int(context.width), int(context.height)
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def _read_frames_pyav(path: str | os.PathLike, indices: list[int]):
    """Frames ``indices`` of a video decoded in order with PyAV -> uint8 array (T, H, W, 3)."""
    import av
    import numpy as np

    wanted, frames = set(indices), {}
    try:
        with av.open(str(path)) as container:
            for number, frame in enumerate(container.decode(video=0)):
                if number in wanted:
                    frames[number] = frame.to_ndarray(format="rgb24")
                if number >= max(indices):
                    break
    except (av.FFmpegError, ValueError) as err:
        raise DataError(f"{path}: cannot decode frames ({err})") from None
    missing = sorted(wanted - set(frames))
    if missing:
        raise DataError(f"{path}: frames {missing[:5]} could not be decoded (truncated file?)")
    return np.stack([frames[i] for i in indices])


def resize_and_crop_video(
    video: Tensor,
    size: int,
    crop: Crop = "center",
    generator: torch.Generator | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> Tensor:
    """Resize every frame's shorter side to ``size`` (antialiased bicubic), crop ``size`` x ``size`` at the same
    place in every frame, and scale to ``value_range``.

    Args:
        video: uint8 [3, T, H, W] (as :func:`read_video` returns).
        size: side of the output square.
        crop: ``"center"`` or ``"random"`` (one offset for the whole clip, drawn from ``generator``).
        value_range: ``(-1, 1)`` (training) or ``(0, 1)`` (metrics).

    Returns:
        float32 [3, T, size, size].
    """
    if video.dtype != torch.uint8:
        raise DTypeError(f"resize_and_crop_video expects a uint8 video, got {video.dtype}")
    if video.ndim != 4 or video.shape[0] != 3:
        raise ShapeError(f"resize_and_crop_video expects a video [3, T, H, W], got {tuple(video.shape)}")
    frames = resize_and_crop_pixels(video, size, crop, generator)  # every frame, one crop offset
    low, high = value_range
    return frames.float().div_(255.0).mul_(high - low).add_(low).contiguous()


@extra_hint("writing video")
def write_video(
    path: str | os.PathLike,
    video: Tensor,
    fps: float,
    *,
    value_range: tuple[float, float] | None = None,
    codec: str | None = None,
    crf: int = 18,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Encode [3, T, H, W] frames into a video file with PyAV, atomically (temp file + rename).

    Args:
        path: output file; the container follows the suffix (mp4, mov, mkv, webm, avi).
        video: uint8 [3, T, H, W], or float [3, T, H, W] in ``value_range`` (clipped).
        fps: frame rate stored in the file (fractional rates are kept as a rational).
        value_range: the range of a float ``video`` (required for float input).
        codec: an FFmpeg encoder bundled with PyAV ("libx264", "libvpx-vp9", "mpeg4"); default H.264, VP9 for webm.
        crf: x264 / VP9 constant-rate factor (lower is better quality; 0 is lossless luma for x264).
        pix_fmt: "yuv420p" (plays everywhere; needs even H and W) or e.g. "yuv444p".

    Raises:
        ShapeError / DTypeError: bad frames; DataError: an unknown container suffix or an encoder failure.
    """
    import fractions

    import av

    from omnitok.utils import atomic_path

    path = Path(path)
    container = _CONTAINERS.get(path.suffix.lower())
    if container is None:
        raise DataError(f"{path}: write one of {sorted(_CONTAINERS)}")
    codec = codec or ("libvpx-vp9" if container == "webm" else "libx264")
    if video.ndim != 4 or video.shape[0] != 3 or video.shape[1] == 0:
        raise ShapeError(f"write_video takes [3, T, H, W] with T >= 1, got {tuple(video.shape)}")
    if video.dtype != torch.uint8:
        if not video.is_floating_point():
            raise DTypeError(f"write_video takes uint8 or float frames, got {video.dtype}")
        if value_range is None:
            raise ConfigError("write_video: give value_range for float frames, e.g. (-1, 1) or (0, 1)")
        low, high = value_range
        video = ((video.detach().float() - low) / (high - low)).clamp(0, 1).mul(255).round().to(torch.uint8)
    height, width = video.shape[-2:]
    if pix_fmt == "yuv420p" and (height % 2 or width % 2):
        raise ShapeError(f"yuv420p video needs even frame sides, got {height}x{width}; crop or use pix_fmt='yuv444p'")
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    frames = video.permute(1, 2, 3, 0).cpu().numpy()  # (T, H, W, 3)
    rate = fractions.Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp:
        try:
            with av.open(str(tmp), mode="w", format=container) as output:
                stream = output.add_stream(codec, rate=rate)
                stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
                if codec in ("libx264", "libvpx-vp9"):
                    stream.options = {"crf": str(crf)} if codec == "libx264" else {"crf": str(crf), "b": "0"}
                for array in frames:
                    output.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
                output.mux(stream.encode())  # flush the encoder
        except (av.FFmpegError, ValueError) as err:
            raise DataError(f"{path}: could not encode video with {codec} ({err})") from None
    return path


def failure_sample(path: str, error: str) -> dict:
    """The sample standing in for an unusable file: ``{"video": None, "path": path, "error": error}``."""
    return {"video": None, "path": path, "error": error}


def collate_videos(samples: list[dict]) -> dict:
    """Batch samples, dropping the failed ones: ``DataLoader(..., collate_fn=collate_videos)``.

    Returns:
        ``{"video": float [B, 3, T, S, S], "path": list[str], "skipped": list["path: error"]}``; when every sample
        failed, ``video`` is ``torch.empty(0, 3, 0, 0, 0)`` (test ``video.shape[0] == 0``).
    """
    good = [s for s in samples if s.get("video") is not None]
    skipped = [f"{s['path']}: {s.get('error', 'unknown error')}" for s in samples if s.get("video") is None]
    if not good:
        return {"video": torch.empty(0, 3, 0, 0, 0), "path": [], "skipped": skipped}
    shapes = {tuple(s["video"].shape) for s in good}
    if len(shapes) > 1:
        raise ShapeError(f"cannot batch clips of different shapes {sorted(shapes)} (first: {good[0]['path']})")
    return {"video": torch.stack([s["video"] for s in good]), "path": [s["path"] for s in good], "skipped": skipped}


class VideoFolderDataset(Dataset):
    """Map-style dataset over video files: item i is a clip sample (module docstring) of ``files[i]``.

    With ``crop="random"`` the clip's start and crop are drawn from ``mix_seed(seed, epoch, i)`` alone (resumed
    runs see the same clips); with ``crop="center"`` (evaluation) clips start at frame 0 and are center-cropped.

    Args:
        files: video paths (e.g. from :func:`list_video_files`).
        frames: clip length T.
        size: side S of the square frames.
        stride: frame step (ignored when ``fps`` is given).
        fps: target frame rate of the clips (the step follows each file's own rate).
        crop: ``"random"`` (training) or ``"center"`` (evaluation).
        short: policy for files shorter than a clip.
        seed: base seed of the random starts and crops.
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        frames: int,
        size: int,
        stride: int = 1,
        fps: float | None = None,
        crop: Crop = "random",
        short: ShortPolicy = "repeat_last",
        seed: int = 0,
    ) -> None:
        check_size(size)
        if frames < 1:
            raise ConfigError(f"frames must be >= 1, got {frames}")
        if short not in SHORT_POLICIES:
            raise ConfigError(f"short must be one of {SHORT_POLICIES}, got {short!r}")
        if crop not in ("random", "center"):
            raise ConfigError(f"crop must be 'random' or 'center', got {crop!r}")
        self.files = [Path(f) for f in files]
        self.frames, self.size, self.stride, self.fps = frames, size, stride, fps
        self.crop: Crop = crop
        self.short: ShortPolicy = short
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        index = range(len(self.files))[index]
        return self.sample(self.files[index], torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, index)))

    def sample(self, path: str | os.PathLike, generator: torch.Generator) -> dict:
        """The clip sample of the file ``path`` under this dataset's settings, its random start and crop drawn from
        ``generator`` (unused with ``crop="center"``); a failure sample if the file cannot be used."""
        random = self.crop == "random"
        try:
            video = read_video(
                path,
                self.frames,
                stride=self.stride,
                fps=self.fps,
                position="random" if random else "start",
                short=self.short,
                generator=generator,
            )
            clip = resize_and_crop_video(video, self.size, self.crop, generator if random else None)
        except DataError as err:
            return failure_sample(str(path), error_reason(err, str(path)))
        return {"video": clip, "path": str(path)}
