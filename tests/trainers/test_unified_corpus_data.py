"""``captioned_sequences`` from a token corpus: the rows in corpus order (read back by pyarrow as the reference),
each packed as one caption <-> media task, or as its media span alone where the row has no caption."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omnitok.corpus import TokenCorpus
from omnitok.errors import ConfigError
from omnitok.protocol import TokenizerSpec
from omnitok.trainers.unified_data import captioned_sequences
from omnitok.unified import ByteTextVocabulary, MediaSpan, SharedVocabulary
from tests.corpus.builders import write_corpus

SPEC = TokenizerSpec("image", True, codebook_sizes=(1000,), latent_dim=4, downsample=(4, 4))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"), (4, 3, 5), levels=1)


def _pyarrow_rows(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(folder.glob("shard-*.parquet")):  # shards by index, rows by key within each
        rows += pq.read_table(path).to_pylist()
    return rows


def test_every_row_packs_its_tokens_and_caption_in_corpus_order(corpus):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    module = captioned_sequences(TokenCorpus(corpus, shuffle=False), vocab, "image", caption_dropout=0.5, seed=1)
    rows = _pyarrow_rows(corpus)
    assert len(module.dataset) == len(rows) == 12
    seen = set()
    for draw in range(4):
        for index, row in enumerate(rows):
            parts = vocab.unpack(module.dataset[(index, 1000 * draw + index)].ids)
            spans = [p for p in parts if isinstance(p, MediaSpan)]
            texts = [p for p in parts if isinstance(p, str)]
            assert len(spans) == 1 and spans[0].name == "image"
            assert torch.equal(spans[0].tokens.flatten(), torch.tensor(row["tokens"]))
            if row["text"] is None:
                assert parts == spans  # no caption: the media span alone
                continue
            assert texts in ([], [row["text"]])
            seen.add("dropped" if not texts else "understanding" if parts[0] is spans[0] else "generation")
    assert seen == {"dropped", "understanding", "generation"}


def test_index_wraps_around_the_epoch(corpus):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    dataset = captioned_sequences(TokenCorpus(corpus, shuffle=False), vocab, "image").dataset
    assert torch.equal(dataset[(12 + 5, 7)].ids, dataset[(5, 7)].ids)


def test_unknown_tokenizer_name_is_a_config_error(corpus):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    with pytest.raises(ConfigError, match="no tokenizer 'video'"):
        captioned_sequences(TokenCorpus(corpus, shuffle=False), vocab, "video")
