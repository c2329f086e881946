"""Small helpers shared across omnitok: atomic file writes and channels-first <-> token-list layouts."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch import Tensor

from omnitok.errors import OmnitokError, OutputError, ShapeError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it.

    An interrupted write leaves either the old file or the new one, never a partial file; a process killed outright
    leaves at most a hidden ``.NAME.XXXXXXXX.tmp`` beside it, which :func:`remove_stale_temporaries` clears.

    Raises:
        OutputError: the folder or the file cannot be written (read-only location, full disk, ...).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; written files are meant to be shared
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        os.replace(tmp_path, path)
    except OmnitokError:
        raise
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink(missing_ok=True)


TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX))


def remove_stale_temporaries(targets: Iterable[Path]) -> int:
    """Delete the temporary files an earlier, killed :func:`atomic_path` left beside any of ``targets``; returns
    how many were removed. Only names of ``atomic_path``'s own pattern for these targets are touched."""
    wanted: dict[Path, set[str]] = {}
    for target in targets:
        wanted.setdefault(Path(target).parent, set()).add(Path(target).name)
    removed = 0
    for folder, names in wanted.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _TEMPORARY.fullmatch(entry.name)
            if match and match["name"] in names and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed += 1
    return removed


def channels_last_flat(z: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """[B, D, *grid] -> ([B * prod(grid), D], (B, *grid))."""
    batch_grid = (z.shape[0], *z.shape[2:])
    flat = z.movedim(1, -1).reshape(-1, z.shape[1])
    return flat, batch_grid


def channels_first(flat: Tensor, batch_grid: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`channels_last_flat`: [N, D] -> [B, D, *grid]."""
    return flat.reshape(*batch_grid, flat.shape[-1]).movedim(-1, 1)


def fold_frames(x: Tensor) -> Tensor:
    """Clips [B, C, T, H, W] -> frames [B * T, C, H, W], clip-major (the frames of clip 0 first), so per-image
    networks and metrics run on video; :func:`unfold_frames` undoes it."""
    if x.ndim != 5:
        raise ShapeError(f"fold_frames takes video [B, C, T, H, W], got {tuple(x.shape)}")
    return x.transpose(1, 2).flatten(0, 1)


def unfold_frames(frames: Tensor, batch: int) -> Tensor:
    """Per-frame results [B * T, C, h, w] -> [B, C, T, h, w] (the inverse of :func:`fold_frames`)."""
    return frames.unflatten(0, (batch, -1)).transpose(1, 2)


def to_uint8(x01: Tensor) -> Tensor:
    """Values in [0, 1] -> uint8 in [0, 255], rounded to nearest (not truncated) and clamped."""
    return (x01.float() * 255.0).round().clamp(0, 255).to(torch.uint8)


def entropy(probs: Tensor, dim: int = -1, eps: float = 1e-10) -> Tensor:
    """Shannon entropy in nats along ``dim``; zero-probability entries contribute nothing."""
    return -(probs * torch.log(probs.clamp_min(eps))).sum(dim)
