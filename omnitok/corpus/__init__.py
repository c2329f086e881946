"""Token corpora (DESIGN.md, Contract 5): ``omnitok tokenize`` writes Parquet token shards on Ray Data
(:mod:`omnitok.corpus.pipeline`, :mod:`omnitok.corpus.shards`). The one library package that uses ray and pyarrow,
both imported lazily (the ``scale`` extra): ``import omnitok.corpus`` stays light."""

from __future__ import annotations

from omnitok.corpus.shards import MANIFEST, read_manifest, shard_name, token_dtype

__all__ = ["MANIFEST", "read_manifest", "shard_name", "token_dtype"]
