"""SharedVocabulary over an omni tokenizer: one id range for the shared codebook, begin/end tokens per modality."""

from __future__ import annotations

import json

import pytest
import torch

from omnitok.errors import ConfigError, IndexRangeError
from omnitok.unified import ByteTextVocabulary, MediaSpan, SharedVocabulary, TransformerConfig, UnifiedTransformer
from omnitok.unified.hf_generate import SpanConstraint, SpanState
from omnitok.unified.hf_vocabulary import token_names
from tests.models.omni_models import inputs, tiny_omni
from tests.unified.tiny import audio_rvq, image_vq


@pytest.fixture(scope="module")
def omni():
    return tiny_omni(("image", "audio"), codebook_size=32)


def test_hand_computed_ids_share_one_range(omni):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": omni.image, "other": image_vq(16), "audio": omni.audio})
    # text 0..255; pad, bos, eos, row, frame 256..260; begin/end: image 261/262, other 263/264, audio 265/266;
    # codes: the shared codebook (inferred from the one quantizer) 267..298 where image's range goes, other 299..314.
    assert vocab.shared_codebooks == {"image+audio": ("image", "audio")}
    assert [(vocab.begin_id(n), vocab.end_id(n)) for n in ("image", "other", "audio")] == [(261, 262), (263, 264),
                                                                                         (265, 266)]  # fmt: skip
    assert vocab.range_of("image") == vocab.range_of("audio") == range(267, 299)
    assert vocab.range_of("other") == range(299, 315) and vocab.size == 315
    assert [vocab.codebook_of(n) for n in ("image", "other", "audio")] == ["image+audio", "other", "image+audio"]
    assert [vocab.tag_of(n) for n in ("image", "other", "audio")] == [1, 2, 3]  # spans stay per modality


def test_image_and_audio_ids_index_the_same_embedding_rows(omni):
    """Encode an image and a clip, pack both into one sample: code c has the id 265 + c in either span, so a code
    both modalities used reads one and the same embedding row; unpacking gives back each span's tokens and name."""
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": omni.image, "audio": omni.audio})
    assert vocab.range_of("image") == vocab.range_of("audio") == range(265, 297)  # after 256 text + 5 + 2 x 2 ids
    x = inputs()
    image, audio = omni.image.encode(x["image"][:1]), omni.audio.encode(x["audio"][:1])  # [1, 4, 4], [1, 8]
    packed = vocab.pack(["a", MediaSpan("image", image), "b", MediaSpan("audio", audio)])
    ids, tags = packed.ids, packed.modality
    code_ids = {name: ids[(tags == vocab.tag_of(name)) & (ids >= 265)] for name in ("image", "audio")}
    assert torch.equal(code_ids["image"], image.reshape(-1) + 265)  # row separators are not codes (id 259)
    assert torch.equal(code_ids["audio"], audio.reshape(-1) + 265)
    common = sorted(set(image.reshape(-1).tolist()) & set(audio.reshape(-1).tolist()))
    assert common  # these seeds give codes both modalities use
    embed = UnifiedTransformer(TransformerConfig(vocab_size=vocab.size, dim=8, depth=1, heads=2)).embed[0]
    for code in common:
        at_image = code_ids["image"][image.reshape(-1) == code][0]
        at_audio = code_ids["audio"][audio.reshape(-1) == code][0]
        assert at_image == at_audio and torch.equal(embed(at_image), embed(at_audio))
    apart = SharedVocabulary(ByteTextVocabulary(), {"image": omni.image, "audio": omni.audio}, shared_codebooks={})
    assert apart.range_of("audio")[common[0]] != apart.range_of("image")[common[0]]  # separate ranges: two rows
    segments = vocab.unpack(ids)
    assert segments[0] == "a" and segments[2] == "b"
    assert segments[1].name == "image" and torch.equal(segments[1].tokens, image) and segments[1].grid == (4, 4)
    assert segments[3].name == "audio" and torch.equal(segments[3].tokens, audio) and segments[3].grid == (8,)
    decoded = omni.audio.decode(segments[3].tokens)
    assert decoded.shape == (1, 1, 64)


def test_begin_token_decides_the_decoder(omni):
    """The same code ids read as an image span or an audio span by their begin/end tokens alone."""
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": omni.image, "audio": omni.audio})
    codes = torch.arange(16).view(1, 16)
    (as_audio,) = vocab.unpack(vocab.pack([MediaSpan("audio", codes)], bos=False, eos=False).ids)
    assert as_audio.name == "audio" and torch.equal(as_audio.tokens, codes)
    ids = vocab.pack([MediaSpan("audio", codes)], bos=False, eos=False).ids
    assert ids[0] == vocab.begin_id("audio") and ids[-1] == vocab.end_id("audio")
    bad = ids.clone()
    bad[1] = vocab.size  # outside the vocabulary
    with pytest.raises(IndexRangeError):
        vocab.unpack(bad)


def test_saved_layout_round_trips_and_old_files_load_unchanged(omni):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": omni.image, "audio": omni.audio})
    saved = json.loads(json.dumps(vocab.to_dict()))
    assert saved["format_version"] == 2 and saved["shared_codebooks"] == {"image+audio": ["image", "audio"]}
    back = SharedVocabulary.from_dict(saved)
    assert back.size == vocab.size and back.range_of("audio") == vocab.range_of("image")
    assert json.loads(json.dumps(back.to_dict())) == saved
    # without shared codebooks: version 1, no new key, and a version-1 layout written before this change loads
    plain = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq(32), "speech": audio_rvq()})
    layout = plain.to_dict()
    assert layout["format_version"] == 1 and "shared_codebooks" not in layout
    assert SharedVocabulary.from_dict(layout).to_dict() == layout
    # specs alone never share: the same omni specs from a file without the key get separate ranges
    without = {k: v for k, v in saved.items() if k != "shared_codebooks"}
    apart = SharedVocabulary.from_dict({**without, "format_version": 1, "size": 261 + 4 + 64})
    assert apart.shared_codebooks == {} and apart.range_of("audio").start == apart.range_of("image").stop


def test_explicit_groups_and_opting_out(omni):
    specs = {"image": omni.image.spec, "audio": omni.audio.spec}
    named = SharedVocabulary(ByteTextVocabulary(), specs, shared_codebooks={"omni": ["audio", "image"]})
    assert named.shared_codebooks == {"omni": ("image", "audio")} and named.range_of("audio") == range(265, 297)
    apart = SharedVocabulary(ByteTextVocabulary(), {"image": omni.image, "audio": omni.audio}, shared_codebooks={})
    assert apart.shared_codebooks == {} and apart.size == 265 + 64


@pytest.mark.parametrize(
    "groups, match",
    [
        ({"omni": ["image"]}, "2 or more"),
        ({"omni": "image"}, "2 or more"),
        ({"omni": 3}, "2 or more"),
        ({"omni": ["image", "clip"]}, "not a discrete tokenizer"),
        ({"image": ["image", "audio"]}, "other than 'text' and the tokenizer names"),
        ({"a": ["image", "audio"], "b": ["audio", "other"]}, "in two shared codebooks"),
        ({"a": ["image", "other"]}, "sizes"),
    ],
)
def test_group_errors(omni, groups, match):
    with pytest.raises(ConfigError, match=match):
        SharedVocabulary(
            ByteTextVocabulary(),
            {"image": omni.image.spec, "audio": omni.audio.spec, "other": image_vq(16)},
            shared_codebooks=groups,
        )


def test_hf_token_names_and_span_constraint_use_the_shared_range(omni):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": omni.image, "audio": omni.audio})
    names = token_names(vocab)  # one name per added id, contiguous: the shared codes are named once
    assert len(names) == vocab.size - 256 and len(set(names)) == len(names)
    assert names[265 - 256] == "<|omnitok_image+audio_q0_0|>" and "<|omnitok_begin_audio|>" in names
    constraint = SpanConstraint(vocab, grids={"image": (4, 4), "audio": (8,)})
    for name, cell in (("image", 0), ("audio", 3)):
        allowed = constraint.allowed(SpanState(name, cell), vocab.size)
        assert allowed.nonzero().reshape(-1).tolist() == list(range(265, 297))
