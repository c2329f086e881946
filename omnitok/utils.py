"""Small helpers shared across omnitok: atomic file writes and channels-first <-> token-list layouts."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it.

    An interrupted write leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; written files are meant to be shared
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def channels_last_flat(z: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """[B, D, *grid] -> ([B * prod(grid), D], (B, *grid))."""
    batch_grid = (z.shape[0], *z.shape[2:])
    flat = z.movedim(1, -1).reshape(-1, z.shape[1])
    return flat, batch_grid


def channels_first(flat: Tensor, batch_grid: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`channels_last_flat`: [N, D] -> [B, D, *grid]."""
    return flat.reshape(*batch_grid, flat.shape[-1]).movedim(-1, 1)


def entropy(probs: Tensor, dim: int = -1, eps: float = 1e-10) -> Tensor:
    """Shannon entropy in nats along ``dim``; zero-probability entries contribute nothing."""
    return -(probs * torch.log(probs.clamp_min(eps))).sum(dim)
