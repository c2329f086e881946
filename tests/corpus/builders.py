"""A token corpus written by the shard writer alone (no Ray): rows of random codes, some with a caption."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from omnitok.corpus import shards as S


def corpus_rows(start: int, count: int, rng: np.random.Generator, grid=(2, 3), levels: int = 2) -> list[dict]:
    """Rows ``img{i:03d}.png`` for i in [start, start + count): tokens [*grid, levels] below 1000; rows whose index
    is not a multiple of 3 carry the caption ``caption {i}``."""
    rows = []
    for i in range(start, start + count):
        shape = [*grid, levels] if levels > 1 else list(grid)
        rows.append(
            {
                "key": f"img{i:03d}.png",
                "source": f"/data/img{i:03d}.png",
                "tokens": rng.integers(0, 1000, size=shape).astype(np.uint16),
                "shape": shape,
                "grid": list(grid),
                "levels": levels,
                "media": json.dumps({"frames": i}),
                "text": None if i % 3 == 0 else f"caption {i}",
            }
        )
    return rows


def write_corpus(folder: Path, shard_rows: Sequence[int], seed: int = 0, **row_options) -> Path:
    """A complete corpus of ``len(shard_rows)`` shards holding ``shard_rows[i]`` rows each, in key order."""
    rng = np.random.default_rng(seed)
    dtype, entries, start = np.dtype(np.uint16), [], 0
    for index, count in enumerate(shard_rows):
        rows = corpus_rows(start, count, rng, **row_options)
        sha = S.write_shard(folder / S.shard_name(index), rows, dtype, {"index": index})
        entries.append({"index": index, "file": S.shard_name(index), "rows": count, "sha256": sha, "skipped": 0})
        start += count
    levels = row_options.get("levels", 2)
    spec = {"modality": "image", "discrete": True, "codebook_sizes": [1000] * levels}
    manifest = {"format": S.CORPUS_FORMAT, "tokenizer": {"spec": spec}, "token_dtype": "uint16", "complete": True,
                "rows": start, "shards": entries, "skipped": []}  # fmt: skip
    S.write_manifest(folder, manifest)
    return folder
