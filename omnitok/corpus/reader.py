"""Reading a token corpus (DESIGN.md, Contract 5) for training: :class:`TokenCorpus`, a litdata ``StreamingDataset``
over the corpus's Parquet shards.

litdata streams the shards as Parquet chunks (its ``ParquetLoader``, pyarrow row groups), deals them to distributed
ranks (``WORLD_SIZE`` / ``GLOBAL_RANK``) and DataLoader workers, shuffles shards and rows per epoch from ``seed`` and
the epoch, and a ``litdata.StreamingDataLoader``'s ``state_dict()`` / ``load_state_dict()`` resumes mid-epoch.
With DataLoader workers, pass ``multiprocessing_context="spawn"`` or ``"forkserver"``: litdata refuses ``fork`` with
its ParquetLoader (polars' thread pool deadlocks in forked workers).

litdata reads a local folder's chunk list from ``index.json`` in the folder itself (an ``index_path`` is copied
there too), so the reader writes that index into the corpus folder, atomically and only when it is absent, from the
manifest's shard list (not from a directory listing: stray ``.parquet`` files are never read). A complete corpus
never changes, so the index, once written, stays right; one that disagrees with the manifest is refused.

Needs the ``scale`` extra (litdata, pyarrow, and polars, which litdata's ``ParquetLoader`` insists on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from litdata import StreamingDataset
from litdata.streaming.item_loader import ParquetLoader

from omnitok.corpus import shards as S
from omnitok.errors import DataError

INDEX = "index.json"  # litdata's index file name (litdata.constants._INDEX_FILENAME)


def _load_manifest(folder: Path) -> dict[str, Any]:
    manifest = S.read_manifest(folder) if folder.is_dir() else None
    if manifest is None:
        raise DataError(f"{folder / S.MANIFEST}: no corpus manifest; is {folder} a folder `omnitok tokenize` wrote?")
    if not manifest.get("complete"):
        raise DataError(f"{folder / S.MANIFEST}: the corpus is incomplete; finish it with `omnitok tokenize` first")
    for entry in manifest["shards"]:
        if not (folder / entry["file"]).is_file():
            raise DataError(f"{folder / entry['file']}: shard listed in the manifest is missing")
    if not manifest["shards"]:
        raise DataError(f"{folder / S.MANIFEST}: the corpus holds no shards")
    return manifest


def _index(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """litdata's ``index.json`` for the manifest's shards (the layout of ``litdata.index_parquet_dataset``)."""
    import pyarrow.parquet as pq

    entries = sorted(manifest["shards"], key=lambda e: e["index"])
    schema = pq.read_schema(folder / entries[0]["file"])
    chunks = [
        {
            "chunk_bytes": os.path.getsize(folder / e["file"]),
            "chunk_size": e["rows"],
            "filename": e["file"],
            "dim": None,
        }
        for e in entries
    ]
    config = {
        "compression": None,
        "chunk_size": None,
        "chunk_bytes": None,
        "data_format": [str(field.type) for field in schema],
        "data_spec": None,
        "types": None,
        "encryption": None,
        "item_loader": ParquetLoader.__name__,
    }
    # updated_at: litdata keys its cache on it for remote folders; the manifest's content keeps it deterministic
    return {"chunks": chunks, "config": config, "updated_at": str(sum(e["rows"] for e in entries))}


def _ensure_index(folder: Path, manifest: dict[str, Any]) -> None:
    from omnitok.utils import atomic_path

    path = folder / INDEX
    wanted = [(e["file"], e["rows"]) for e in sorted(manifest["shards"], key=lambda e: e["index"])]
    if path.exists():
        try:
            chunks = json.loads(path.read_text())["chunks"]
            present = [(c["filename"], c["chunk_size"]) for c in chunks]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(f"{path}: unreadable litdata index ({err}); delete it to have it written again") from None
        if present != wanted:
            raise DataError(f"{path}: litdata index disagrees with {S.MANIFEST}; delete it to have it written again")
        return
    index = _index(folder, manifest)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(index, sort_keys=True))


class TokenCorpus(StreamingDataset):
    """The samples of a token corpus folder, streamed by litdata.

    Each item is ``{"key": str, "tokens": Tensor, "grid": list[int], "levels": int, "media": dict, "text": str |
    None}``; ``tokens`` is ``encode``'s output for the sample without the batch axis (``[*grid]``, ``[*grid, Q]``
    int64 indices, or ``[D, *grid]`` float32 latents for continuous tokenizers); ``text`` is the input's sidecar
    caption. An integer index addresses the corpus's rows in order (shards by index, rows by key) whatever the
    rank or worker, so a sampler of one's own can read it as a map-style dataset.

    Args:
        folder: a corpus folder holding ``manifest.json`` (complete) and its Parquet shards.
        shuffle: shuffle shards and rows each epoch (training).
        seed: litdata's shuffle seed.

    Raises:
        DataError: no manifest, an incomplete corpus, a missing shard, or an index that disagrees with the manifest.
    """

    def __init__(self, folder: str | os.PathLike, shuffle: bool = True, seed: int = 0) -> None:
        self.folder = Path(folder)
        self.manifest = _load_manifest(self.folder)
        self.discrete = bool(self.manifest["tokenizer"]["spec"].get("discrete", True))
        _ensure_index(self.folder, self.manifest)
        try:
            super().__init__(str(self.folder), item_loader=ParquetLoader(), shuffle=shuffle, seed=seed)
        except (FileNotFoundError, ValueError) as err:
            raise DataError(f"cannot read the token corpus at {self.folder}: {err}") from None

    def __getitem__(self, index: Any) -> dict[str, Any]:
        row = super().__getitem__(index)
        dtype = torch.int64 if self.discrete else torch.float32
        return {
            "key": row["key"],
            "tokens": torch.tensor(row["tokens"], dtype=dtype).reshape(row["shape"]),
            "grid": list(row["grid"]),
            "levels": int(row["levels"]),
            "media": json.loads(row["media"]),
            "text": row.get("text"),
        }

    @staticmethod
    def decode(item: dict[str, Any], tokenizer: Any) -> Any:
        """The media back from an item: ``tokenizer.decode`` of its tokens with a batch axis of one."""
        return tokenizer.decode(item["tokens"][None])
