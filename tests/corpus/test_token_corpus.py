"""TokenCorpus: a corpus written by the shard writer (:mod:`omnitok.corpus.shards`) read back through litdata, against
the Parquet contents read by pyarrow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from omnitok.corpus import TokenCorpus
from omnitok.corpus import shards as S
from omnitok.errors import DataError
from tests.corpus.builders import write_corpus

SHARD_ROWS = (4, 4, 4)  # 12 rows: halves of 6 for two ranks, batches of 2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"), SHARD_ROWS)


def _parquet_rows(folder: Path) -> dict[str, dict]:
    import pyarrow.parquet as pq

    rows = {}
    for path in sorted(folder.glob("shard-*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rows[row["key"]] = row
    return rows


def _keys(batch: list[dict]) -> list[str]:
    return [item["key"] for item in batch]


def test_every_row_is_read_once_with_its_tokens(corpus):
    expected = _parquet_rows(corpus)
    items = list(TokenCorpus(corpus, shuffle=True, seed=3))
    assert sorted(item["key"] for item in items) == sorted(expected)
    for item in items:
        row = expected[item["key"]]
        assert item["tokens"].dtype == torch.int64 and list(item["tokens"].shape) == row["shape"]
        assert torch.equal(item["tokens"].flatten(), torch.tensor(row["tokens"]))
        assert item["grid"] == row["grid"] and item["levels"] == row["levels"]
        assert item["media"] == json.loads(row["media"]) and item["text"] == row["text"]
    assert sum(item["text"] is None for item in items) == 4  # rows 0, 3, 6, 9 have no caption
    assert json.loads((corpus / "index.json").read_text())["config"]["item_loader"] == "ParquetLoader"


def test_two_ranks_read_disjoint_halves(corpus, monkeypatch):
    seen = []
    for rank in range(2):
        monkeypatch.setenv("WORLD_SIZE", "2")  # litdata's distributed environment, as torch.distributed reports it
        monkeypatch.setenv("GLOBAL_RANK", str(rank))
        seen.append([item["key"] for item in TokenCorpus(corpus, seed=1)])
    assert len(seen[0]) == len(seen[1]) == 6
    assert not set(seen[0]) & set(seen[1]) and set(seen[0]) | set(seen[1]) == set(_parquet_rows(corpus))


@pytest.mark.parametrize("workers", [0, 2])
def test_restored_loader_yields_the_remaining_batches(corpus, workers):
    from litdata import StreamingDataLoader

    def loader():
        # litdata refuses fork with its ParquetLoader (polars' thread pool deadlocks in forked workers)
        context = {"multiprocessing_context": "forkserver"} if workers else {}
        dataset = TokenCorpus(corpus, seed=5)
        return StreamingDataLoader(dataset, batch_size=2, num_workers=workers, collate_fn=_keys, **context)

    straight = list(loader())
    assert sorted(k for b in straight for k in b) == sorted(_parquet_rows(corpus))
    stopped, taken = loader(), []
    for batch in stopped:
        taken.append(batch)
        if len(taken) == 2:
            break
    state = stopped.state_dict()
    resumed = loader()
    resumed.load_state_dict(state)
    assert taken == straight[:2] and list(resumed) == straight[2:]


def test_folder_without_manifest_is_a_data_error(tmp_path):
    (tmp_path / S.shard_name(0)).write_bytes(b"")
    with pytest.raises(DataError, match="manifest.json"):
        TokenCorpus(tmp_path)


def test_incomplete_corpus_is_a_data_error(corpus, tmp_path):
    manifest = json.loads((corpus / S.MANIFEST).read_text()) | {"complete": False}
    S.write_manifest(tmp_path, manifest)
    with pytest.raises(DataError, match="incomplete"):
        TokenCorpus(tmp_path)


def test_decode_gives_the_tokenizers_media_back(tmp_path):
    from tests.evaluation.toy_tokenizers import PoolingQuantizer

    tokenizer = PoolingQuantizer()
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    tokens = tokenizer.encode(images)
    rows = [
        {
            "key": f"{i}.png",
            "source": f"{i}.png",
            "tokens": t.numpy().astype(np.uint16),
            "shape": list(t.shape),
            "grid": list(t.shape[:2]),
            "levels": 1,
            "media": "{}",
        }
        for i, t in enumerate(tokens)
    ]
    sha = S.write_shard(tmp_path / S.shard_name(0), rows, np.dtype(np.uint16), {"index": 0})
    spec = {"modality": "image", "discrete": True, "codebook_sizes": list(tokenizer.spec.codebook_sizes)}
    manifest = {"format": S.CORPUS_FORMAT, "tokenizer": {"spec": spec}, "token_dtype": "uint16", "complete": True,
                "rows": 3, "shards": [{"index": 0, "file": S.shard_name(0), "rows": 3, "sha256": sha, "skipped": 0}],
                "skipped": []}  # fmt: skip
    S.write_manifest(tmp_path, manifest)
    corpus = TokenCorpus(tmp_path, shuffle=False)
    items = {item["key"]: item for item in (corpus[i] for i in range(len(corpus)))}
    for i in range(3):
        assert torch.equal(items[f"{i}.png"]["tokens"], tokens[i])
        assert torch.equal(TokenCorpus.decode(items[f"{i}.png"], tokenizer), tokenizer.decode(tokens[i][None]))


def test_a_corpus_written_before_the_text_column_still_reads(tmp_path):
    """Stop 29's shards had no ``text`` column: their rows read with ``text`` None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = write_corpus(tmp_path / "new", (3,))
    table = pq.read_table(folder / S.shard_name(0)).drop_columns(["text"])  # the earlier schema, same metadata
    old = tmp_path / "old"
    old.mkdir()
    pq.write_table(pa.table(table.columns, schema=table.schema), old / S.shard_name(0))
    manifest = json.loads((folder / S.MANIFEST).read_text())
    manifest["shards"][0]["sha256"] = "0" * 64
    S.write_manifest(old, manifest)
    items = list(TokenCorpus(old, shuffle=False))
    assert [item["key"] for item in items] == ["img000.png", "img001.png", "img002.png"]
    assert all(item["text"] is None for item in items) and "text" not in pq.read_schema(old / S.shard_name(0)).names
