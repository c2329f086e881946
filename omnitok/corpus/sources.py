"""Where ``omnitok tokenize`` reads its inputs (``--data``): :func:`open_source` picks one of

- :class:`LocalFiles`: a local folder (searched recursively by the modality's lister) or a text file listing one
  input per line;
- :class:`PackedInputs`: packed shards written by ``omnitok data pack`` (a folder holding ``pack.json``), local or
  on object storage (``s3://``, ``gs://``, ``azure://``), read by litdata's own downloaders as training reads them;
- :class:`FsspecFolder`: a folder behind any other URL that fsspec opens (``https://``, ``ftp://``, ``sftp://``,
  ``hf://``, ``memory://``, ...), listed and fetched through fsspec.

Every source gives the driver its inputs as ``(key, locator)`` pairs in a stable order (the plan, resume and shard
layout depend on it) and gives the encoding actors each input as a local file (remote bytes go to a temporary file
with the input's suffix, so the one reader per modality decodes them), the name the shard row records as its
``source``, and its caption: the UTF-8 sidecar with the suffix ``.txt`` beside the input (``cat.png`` ->
``cat.txt``), or None. Sources are pickled to the actors; a packed source opens its litdata dataset there.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from omnitok.errors import ConfigError, DataError

LIST_SUFFIXES = (".txt", ".lst")
CAPTION_SUFFIX = ".txt"
OBJECT_STORES = ("s3://", "gs://", "azure://")  # the remote schemes litdata downloads packed shards from
PACK_MANIFEST = "pack.json"  # trainers.packing.MANIFEST (omnitok.corpus must not import the trainers)


class LocalFiles:
    """A local folder or file list."""

    def __init__(self, data: str) -> None:
        self.data = data

    def list_inputs(self, modality: Any) -> list[tuple[str, str]]:
        """(key, path): a folder's files (keys relative to it) or a list's lines (keys as written, relative paths
        resolved from the list's folder)."""
        path = Path(self.data)
        if path.is_dir():
            return [(f.relative_to(path).as_posix(), str(f)) for f in modality.list_files(path)]
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = [line.strip() for line in path.read_text().splitlines()]
            except (OSError, UnicodeDecodeError) as err:
                raise DataError(f"{path}: cannot read the file list ({err})") from None
            entries = [(line, str(path.parent / line)) for line in lines if line and not line.startswith("#")]
            if not entries:
                raise DataError(f"{path}: the file list names no inputs")
            keys = [k for k, _ in entries]
            if len(set(keys)) != len(keys):
                raise DataError(f"{path}: the file list names an input twice")
            return entries
        if path.is_file():
            raise DataError(
                f"{path}: --data takes a folder, a file list ({'/'.join(LIST_SUFFIXES)}) or packed shards, "
                "not a media file"
            )
        raise DataError(f"no such file or folder: {path}")

    @contextlib.contextmanager
    def open_input(self, locator: str) -> Iterator[tuple[Path, str, str | None]]:
        path = Path(locator)
        yield path, locator, read_caption(path)


class PackedInputs:
    """Packed shards (``omnitok data pack``), local or on object storage. Keys are the samples' positions in the
    pack (zero-padded, so they sort in stored order); a row's ``source`` is ``ROOT/<the file's key in the pack>``.
    Packs hold no caption sidecars: rows carry no text."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._dataset: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "_dataset": None}  # each actor opens its own litdata dataset

    def _samples(self) -> Any:
        if self._dataset is None:
            from litdata import StreamingDataset

            try:
                self._dataset = StreamingDataset(self.root, shuffle=False)
                # whole chunks into litdata's cache (its ranged reads of remote chunks returned no bytes in 0.2.76)
                self._dataset._on_demand_bytes = False
                self._dataset[0]  # opens the cache (a remote pack's index.json is downloaded here)
            except (FileNotFoundError, ValueError, OSError) as err:
                hint = " (object storage is read as packed shards: pack the media with `omnitok data pack` first)"
                remote = self.root.startswith(OBJECT_STORES)
                raise DataError(f"cannot read packed shards at {self.root}: {err}{hint if remote else ''}") from None
        return self._dataset

    def list_inputs(self, modality: Any) -> list[tuple[str, str]]:
        count = len(self._samples().cache)  # every sample, whatever this process's rank
        width = max(9, len(str(count)))
        return [(f"{i:0{width}d}", str(i)) for i in range(count)]

    @contextlib.contextmanager
    def open_input(self, locator: str) -> Iterator[tuple[Path, str, str | None]]:
        item = self._samples()[int(locator)]
        key = str(item["key"])
        with _local_copy(bytes(item["data"]), PurePosixPath(key).suffix) as path:
            yield path, f"{self.root}/{key}", None


class FsspecFolder:
    """A folder behind an fsspec URL: its files of the modality (recursive, hidden names skipped, sorted by path
    relative to the folder), fetched to temporary files one at a time."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _filesystem(self) -> tuple[Any, str]:
        try:
            from fsspec.core import url_to_fs

            return url_to_fs(self.url)
        except (ImportError, ValueError) as err:
            raise ConfigError(f"--data {self.url}: fsspec cannot open this URL ({err})") from None

    def list_inputs(self, modality: Any) -> list[tuple[str, str]]:
        fs, root = self._filesystem()
        try:
            found = fs.find(root)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot list {self.url}: {err}") from None
        protocol, base = self.url.split("://", 1)[0], root.rstrip("/")
        wanted, inputs = frozenset(modality.file_suffixes), []
        for path in found:  # string arithmetic: a PurePosixPath would fold the "//" of URL-shaped paths
            relative = path[len(base) :].lstrip("/") if path.startswith(base) else path
            hidden = any(part.startswith(".") for part in relative.split("/"))
            if hidden or PurePosixPath(relative).suffix.lower() not in wanted:
                continue
            inputs.append((relative, path if "://" in path else f"{protocol}://{path}"))
        if not inputs:
            raise DataError(f"no {modality.name} files ({', '.join(sorted(wanted))}) under {self.url}")
        return sorted(inputs)

    @contextlib.contextmanager
    def open_input(self, locator: str) -> Iterator[tuple[Path, str, str | None]]:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(locator)
        try:
            data = fs.cat_file(path)
        except (OSError, ValueError) as err:
            raise DataError(f"{locator}: cannot read ({err})") from None
        suffix = PurePosixPath(path).suffix
        sidecar = path[: len(path) - len(suffix)] + CAPTION_SUFFIX
        caption = None
        if fs.isfile(sidecar):
            try:
                caption = fs.cat_file(sidecar).decode("utf-8").strip()
            except (OSError, UnicodeDecodeError) as err:
                raise DataError(f"{sidecar}: cannot read the caption ({err})") from None
        with _local_copy(data, suffix) as local:
            yield local, locator, caption


def open_source(data: str) -> LocalFiles | PackedInputs | FsspecFolder:
    """The source ``--data`` names (see the module docstring)."""
    if data.startswith(OBJECT_STORES):
        return PackedInputs(data)
    if "://" in data and not data.startswith("file://"):
        return FsspecFolder(data)
    local = data.removeprefix("file://")
    if (Path(local) / PACK_MANIFEST).is_file():
        return PackedInputs(local)
    return LocalFiles(local)


def read_caption(source: Path) -> str | None:
    """The caption of ``source`` from its ``.txt`` sidecar (``cat.png`` -> ``cat.txt``), or None without one."""
    sidecar = source.with_suffix(CAPTION_SUFFIX)
    if sidecar == source or not sidecar.is_file():
        return None
    try:
        return sidecar.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{sidecar}: cannot read the caption ({err})") from None


@contextlib.contextmanager
def _local_copy(data: bytes, suffix: str) -> Iterator[Path]:
    """``data`` as a temporary file named with ``suffix`` (the readers pick their decoder by it), removed after."""
    handle, name = tempfile.mkstemp(prefix="omnitok-input-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        yield Path(name)
    finally:
        os.unlink(name)
