"""Token corpora (DESIGN.md, Contract 5): ``omnitok tokenize`` writes Parquet token shards on Ray Data
(:mod:`omnitok.corpus.pipeline`, :mod:`omnitok.corpus.shards`); :class:`TokenCorpus` (:mod:`omnitok.corpus.reader`)
streams them back with litdata. The one library package that uses ray, pyarrow and litdata, all imported lazily (the
``scale`` extra): ``import omnitok.corpus`` stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnitok.corpus.shards import MANIFEST, read_manifest, shard_name, token_dtype

if TYPE_CHECKING:
    from omnitok.corpus.reader import TokenCorpus

__all__ = ["MANIFEST", "TokenCorpus", "read_manifest", "shard_name", "token_dtype"]


def __getattr__(name: str) -> Any:
    if name == "TokenCorpus":  # imports litdata: only when asked for
        from omnitok.corpus.reader import TokenCorpus

        return TokenCorpus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
