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


def test_several_media_draw_by_their_weights_and_share_the_caption():
    speech = TokenizerSpec(
        "audio",
        True,
        codebook_sizes=(32, 32),
        latent_dim=4,
        downsample=(8,),
        sample_rate=16000,
        codebook_kind="residual",
    )
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC, "speech": speech})
    generator = torch.Generator().manual_seed(0)
    items = [
        {"media": {"image": torch.randint(0, 1000, (2, 3), generator=generator),
                   "speech": torch.randint(0, 32, (5, 2), generator=generator)}, "text": f"caption {i}"}
        for i in range(4)
    ]  # fmt: skip
    module = captioned_sequences(items, vocab, ["image", "speech"], media_weights={"image": 1.0, "speech": 3.0})
    drawn = {"image": 0, "speech": 0}
    for draw in range(400):
        parts = vocab.unpack(module.dataset[(draw % 4, draw)].ids)
        (span,) = [p for p in parts if isinstance(p, MediaSpan)]
        drawn[span.name] += 1
        assert torch.equal(span.tokens[0], items[draw % 4]["media"][span.name])
        assert [p for p in parts if isinstance(p, str)] in ([], [f"caption {draw % 4}"])
    assert drawn["speech"] / 400 == pytest.approx(0.75, abs=0.07)  # 3.2 standard deviations
    with pytest.raises(ConfigError, match="media_weights"):
        captioned_sequences(items, vocab, ["image", "speech"], media_weights={"video": 1.0})
