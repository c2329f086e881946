"""Listing the media files of a folder: one walk for images, audio, video and token files.

Every lister shares one rule set: recursive, extensions matched case-insensitively, hidden files and folders
(names starting with ``.``, e.g. macOS ``._clip.mp4`` resource forks or a killed writer's temporary files)
skipped, symbolic links to folders followed once, results sorted by relative path. A folder that cannot be
listed (no permission, an I/O error) is an error, never a silently smaller data set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from omnitok.errors import DataError


def list_files(root: str | os.PathLike, extensions: Iterable[str], kind: str) -> list[Path]:
    """Every file under ``root`` whose suffix is one of ``extensions`` (lower case, with the dot), sorted by path.

    Args:
        root: the folder to search.
        extensions: e.g. ``{".png", ".jpg"}``.
        kind: what the files are, for messages ("image", "audio", "video", "token").

    Raises:
        DataError: ``root`` is missing or not a folder, a folder under it cannot be listed (named in the message),
            or no matching file exists.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{kind} folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"not a folder: {root} (expected a folder of {kind} files)")
    wanted = frozenset(e.lower() for e in extensions)
    files: list[Path] = []
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True, onerror=_refuse_unlistable):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink cycle, or two links to the same folder
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files.extend(Path(folder, n) for n in names if not n.startswith(".") and Path(n).suffix.lower() in wanted)
    if not files:
        raise DataError(f"no {kind} files ({', '.join(sorted(wanted))}) under {root}")
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _refuse_unlistable(err: OSError) -> None:
    raise DataError(f"cannot list folder {err.filename}: {err.strerror or err}") from None
