"""Token shards (Parquet) and the corpus manifest (``manifest.json``): Contract 5 of DESIGN.md.

A corpus folder holds ``shard-NNNNN.parquet`` files and ``manifest.json``. One row per sample:

- ``key``: stable, from the input's path relative to the source folder (posix), rows sorted by it;
- ``source``: the input file as it was read;
- ``tokens``: the tokens ``encode`` returned, flattened row-major, in the smallest integer type that holds the
  codebook (uint8 / uint16 / int32 / int64; float32 latents for continuous tokenizers);
- ``shape``: the token tensor's shape without the batch axis (``tokens.reshape(shape)`` gives ``encode``'s
  output for one sample: ``[*grid]``, ``[*grid, Q]`` or latents ``[D, *grid]``);
- ``grid``: the token grid; ``levels``: codebook levels per position (0 for continuous latents);
- ``media``: the media record as JSON (frames/height/width/fps for video, samples for audio, ``{}`` for images);
- ``text``: the input's caption, read from a UTF-8 sidecar file beside it with the suffix ``.txt`` (``cat.png`` ->
  ``cat.txt``, the layout img2dataset and WebDataset corpora use), or null where there is none.

Each shard is self-describing: its Parquet key-value metadata holds its index, what it was planned from and the
inputs it skipped, so a shard renamed into place by a run killed before it updated the manifest is still adopted
(never redone). Shards are written atomically (temp + rename) and deterministically: rows sorted by key, fixed
schema, fixed writer options, so the same inputs and tokenizer give the same bytes whatever the worker count.
pyarrow is imported inside the functions (the ``scale`` extra).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from omnitok.errors import ConfigError, DataError

MANIFEST = "manifest.json"
CORPUS_FORMAT = 1
SHARD_METADATA_KEY = b"omnitok.shard"
OPTIONAL_COLUMNS = ("text",)  # null where a row has none


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def token_dtype(spec: Any) -> np.dtype:
    """The smallest numpy dtype that holds every index of ``spec``'s codebooks (float32 for continuous latents)."""
    if not spec.discrete:
        return np.dtype(np.float32)
    largest = max(spec.codebook_sizes) - 1
    for dtype in (np.uint8, np.uint16, np.int32):
        if largest <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def shard_schema(dtype: np.dtype):
    import pyarrow as pa

    return pa.schema(
        [
            ("key", pa.string()),
            ("source", pa.string()),
            ("tokens", pa.list_(pa.from_numpy_dtype(dtype))),
            ("shape", pa.list_(pa.int32())),
            ("grid", pa.list_(pa.int32())),
            ("levels", pa.int32()),
            ("media", pa.string()),
            ("text", pa.string()),
        ]
    )


def write_shard(path: Path, rows: list[dict[str, Any]], dtype: np.dtype, metadata: dict[str, Any]) -> str:
    """Write ``rows`` (sorted here by key) to the Parquet file ``path`` atomically; returns its SHA-256.

    Each row: key, source, tokens (a numpy array of ``dtype``), shape, grid, levels, media (JSON text), text (or
    None)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from omnitok.fingerprint import file_sha256
    from omnitok.utils import atomic_path

    rows = sorted(rows, key=lambda r: r["key"])
    schema = shard_schema(dtype).with_metadata({SHARD_METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    columns = {
        name: [row.get(name) if name in OPTIONAL_COLUMNS else row[name] for row in rows] for name in schema.names
    }
    del columns["tokens"]
    tokens = pa.array(
        [np.ascontiguousarray(row["tokens"], dtype=dtype).ravel() for row in rows], schema.field("tokens").type
    )
    table = pa.Table.from_pydict({**columns, "tokens": tokens}, schema=schema)
    with atomic_path(path) as tmp:
        # Fixed options: the bytes depend on the rows only (pyarrow records its version as the writer).
        pq.write_table(table, tmp, compression="zstd", compression_level=3, use_dictionary=False, write_statistics=True)
    return file_sha256(path)


def read_shard_metadata(path: Path) -> dict[str, Any] | None:
    """The omnitok metadata of a finished shard, or None when the file is not a readable shard of ours."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        return json.loads((schema.metadata or {})[SHARD_METADATA_KEY])
    except Exception:  # noqa: BLE001 (any unreadable file is "not a finished shard": it is written again)
        return None


def inputs_digest(keys: list[str]) -> str:
    """The SHA-256 of the planned inputs' keys, in order: shards are numbered from this order."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a corpus manifest ({err}); choose another --out") from None
    if not isinstance(manifest, dict) or manifest.get("format") != CORPUS_FORMAT:
        raise DataError(f"{path}: not a corpus manifest of format {CORPUS_FORMAT}; choose another --out")
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    from omnitok.utils import atomic_path

    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def check_same_job(existing: dict[str, Any], job: dict[str, Any], where: Path) -> None:
    """Refuse to continue a corpus written with another tokenizer, protocol or input list (ConfigError)."""
    for field, what in (
        ("tokenizer", "tokenizer (spec or weights fingerprint)"),
        ("protocol", "protocol (resize, crop, frames, fps, sample rate)"),
        ("inputs", "input list or shard size"),
    ):
        if existing.get(field) != job[field]:
            raise ConfigError(
                f"{where} holds a corpus written with another {what}: {json.dumps(existing.get(field), sort_keys=True)}"
                f" there, {json.dumps(job[field], sort_keys=True)} now; choose another --out"
            )
