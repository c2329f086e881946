"""Packing media files into litdata optimized shards (``omnitok data pack``), the training data format for scale-out.

A packed folder is what ``litdata.optimize`` writes (``chunk-*.bin`` + ``index.json``, read with
``litdata.StreamingDataset``) plus ``pack.json``. Each sample holds one file as it was on disk:

- ``key``: the file's path relative to the source folder (POSIX separators), unique in the folder;
- ``data``: the file's encoded bytes (not decoded pixels or samples), so training decodes them with the same readers
  and media checks as folder training.

Every file is checked with its modality's reader (:meth:`omnitok.modalities.Modality.check_file`) in the packing
workers; unreadable files are left out and listed in ``pack.json`` (``{"modality", "source", "samples", "skipped":
[{"path", "error"}]}``). The folder is written under a hidden temporary name beside ``out`` and renamed into place
when complete, so ``out`` is either absent, the old folder, or the finished one.

Several machines: litdata splits the file list across nodes when ``DATA_OPTIMIZER_NUM_NODES`` (machines) and
``DATA_OPTIMIZER_NODE_RANK`` (0 ... N-1) are set; the packing workers get ``DATA_OPTIMIZER_GLOBAL_RANK`` /
``DATA_OPTIMIZER_NUM_WORKERS`` from litdata. Every machine runs the same command with the same ``src`` and ``out`` on
a shared filesystem (after a failed multi-machine run, delete the hidden ``.OUT.packing`` folder before starting
again). Each node writes its chunks (named by litdata after the global worker rank) and its
``{rank}-index.json`` into its own subfolder of the shared temporary folder (litdata clears its output folder when it
starts, so nodes never share one); the last node (rank N-1) waits until every node is done, moves the chunks and node
indexes together, merges the node indexes with litdata's own merge (``index.json``), writes ``pack.json`` and
renames the folder into place.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnitok.errors import ConfigError, DataError, OutputError

INDEX = "index.json"  # litdata's index, written last: a folder without it is not a dataset
MANIFEST = "pack.json"
DEFAULT_CHUNK_BYTES = "64MB"
_SKIPPED = ".skipped"  # per-worker lists of skipped files inside the temporary folder
_NODE_DONE = ".node-{}.done"


@dataclass
class PackResult:
    """What :func:`pack_media` wrote: ``out`` (None on a node that is not the last), the modality's name, the number
    of samples stored, and the skipped files as ``{"path", "error"}``."""

    out: Path | None
    modality: str
    samples: int
    skipped: list[dict[str, str]] = field(default_factory=list)


def node_settings() -> tuple[int, int]:
    """(number of machines, this machine's rank) from litdata's ``DATA_OPTIMIZER_NUM_NODES`` / ``_NODE_RANK``."""
    try:
        nodes = int(os.environ.get("DATA_OPTIMIZER_NUM_NODES", "1") or 1)
        rank = int(os.environ.get("DATA_OPTIMIZER_NODE_RANK", "0") or 0)
    except ValueError as err:
        raise ConfigError(f"DATA_OPTIMIZER_NUM_NODES / DATA_OPTIMIZER_NODE_RANK must be integers ({err})") from None
    if nodes < 1 or not 0 <= rank < nodes:
        raise ConfigError(f"DATA_OPTIMIZER_NODE_RANK={rank} is outside 0..{nodes - 1} (DATA_OPTIMIZER_NUM_NODES)")
    return nodes, rank


def find_media(src: Path, modality: str | None = None) -> tuple[Any, list[Path]]:
    """(modality definition, its files under ``src``): the named modality, or the one registered modality whose files
    the folder holds.

    Raises:
        DataError: ``src`` is missing, not a folder, or holds no files of the modality (of any modality).
        ConfigError: an unknown modality name, or files of several modalities and no name to choose.
    """
    from omnitok.modalities import get_modality, registered_modalities

    if not src.exists():
        raise DataError(f"source folder not found: {src}")
    if not src.is_dir():
        raise DataError(f"not a folder: {src} (omnitok data pack reads a folder of media files)")
    if modality is not None:
        definition = get_modality(modality)
        return definition, definition.list_files(src)
    found: dict[str, tuple[Any, list[Path]]] = {}
    for name in registered_modalities():
        definition = get_modality(name)
        if not definition.file_suffixes:
            continue
        try:
            files = definition.list_files(src)
        except DataError as err:
            if str(err).startswith("no "):  # list_files' "no <kind> files (...) under <root>"
                continue
            raise
        found[name] = (definition, files)
    if not found:
        raise DataError(f"no media files under {src} (registered modalities: {', '.join(registered_modalities())})")
    if len(found) > 1:
        counts = ", ".join(f"{name}: {len(files)}" for name, (_, files) in found.items())
        raise ConfigError(f"{src} holds files of several modalities ({counts}); choose one with --modality")
    return next(iter(found.values()))


def pack_file(path: str, root: str, modality: Any, notes: str) -> Iterator[dict[str, Any]]:
    """litdata's worker function: one sample ``{"key", "data"}`` for a readable file, none for an unreadable one (its
    reason is appended to a per-process list in ``notes``)."""
    try:
        modality.check_file(Path(path))
        with open(path, "rb") as f:
            data = f.read()
    except (DataError, OSError) as err:
        reason = str(err).removeprefix(f"{path}: ")
        os.makedirs(notes, exist_ok=True)
        rank = os.environ.get("DATA_OPTIMIZER_GLOBAL_RANK", "0")
        with open(os.path.join(notes, f"{rank}-{os.getpid()}.jsonl"), "a") as f:
            f.write(json.dumps({"path": Path(path).relative_to(root).as_posix(), "error": reason}) + "\n")
        return
    yield {"key": Path(path).relative_to(root).as_posix(), "data": data}


def pack_media(
    src: str | os.PathLike,
    out: str | os.PathLike,
    modality: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    chunk_bytes: str | int = DEFAULT_CHUNK_BYTES,
    log: Callable[[str], None] = print,
) -> PackResult:
    """Pack the media files under ``src`` into litdata optimized shards in the folder ``out`` (module docstring).

    Args:
        src: a folder searched recursively for the modality's files (hidden files skipped).
        out: a local folder (on a filesystem every node sees, when packing on several machines); it must be absent
            or empty unless ``overwrite``.
        modality: a registered modality name; None infers it from the files.
        workers: packing processes on this machine (default: its CPU count).
        overwrite: replace an existing ``out``, once the new folder is complete.
        chunk_bytes: the size litdata closes a chunk at.

    Raises:
        DataError: a bad ``src``, or no readable file at all. ConfigError / OutputError: a bad ``out`` or setting.
    """
    import litdata

    src, out = Path(src), Path(out)
    if "://" in str(out):
        raise ConfigError(f"omnitok data pack writes a local folder, got {out}; copy it to object storage afterwards")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a folder to write the shards to")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"{out} is not empty; pass --overwrite to replace it")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    chunk_bytes = _chunk_bytes(chunk_bytes)
    definition, files = find_media(src, modality)
    if src.resolve() in out.resolve().parents or out.resolve() == src.resolve():
        raise ConfigError(f"{out} is inside the source folder {src}; write the shards elsewhere")
    nodes, rank = node_settings()
    work = out.parent / f".{out.name}.packing"
    if nodes == 1 and work.exists():
        shutil.rmtree(work)  # left by an interrupted run
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot write {work}: {err.strerror or err}") from None
    (work / _NODE_DONE.format(rank)).unlink(missing_ok=True)  # a marker left by an earlier, failed run
    workers = max(1, min(workers or os.cpu_count() or 1, len(files)))
    log(
        f"packing {len(files)} {definition.name} files from {src} with {workers} worker(s)"
        + (f" on node {rank} of {nodes}" if nodes > 1 else "")
    )
    target = work / f"node-{rank}" if nodes > 1 else work
    try:
        litdata.optimize(
            fn=functools.partial(pack_file, root=str(src), modality=definition, notes=str(work / _SKIPPED)),
            inputs=[str(f) for f in files],
            output_dir=str(target),
            num_workers=workers,
            chunk_bytes=chunk_bytes,
            keep_data_ordered=True,  # each worker packs a fixed slice in order: the same folder gives the same shards
            reorder_files=False,
            start_method=_start_method(),
            verbose=False,
        )
    except BaseException:
        if nodes == 1:
            shutil.rmtree(work, ignore_errors=True)
        raise
    (work / _NODE_DONE.format(rank)).touch()
    if rank != nodes - 1:
        log(f"node {rank} of {nodes} done; node {nodes - 1} completes {out}")
        return PackResult(None, definition.name, 0, [])
    try:
        return _finish(work, out, src, definition.name, nodes, overwrite, log)
    except BaseException:
        if nodes == 1:
            shutil.rmtree(work, ignore_errors=True)
        raise


def _chunk_bytes(value: str | int) -> str | int:
    """A chunk size as litdata takes it: bytes (``20000``) or with a unit (``64MB``, ``1gb``)."""
    import re

    text = str(value).strip()
    if re.fullmatch(r"\d+", text) and int(text) > 0:
        return int(text)
    if (
        re.fullmatch(r"\d+(\.\d+)?\s*(tb|gb|mb|kb|t|g|m|k|b)", text, flags=re.IGNORECASE)
        and float(re.sub("[^0-9.]", "", text)) > 0
    ):
        return text.lower().replace(" ", "")
    raise ConfigError(f"--chunk-bytes must be a positive size such as 64MB or 20000, got {value!r}")


def _start_method() -> str | None:
    """``fork`` where the platform has it: the packing workers then start in milliseconds and see every registered
    modality; elsewhere litdata's default (spawn)."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else None


def _finish(work: Path, out: Path, src: Path, modality: str, nodes: int, overwrite: bool, log: Callable) -> PackResult:
    """On the last node: wait for the others, complete the index, write ``pack.json``, rename the folder into place."""
    if nodes > 1:
        _wait_for_nodes(work, nodes, log)
        _merge_nodes(work, nodes)
    index = work / INDEX
    if not index.is_file():
        raise OutputError(f"litdata wrote no {INDEX} into {work}")
    chunks = json.loads(index.read_text())["chunks"]
    samples = sum(int(c["chunk_size"]) for c in chunks)
    skipped = _skipped(work / _SKIPPED)
    if samples == 0:
        reasons = "; ".join(f"{s['path']}: {s['error']}" for s in skipped[:3])
        raise DataError(f"no readable {modality} file under {src} ({reasons})")
    shutil.rmtree(work / _SKIPPED, ignore_errors=True)
    for marker in work.glob(_NODE_DONE.format("*")):
        marker.unlink()
    manifest = {"modality": modality, "source": str(src), "samples": samples, "skipped": skipped}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    _replace_folder(work, out, overwrite)
    log(f"packed {samples} {modality} files into {out} ({len(chunks)} chunk(s))")
    if skipped:
        log(f"skipped {len(skipped)} unreadable file(s) (listed in {out / MANIFEST}):")
        for entry in skipped:
            log(f"  {entry['path']}: {entry['error']}")
    return PackResult(out, modality, samples, skipped)


def _skipped(notes: Path) -> list[dict[str, str]]:
    entries = []
    for file in sorted(notes.glob("*.jsonl")) if notes.is_dir() else []:
        entries.extend(json.loads(line) for line in file.read_text().splitlines() if line.strip())
    return sorted(entries, key=lambda e: e["path"])


def _wait_for_nodes(work: Path, nodes: int, log: Callable, poll_seconds: float = 2.0) -> None:
    missing = [r for r in range(nodes) if not (work / _NODE_DONE.format(r)).exists()]
    if missing:
        log(f"waiting for node(s) {missing} to finish packing")
    while missing:
        time.sleep(poll_seconds)
        missing = [r for r in missing if not (work / _NODE_DONE.format(r)).exists()]


def _merge_nodes(work: Path, nodes: int) -> None:
    """Move every node's chunks and ``{rank}-index.json`` from ``work/node-{rank}`` into ``work`` and merge the node
    indexes into ``index.json`` with litdata's own merge (``Cache._merge_no_wait``, what its last node runs)."""
    from litdata.streaming.cache import Cache

    for rank in range(nodes):
        folder = work / f"node-{rank}"
        node_index = folder / f"{rank}-{INDEX}"
        if not node_index.is_file():
            raise OutputError(f"node {rank} left no {node_index.name} in {folder}; pack again")
        for chunk in folder.glob("chunk-*.bin"):
            os.replace(chunk, work / chunk.name)
        os.replace(node_index, work / node_index.name)
        shutil.rmtree(folder)
    Cache(str(work), chunk_bytes=1)._merge_no_wait()


def _replace_folder(work: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished ``work`` folder to ``out``; an old ``out`` (``overwrite``, or empty) goes only after."""
    old = None
    if out.exists():
        if any(out.iterdir()) and not overwrite:
            raise OutputError(f"{out} is not empty; pass --overwrite to replace it")
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
