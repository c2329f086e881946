"""pack / unpack / collate: hand-written layouts, round trips through real tokenizers, and malformed sequences."""

import pytest
import torch

from omnitok.errors import DTypeError, IndexRangeError, ShapeError
from omnitok.protocol import TokenizerSpec
from omnitok.unified import ByteTextVocabulary, MediaSpan, SharedVocabulary
from tests.unified.tiny import PlainAudioTokenizer, audio_rvq, image_continuous, image_grouped, image_vq, video_vq


def spec(modality, sizes, kind="single"):
    downsample = {"image": (4, 4), "audio": (10,), "video": (1, 2, 2)}[modality]
    return TokenizerSpec(modality, True, sizes, kind, downsample=downsample)


def test_flattened_image_with_separators_by_hand():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": spec("image", (4,))})
    # pad..frame 256..260, image begin/end 261/262, codes 263..266
    packed = vocab.pack([MediaSpan("image", torch.tensor([[0, 1], [2, 3]])), "B"])
    assert packed.ids.tolist() == [257, 261, 263, 264, 259, 265, 266, 259, 262, 66, 258]
    assert packed.positions.tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [2, 0, 0],
        [2, 0, 1],
        [2, 0, 2],
        [2, 1, 0],
        [2, 1, 1],
        [2, 1, 2],
        [3, 0, 0],
        [4, 0, 0],
        [5, 0, 0],
    ]
    assert packed.modality.tolist() == [0] + [1] * 8 + [0, 0]


def test_flattened_video_and_residual_audio_by_hand():
    vocab = SharedVocabulary(
        ByteTextVocabulary(), {"video": spec("video", (3,)), "audio": spec("audio", (2, 5), "residual")}
    )
    # video begin/end 261/262, audio 263/264; video codes 265..267; audio level 0 268..269, level 1 270..274
    packed = vocab.pack(
        [MediaSpan("video", torch.tensor([[[0, 1]], [[2, 0]]])), MediaSpan("audio", torch.tensor([[1, 4], [0, 0]]))],
        bos=False,
        eos=False,
    )
    assert packed.ids.tolist() == [261, 265, 266, 259, 260, 267, 265, 259, 260, 262, 263, 269, 274, 268, 270, 264]
    assert packed.positions.tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [1, 0, 1],
        [1, 0, 2],
        [1, 1, 0],
        [2, 0, 0],
        [2, 0, 1],
        [2, 0, 2],
        [2, 1, 0],
        [3, 0, 0],
        [4, 0, 0],
        [5, 0, 0],
        [5, 0, 0],
        [6, 0, 0],
        [6, 0, 0],
        [7, 0, 0],
    ]
    assert packed.modality.tolist() == [1] * 10 + [2] * 6


def test_delayed_layout_by_hand():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"plain": PlainAudioTokenizer()}, layout="delayed")
    # pad 256 bos 257 eos 258, plain begin/end 261/262, level 0 263..269, level 1 270..274; stream 1 lags one row
    packed = vocab.pack(["A", MediaSpan("plain", torch.tensor([[1, 2], [3, 4], [5, 0]]))])
    assert packed.ids.tolist() == [
        [257, 256],
        [65, 256],
        [261, 256],
        [264, 256],
        [266, 272],
        [268, 274],
        [256, 270],
        [262, 256],
        [258, 256],
    ]
    assert packed.positions[:, 0].tolist() == list(range(9)) and not packed.positions[:, 1:].any()
    assert packed.modality.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0]
    (span,) = [s for s in vocab.unpack(packed.ids) if isinstance(s, MediaSpan)]
    assert span.tokens.tolist() == [[[1, 2], [3, 4], [5, 0]]] and span.grid == (3,)


def _media():
    torch.manual_seed(0)
    tokenizers = {
        "image": image_vq(),
        "grouped": image_grouped(),
        "speech": audio_rvq(),
        "video": video_vq(),
        "plain": PlainAudioTokenizer(),
    }
    inputs = {
        "image": [torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 8, 12) * 2 - 1],  # two grids in one sample
        "grouped": [torch.rand(1, 3, 16, 8) * 2 - 1],
        "speech": [torch.rand(1, 1, 48) * 2 - 1],
        "video": [torch.rand(1, 3, 3, 8, 6) * 2 - 1],
        "plain": [torch.rand(1, 1, 40) * 2 - 1],
    }
    return tokenizers, inputs


@pytest.mark.parametrize("layout", ["flattened", "delayed"])
def test_round_trip_through_real_tokenizers(layout):
    tokenizers, inputs = _media()
    clip = image_continuous()
    vocab = SharedVocabulary(ByteTextVocabulary(), tokenizers, continuous={"clip": clip}, layout=layout)
    sample, originals = ["une scène: "], []
    for name, xs in inputs.items():
        for x in xs:
            tokens = tokenizers[name].encode(x)
            sample += [MediaSpan(name, tokens), f" then {name} "]
            originals.append((name, tokens))
    latents = clip.encode(torch.rand(1, 3, 8, 16) * 2 - 1)
    sample.append(MediaSpan("clip", latents[0]))  # no batch axis: accepted too
    packed = vocab.pack(sample)
    assert packed.ids.shape == ((len(packed),) if layout == "flattened" else (len(packed), 4))
    assert packed.ids.min() >= 0 and packed.ids.max() < vocab.size
    assert (packed.positions[1:, 0] >= packed.positions[:-1, 0]).all()  # t never goes back
    out = vocab.unpack(packed.ids, packed.continuous)
    assert len(out) == len(sample)
    for got, want in zip(out, sample):
        if isinstance(want, str):
            assert got == want
            continue
        assert got.name == want.name and got.tokens.shape[0] == 1
        if want.name == "clip":
            assert got.grid == (2, 4) and torch.equal(got.tokens, latents)
            continue
        assert torch.equal(got.tokens, want.tokens)
        assert got.grid == tuple(want.tokens.shape[1 : 1 + len(vocab.spec(want.name).downsample)])
        decoder = tokenizers[want.name]
        torch.testing.assert_close(decoder.decode(got.tokens), decoder.decode(want.tokens), rtol=0, atol=0)
    unlatent = vocab.unpack(packed.ids)[-1]  # without the latents a continuous span still reports its grid
    assert unlatent.name == "clip" and unlatent.tokens is None and unlatent.grid == (2, 4)


def test_fixed_grids_without_separators():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()}, separators=False, grids={"image": (4, 4)})
    tokens = torch.randint(0, 32, (4, 4))
    packed = vocab.pack([MediaSpan("image", tokens)])
    assert len(packed) == 1 + 1 + 16 + 1 + 1 and vocab.row_sep_id not in packed.ids.tolist()
    assert torch.equal(vocab.unpack(packed.ids)[0].tokens[0], tokens)
    with pytest.raises(ShapeError, match="fixed grid"):
        vocab.pack([MediaSpan("image", torch.zeros(2, 4, dtype=torch.long))])
    with pytest.raises(ShapeError, match="cells"):
        vocab.unpack(torch.cat([packed.ids[:5], packed.ids[6:]]))  # one code missing


def test_pack_errors():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq(), "speech": audio_rvq()})
    with pytest.raises(IndexRangeError, match="outside the codebook"):
        vocab.pack([MediaSpan("image", torch.full((2, 2), 32))])
    with pytest.raises(DTypeError, match="integer"):
        vocab.pack([MediaSpan("image", torch.zeros(2, 2))])
    with pytest.raises(ShapeError, match="all 4 levels"):
        vocab.pack([MediaSpan("speech", torch.zeros(5, 2, dtype=torch.long))])  # a residual bitrate prefix
    with pytest.raises(ShapeError, match="grid axes"):
        vocab.pack([MediaSpan("image", torch.zeros(2, 2, 2, 2, dtype=torch.long))])
    with pytest.raises(DTypeError, match="str or MediaSpan"):
        vocab.pack(["ok", 3])
    with pytest.raises(DTypeError, match="list"):
        vocab.pack("just text")


def _image_sequence():
    vocab = SharedVocabulary(
        ByteTextVocabulary(), {"image": spec("image", (4,)), "speech": spec("audio", (2, 5), "residual")}
    )
    ids = vocab.pack(["x", MediaSpan("image", torch.tensor([[0, 1], [2, 3]])), "y"]).ids
    return vocab, ids  # [257, 120, 261, 265, 266, 259, 267, 268, 259, 262, 121, 258]


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda ids: ids[:8], ShapeError, "truncated: the sequence ends"),
        (lambda ids: torch.cat([ids[:8], ids[10:]]), ShapeError, "truncated: id 258"),
        (lambda ids: torch.cat([ids[:8], ids[9:]]), ShapeError, "malformed"),  # the last row separator lost
        (lambda ids: torch.cat([ids[:4], ids[5:]]), ShapeError, "does not split"),  # a code lost
        (lambda ids: torch.cat([ids[:4], ids[5:6], ids[4:5], ids[6:]]), ShapeError, "malformed"),  # separator moved
        (
            lambda ids: torch.cat([ids[:3], torch.tensor([269]), ids[4:]]),
            IndexRangeError,
            "level-0 code",
        ),  # a speech id
        (lambda ids: torch.cat([ids[:2], torch.tensor([266]), ids[2:]]), ShapeError, "outside one"),  # code outside
        (
            lambda ids: torch.cat([ids[:2], torch.tensor([259]), ids[2:]]),
            ShapeError,
            "outside one",
        ),  # separator outside
        (
            lambda ids: torch.cat([ids[:4], torch.tensor([265]), ids[4:]]),
            ShapeError,
            "does not split",
        ),  # a code too many
        (
            lambda ids: torch.cat([ids[:4], torch.tensor([263]), ids[4:]]),
            ShapeError,
            "truncated: id 263",
        ),  # a begin inside
        (lambda ids: torch.cat([ids, torch.tensor([10**6])]), IndexRangeError, "outside the vocabulary"),
        (lambda ids: torch.cat([torch.tensor([-1]), ids]), IndexRangeError, "outside the vocabulary"),
        (lambda ids: ids[None], ShapeError, r"unpacks ids \[L\]"),
        (lambda ids: ids.float(), DTypeError, "integer"),
    ],
)
def test_unpack_errors(edit, error, match):
    vocab, ids = _image_sequence()
    assert ids.tolist() == [257, 120, 261, 265, 266, 259, 267, 268, 259, 262, 121, 258]
    with pytest.raises(error, match=match):
        vocab.unpack(edit(ids))


def test_delayed_unpack_errors():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"plain": PlainAudioTokenizer()}, layout="delayed")
    ids = vocab.pack(["A", MediaSpan("plain", torch.tensor([[1, 2], [3, 4]]))]).ids
    bad = ids.clone()
    bad[1, 1] = 65  # text row with a stream-1 id
    with pytest.raises(ShapeError, match="streams 1"):
        vocab.unpack(bad)
    bad = ids.clone()
    bad[3, 1] = 263  # the delay gap of stream 1 must hold pad
    with pytest.raises(ShapeError, match="malformed"):
        vocab.unpack(bad)
    bad = ids.clone()
    bad[4, 1] = 263  # a level-0 id where stream 1's level-1 code belongs
    with pytest.raises(IndexRangeError, match="level-1 code"):
        vocab.unpack(bad)
    with pytest.raises(ShapeError, match=r"\[L, 2\]"):
        vocab.unpack(ids[:, 0])


@pytest.mark.parametrize("side", ["right", "left"])
def test_collate(side):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()}, continuous={"clip": image_continuous()})
    a = vocab.pack(["ab", MediaSpan("clip", torch.randn(3, 1, 2))])
    b = vocab.pack(["a", MediaSpan("image", torch.zeros(1, 1, dtype=torch.long))])
    batch = vocab.collate([a, b], padding_side=side)
    la, lb = len(a), len(b)
    assert batch["ids"].shape == (2, la) and la > lb
    rows = slice(0, lb) if side == "right" else slice(la - lb, la)
    assert torch.equal(batch["ids"][0], a.ids) and torch.equal(batch["ids"][1, rows], b.ids)
    assert torch.equal(batch["positions"][1, rows], b.positions)
    assert batch["attention_mask"].sum(1).tolist() == [la, lb]
    assert (batch["ids"][1][~batch["attention_mask"][1]] == vocab.pad_id).all()
    placeholder = batch["ids"] == vocab.latent_id("clip")
    assert placeholder.sum() == 2
    expected_loss = batch["attention_mask"] & ~placeholder & (batch["ids"] != vocab.bos_id)
    assert torch.equal(batch["loss_mask"], expected_loss)
    clip = batch["continuous"]["clip"]
    assert torch.equal(clip.mask, placeholder) and torch.equal(clip.values, a.continuous["clip"])
