"""WebDataset-style tar shards of images, read as a stream with the standard library's ``tarfile``.

A shard is a tar file; a sample is the run of consecutive members sharing a *key*, the member name up to the
first dot of its file name: ``000123.jpg`` (+ optional ``000123.json``, ``000123.cls``, ...) is sample
``000123``. The sample's image is its first member with an extension from :data:`IMAGE_EXTENSIONS`; other
members are ignored. Compressed shards (``.tar.gz``, ...) are read too. No ``webdataset`` dependency.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

from omnitok.data.images import (
    IMAGE_EXTENSIONS,
    Crop,
    check_size,
    decode_image_bytes,
    error_reason,
    failure_sample,
    mix_seed,
    resize_and_crop,
)
from omnitok.errors import DataError
from omnitok.utils import atomic_path

_BRACES = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")
_SHARD_ERROR = "truncated or corrupt shard, stopped reading it ({})"


def _expand_braces(pattern: str) -> list[str]:
    """``a-{00..02}-{x,y}`` -> ``a-00-x, a-00-y, a-01-x, ...`` (numeric ranges keep the start's zero padding)."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    body = match.group(1)
    numeric = _RANGE.match(body)
    if numeric:
        first, last = numeric.groups()
        if int(last) < int(first):
            raise DataError(f"empty brace range {{{body}}} in shard pattern {pattern!r}")
        width = len(first) if first.startswith("0") and len(first) > 1 else 0
        options = [str(i).zfill(width) for i in range(int(first), int(last) + 1)]
    elif "," in body:
        options = body.split(",")
    else:  # "{x}" is not a brace expression: keep it literally, expand what follows
        head, tail = pattern[: match.end()], pattern[match.end() :]
        return [head + rest for rest in _expand_braces(tail)]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [expanded for option in options for expanded in _expand_braces(head + option + tail)]


def expand_shards(pattern: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Shard paths named by a pattern (or a list of them): brace ranges and lists, then globs.

    ``"data/train-{000..099}.tar"`` names 100 zero-padded files, ``"data/{a,b}/*.tar"`` every tar in two
    folders (glob matches are sorted). Duplicates are dropped; order is kept.

    Raises:
        DataError: nothing matches, or a file named without a wildcard does not exist (all named in the message).
    """
    patterns = [pattern] if isinstance(pattern, (str, os.PathLike)) else list(pattern)
    found: list[str] = []
    missing: list[str] = []
    for p in patterns:
        for expanded in _expand_braces(os.fspath(p)):
            if glob.has_magic(expanded):
                found.extend(sorted(glob.glob(expanded)))
            elif os.path.isfile(expanded):
                found.append(expanded)
            else:
                missing.append(expanded)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"shard files not found: {shown} (pattern {pattern!r})")
    if not found:
        raise DataError(f"no shard files match {pattern!r}")
    return list(dict.fromkeys(found))


def write_image_shards(
    files: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    samples_per_shard: int = 1000,
    prefix: str = "shard",
) -> list[Path]:
    """Pack image files as-is (their encoded bytes) into tar shards ``{prefix}-000000.tar``, ``-000001``, ...

    Sample i (in the order of ``files``) has key ``i`` zero-padded to at least 6 digits, an image member
    ``{key}{ext}`` (the file's extension, lower-cased) and ``{key}.json`` = ``{"source": "<file path>"}``.
    Files are not decoded here: an unreadable image is caught when the shard is read. Each shard is written
    atomically (temp + rename), with fixed member metadata, so the same inputs give byte-identical shards.
    Existing shards with other numbers in ``out_dir`` are left alone: use the returned list, not a glob.

    Returns:
        The shard paths written, in order.

    Raises:
        DataError: ``files`` is empty, or a file cannot be read.
    """
    if samples_per_shard <= 0:
        raise ValueError(f"samples_per_shard must be positive, got {samples_per_shard}")
    files = [Path(f) for f in files]
    if not files:
        raise DataError(f"no files to pack into shards in {out_dir}")
    width = max(6, len(str(len(files) - 1)))
    written: list[Path] = []
    for number, start in enumerate(range(0, len(files), samples_per_shard)):
        shard = Path(out_dir) / f"{prefix}-{number:06d}.tar"
        with atomic_path(shard) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for index, file in enumerate(files[start : start + samples_per_shard], start):
                try:
                    data = file.read_bytes()
                except OSError as e:
                    raise DataError(f"{file}: cannot read file ({e.strerror or e})") from None
                key = str(index).zfill(width)
                _add_member(tar, f"{key}{file.suffix.lower()}", data)
                _add_member(tar, f"{key}.json", json.dumps({"source": str(file)}).encode())
        written.append(shard)
    return written


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


class _EndCheckingTarInfo(tarfile.TarInfo):
    """Records on the TarFile whether reading stopped at a real end-of-archive block.

    ``tarfile`` ends iteration silently on a truncated or garbled header after the first member; a complete
    archive ends with a zero block instead, which is what this tells apart.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:  # raised for an all-zero block (module attribute since Python 3.2)
            tar.omnitok_clean_end = True  # type: ignore[attr-defined]
            raise


def _split_key(name: str) -> tuple[str, str]:
    """``"dir/000123.seg.png"`` -> ``("dir/000123", ".seg.png")`` (WebDataset's key rule)."""
    folder, _, base = name.rpartition("/")
    stem, dot, rest = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), dot + rest


# A record is (path, encoded image bytes or None, error or None, crop seed); decoding waits until after shuffling
Record = tuple[str, bytes | None, str | None, int]


def read_shard(shard: str, seed: int = 0) -> Iterator[Record]:
    """Stream one shard's samples as records ``(path, image bytes | None, error | None, crop seed)``.

    ``path`` is ``"{shard}/{image member}"``; the crop seed is ``mix_seed(seed, shard file name, ordinal)``.
    A sample without an image member gives an error record. A corrupt or truncated archive ends the shard
    with one error record whose path is the shard (samples read before it are kept; a sample whose data was
    cut off is dropped).
    """
    name = Path(shard).name
    ordinal = 0

    def record(key: str, members: dict[str, tuple[str, bytes]]) -> Record:
        nonlocal ordinal
        ordinal += 1
        crop_seed = mix_seed(seed, name, ordinal - 1)
        image = next((m for ext, m in members.items() if _image_ext(ext)), None)
        if image is None:
            exts = ", ".join(sorted(members)) or "none"
            return f"{shard}/{key}", None, f"sample has no image member (members: {exts})", crop_seed
        return f"{shard}/{image[0]}", image[1], None, crop_seed

    try:
        with open(shard, "rb") as f, tarfile.open(fileobj=f, mode="r|*", tarinfo=_EndCheckingTarInfo) as tar:
            key: str | None = None
            members: dict[str, tuple[str, bytes]] = {}
            for member in tar:
                if not member.isfile():
                    continue
                member_key, ext = _split_key(member.name)
                if member_key != key:
                    if key is not None:
                        yield record(key, members)
                    key, members = member_key, {}
                data = b""
                if _image_ext(ext):  # other members are skipped unread
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    if len(data) != member.size:
                        raise tarfile.ReadError("unexpected end of data")
                members.setdefault(ext, (member.name, data))
            if key is not None:
                yield record(key, members)
            if not getattr(tar, "omnitok_clean_end", False):
                yield shard, None, _SHARD_ERROR.format("no end-of-archive block after the last member"), 0
    except (tarfile.TarError, OSError, EOFError) as e:
        yield shard, None, _SHARD_ERROR.format(e), 0


def _image_ext(ext: str) -> bool:
    """Whether a member extension (``".jpg"``, ``".seg.png"``) names an image; the last part decides."""
    return "." + ext.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS


def shuffle_buffer(items: Iterable, size: int, generator: torch.Generator) -> Iterator:
    """Shuffle a stream through a buffer of ``size`` items (drawn from ``generator`` only)."""
    buffer: list = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(torch.randint(size, (), generator=generator))
        yield buffer[j]
        buffer[j] = item
    for j in torch.randperm(len(buffer), generator=generator).tolist():
        yield buffer[j]


def consumer_slot() -> tuple[int, int]:
    """(this reader's index, number of readers) over distributed ranks x DataLoader workers."""
    rank, world = 0, 1
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + worker, world * workers


class ImageShardDataset(IterableDataset):
    """Iterable dataset over image tar shards, yielding samples ``{"image": [3, S, S] in [-1, 1], "path"}``.

    Each epoch the shard list is permuted (seeded by ``(seed, epoch)``) and dealt round-robin to the readers:
    every DataLoader worker of every distributed rank (``torch.distributed``, if initialized) reads its own
    shards, so each sample is read once per epoch in all. Readers get whole shards: with fewer shards than
    readers some read nothing, and ranks may see different sample counts (use at least ``world x workers``
    shards of similar size, and limit steps per epoch, for DDP). Within a reader, samples pass a shuffle
    buffer seeded by ``(seed, epoch, reader)``. The random crop of a sample depends on ``(seed, epoch,
    shard file name, position in the shard)`` only, not on the number of workers.

    Unreadable samples come out as failure samples ``{"image": None, "path", "error"}`` (see
    :func:`~omnitok.data.images.collate_images`); a corrupt or truncated shard yields one failure sample
    naming the shard, and reading goes on with the next shard.

    Args:
        shards: a pattern or a list of patterns for :func:`expand_shards`.
        size: side S of the square output, in pixels.
        crop: ``"random"`` (training) or ``"center"``.
        seed: base seed of shard order, shuffling and crops.
        shuffle_buffer: samples held for shuffling; 0 or 1 reads shards and samples in order (evaluation).

    ``set_epoch`` must be called before the epoch's DataLoader iterator is created (workers copy the
    dataset; with ``persistent_workers=True`` they keep the epoch they started with).
    """

    def __init__(
        self,
        shards: str | os.PathLike | Sequence[str | os.PathLike],
        size: int,
        crop: Crop = "random",
        seed: int = 0,
        shuffle_buffer: int = 1000,
    ) -> None:
        check_size(size)
        if crop not in ("random", "center"):
            raise ValueError(f"crop must be 'random' or 'center', got {crop!r}")
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")
        self.shards = expand_shards(shards)
        self.size = size
        self.crop: Crop = crop
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shards_for(self, reader: int, readers: int) -> list[str]:
        """The shards reader ``reader`` of ``readers`` reads this epoch."""
        order = list(range(len(self.shards)))
        if self.shuffle_buffer > 1:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, "shards"))
            order = torch.randperm(len(order), generator=generator).tolist()
        return [self.shards[i] for i in order[reader::readers]]

    def __iter__(self) -> Iterator[dict]:
        reader, readers = consumer_slot()
        records: Iterable[Record] = (
            r for shard in self.shards_for(reader, readers) for r in read_shard(shard, mix_seed(self.seed, self.epoch))
        )
        if self.shuffle_buffer > 1:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, "buffer", reader, readers))
            records = shuffle_buffer(records, self.shuffle_buffer, generator)
        for path, data, error, crop_seed in records:
            yield self._sample(path, data, error, crop_seed)

    def _sample(self, path: str, data: bytes | None, error: str | None, crop_seed: int) -> dict:
        if data is None:
            return failure_sample(path, error or "unknown error")
        try:
            image = decode_image_bytes(data, path, self.size)
        except DataError as e:
            return failure_sample(path, error_reason(e, path))
        generator = torch.Generator().manual_seed(crop_seed) if self.crop == "random" else None
        return {"image": resize_and_crop(image, self.size, self.crop, generator), "path": path}
