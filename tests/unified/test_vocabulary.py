"""SharedVocabulary: id ranges by hand, text vocabularies, serialization and construction errors."""

import json

import pytest
import torch

from omnitok.errors import ConfigError
from omnitok.unified import ByteTextVocabulary, HFTextVocabulary, MediaSpan, SharedVocabulary
from tests.unified.tiny import PlainAudioTokenizer, audio_rvq, image_continuous, image_vq


def test_ranges_are_contiguous_disjoint_and_hand_computed():
    vocab = SharedVocabulary(
        ByteTextVocabulary(),
        {"image": image_vq(32), "speech": audio_rvq(), "plain": PlainAudioTokenizer()},
        continuous={"clip": image_continuous()},
    )
    # text 0..255; pad, bos, eos, row, frame = 256..260; begin/end: image 261/262, speech 263/264, plain 265/266;
    # clip begin/end/latent 267/268/269; codes: image 270..301, speech 4 x 32 from 302, plain 7 + 5 from 430.
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.row_sep_id, vocab.frame_sep_id) == (256, 257, 258, 259, 260)
    assert [(vocab.begin_id(n), vocab.end_id(n)) for n in ("image", "speech", "plain", "clip")] == [
        (261, 262),
        (263, 264),
        (265, 266),
        (267, 268),
    ]
    assert vocab.latent_id("clip") == 269
    assert vocab.range_of("image") == range(270, 302)
    assert [vocab.range_of("speech", q) for q in range(4)] == [range(302 + 32 * q, 334 + 32 * q) for q in range(4)]
    assert (vocab.range_of("plain", 0), vocab.range_of("plain", 1)) == (range(430, 437), range(437, 442))
    assert vocab.size == 442
    assert vocab.text_range == range(256)
    assert [vocab.tag_of(n) for n in ("image", "speech", "plain", "clip")] == [1, 2, 3, 4]
    covered = sorted(
        [*vocab.text_range, *range(256, 270)]
        + [
            i
            for n in ("image", "speech", "plain")
            for q in range(vocab.spec(n).num_levels)
            for i in vocab.range_of(n, q)
        ]
    )
    assert covered == list(range(vocab.size))  # every id exactly once


def test_delayed_layout_streams_and_default_delays():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq(), "speech": audio_rvq()}, layout="delayed")
    assert vocab.num_streams == 4 and vocab.delays == (0, 1, 2, 3)
    custom = SharedVocabulary(ByteTextVocabulary(), {"speech": audio_rvq()}, layout="delayed", delays=[0, 1, 1, 1])
    assert custom.delays == (0, 1, 1, 1)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SharedVocabulary(ByteTextVocabulary(), {"clip": image_continuous()}), "continuous"),
        (lambda: SharedVocabulary(ByteTextVocabulary(), {}, continuous={"img": image_vq()}), "discrete"),
        (lambda: SharedVocabulary(ByteTextVocabulary(), {"x": object()}), "TokenizerSpec"),
        (lambda: SharedVocabulary(ByteTextVocabulary(), {"text": image_vq()}), "names"),
        (
            lambda: SharedVocabulary(ByteTextVocabulary(), {"a": image_vq()}, continuous={"a": image_continuous()}),
            "unique",
        ),
        (lambda: SharedVocabulary(ByteTextVocabulary(), {"a": image_vq()}, separators=False), "fixed grid"),
        (lambda: SharedVocabulary(ByteTextVocabulary(), {"a": image_vq()}, grids={"a": (4,)}), "grid"),
        (
            lambda: SharedVocabulary(ByteTextVocabulary(), {"a": audio_rvq()}, layout="delayed", delays=[1, 2, 3, 4]),
            "delays",
        ),
        (
            lambda: SharedVocabulary(ByteTextVocabulary(), {"a": audio_rvq()}, delays=[0, 1, 2, 3]),
            "delayed layout only",
        ),
        (lambda: SharedVocabulary(ByteTextVocabulary(), {"a": audio_rvq()}, layout="interleaved"), "layout"),
    ],
)
def test_construction_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_query_errors():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()}, continuous={"clip": image_continuous()})
    with pytest.raises(ConfigError, match="unknown tokenizer 'audio'"):
        vocab.range_of("audio")
    with pytest.raises(ConfigError, match="continuous"):
        vocab.range_of("clip")
    with pytest.raises(ConfigError, match="levels 0..0"):
        vocab.range_of("image", 1)
    with pytest.raises(ConfigError, match="discrete"):
        vocab.latent_id("image")
    with pytest.raises(ConfigError, match="unknown tokenizer 'audio'"):
        vocab.pack([MediaSpan("audio", torch.zeros(3, dtype=torch.long))])


def test_specs_alone_build_the_same_vocabulary():
    tokenizers = {"image": image_vq(), "speech": audio_rvq()}
    a = SharedVocabulary(ByteTextVocabulary(), tokenizers)
    b = SharedVocabulary(ByteTextVocabulary(), {n: t.spec for n, t in tokenizers.items()})
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("layout", ["flattened", "delayed"])
def test_json_round_trip(layout):
    vocab = SharedVocabulary(
        ByteTextVocabulary(),
        {"image": image_vq(), "speech": audio_rvq()},
        continuous={"clip": image_continuous()},
        layout=layout,
        grids={"image": (4, 4), "clip": (4, 4)},
        separators=False,
    )
    data = json.loads(json.dumps(vocab.to_dict()))
    again = SharedVocabulary.from_dict(data)
    assert again.to_dict() == vocab.to_dict() and again.size == vocab.size
    sample = ["hi", MediaSpan("image", torch.randint(0, 32, (4, 4))), MediaSpan("speech", torch.randint(0, 32, (3, 4)))]
    assert torch.equal(again.pack(sample).ids, vocab.pack(sample).ids)
    with pytest.raises(ConfigError, match="format"):
        SharedVocabulary.from_dict({**data, "format_version": 99})
    with pytest.raises(ConfigError, match="ids"):
        SharedVocabulary.from_dict({**data, "size": vocab.size + 1})


def test_byte_text_vocabulary():
    text = ByteTextVocabulary()
    assert text.encode("aé") == [97, 0xC3, 0xA9]
    assert text.decode([97, 0xC3, 0xA9]) == "aé"
    assert text.decode([0xC3]) == "\ufffd"  # a sampled half character decodes, replaced
    with pytest.raises(TypeError):
        text.encode(b"bytes")


def _word_level():
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1, "red": 2, "circle": 3, "left": 4}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def test_hf_text_vocabularies(tmp_path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    raw = HFTextVocabulary(_word_level())
    assert raw.size == 5 and raw.encode("a red circle") == [1, 2, 3] and raw.decode([1, 2, 3]) == "a red circle"
    fast = PreTrainedTokenizerFast(tokenizer_object=_word_level(), unk_token="[UNK]")
    fast.save_pretrained(tmp_path / "tok")
    loaded = HFTextVocabulary(AutoTokenizer.from_pretrained(tmp_path / "tok"))
    assert loaded.size == 5 and loaded.encode("a circle left") == [1, 3, 4]
    for text in (raw, loaded):
        vocab = SharedVocabulary(text, {"image": image_vq()})
        assert vocab.pad_id == 5 and vocab.range_of("image") == range(12, 44)
        packed = vocab.pack(["a red", MediaSpan("image", torch.zeros(2, 2, dtype=torch.long)), "circle"])
        assert packed.ids[:3].tolist() == [vocab.bos_id, 1, 2]
        again = SharedVocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
        assert again.text.encode("red left") == [2, 4]
        assert [s if isinstance(s, str) else s.name for s in again.unpack(packed.ids)] == ["a red", "image", "circle"]


def test_import_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, omnitok.unified; heavy = {'lightning', 'transformers', 'tokenizers', 'diffusers', 'torchaudio', "
        "'timm', 'lpips', 'scipy'} & {m.split('.')[0] for m in sys.modules}; print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
