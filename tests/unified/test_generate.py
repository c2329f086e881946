"""Generation: logit filters by hand, constrained spans that always decode, guidance against a full recompute."""

import pytest
import torch
from torch import nn

from omnitok.errors import ConfigError
from omnitok.unified import (
    ByteTextVocabulary,
    GenerationConfig,
    MediaSpan,
    SharedVocabulary,
    filter_logits,
    generate,
    generate_batch,
    guide,
    sample,
)
from omnitok.unified.layout import FREE
from omnitok.unified.packing import span_layout
from tests.unified.tiny import PlainAudioTokenizer, audio_rvq, image_continuous, image_vq, tiny_model, video_vq


def test_filter_logits_by_hand():
    order = torch.tensor([2, 0, 3, 1])  # probabilities 0.5, 0.3, 0.15, 0.05 at these shuffled indices
    logits = torch.empty(4)
    logits[order] = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    logits = logits[None]
    kept = lambda out: sorted(torch.isfinite(out[0]).nonzero()[:, 0].tolist())
    assert kept(filter_logits(logits, top_p=0.7)) == sorted([2, 0])  # 0.5 < 0.7 before the second, 0.8 after
    assert kept(filter_logits(logits, top_p=0.85)) == sorted([2, 0, 3])
    assert kept(filter_logits(logits, top_p=0.4)) == [2]  # the most likely token always stays
    assert kept(filter_logits(logits, top_k=2)) == sorted([2, 0])
    # top-k first, then top-p on the renormalized rest: 0.5/0.95 = 0.526 < 0.6 keeps the second, 0.842 stops
    assert kept(filter_logits(logits, top_k=3, top_p=0.6)) == sorted([2, 0])
    assert kept(filter_logits(torch.tensor([[1.0, 3.0, 3.0, 0.0]]), top_k=1)) == [1, 2]  # ties stay
    out = filter_logits(logits, top_p=0.85)
    assert torch.equal(out[torch.isfinite(out)], logits[torch.isfinite(out)])  # kept logits unchanged
    assert torch.equal(filter_logits(logits), logits)


def test_guide_and_sample():
    cond, uncond = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])
    assert guide(cond, uncond, 3.0).tolist() == [[3.0, -2.0]]
    assert torch.equal(guide(cond, uncond, 1.0), cond)
    logits = torch.tensor([[5.0, 0.0, 1.0, 2.0]]).repeat(500, 1)
    allowed = torch.tensor([False, True, True, False])
    greedy = sample(logits, allowed, GenerationConfig(temperature=0))
    assert (greedy == 2).all()
    drawn = sample(logits, allowed, GenerationConfig(), torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {1, 2}
    with pytest.raises(ConfigError):
        GenerationConfig(top_p=0.0)


def adversarial(model, vocab, target):
    """Give the heads a large bias towards every id the target span may NOT hold in a code cell."""
    good = torch.zeros(vocab.size, dtype=torch.bool)
    for q in range(vocab.spec(target).num_levels):
        r = vocab.range_of(target, q)
        good[r.start : r.stop] = True
    for s, head in enumerate(model.heads):
        biased = nn.Linear(head.in_features, head.out_features)
        with torch.no_grad():
            biased.weight.copy_(head.weight)
            biased.bias.copy_(torch.where(good, 0.0, 30.0))
        model.heads[s] = biased
    return model


@pytest.mark.parametrize(
    "layout, target, grid",
    [
        ("flattened", "image", (3, 2)),
        ("flattened", "video", (2, 2, 3)),
        ("flattened", "speech", (5,)),
        ("delayed", "speech", (5,)),
        ("delayed", "plain", (4,)),
        ("delayed", "image", (2, 3)),
    ],
)
def test_constrained_spans_stay_in_range_and_fill_the_grid(layout, target, grid):
    tokenizers = {"image": image_vq(), "video": video_vq(), "speech": audio_rvq(), "plain": PlainAudioTokenizer()}
    vocab = SharedVocabulary(ByteTextVocabulary(), tokenizers, layout=layout)
    model = adversarial(tiny_model(vocab.size, streams=vocab.num_streams), vocab, target)
    spec = vocab.spec(target)
    config = GenerationConfig(temperature=1.5, top_k=50, cfg_scale=2.0)
    spans = generate_batch(
        model,
        vocab,
        [["a"], ["bcd", MediaSpan("image", torch.zeros(1, 2, dtype=torch.long))]],
        target,
        grid,
        config,
        generator=torch.Generator().manual_seed(0),
    )
    for span in spans:
        assert span.name == target and span.grid == grid
        assert span.tokens.shape == ((1, *grid, spec.num_levels) if spec.codebook_kind != "single" else (1, *grid))
        sizes = torch.tensor(spec.codebook_sizes)
        assert (span.tokens >= 0).all() and (
            span.tokens < (sizes if spec.codebook_kind != "single" else sizes[0])
        ).all()
        decoded = tokenizers[target].decode(span.tokens)  # the tokenizer takes it as is
        assert decoded.shape[0] == 1


def full_logits(model, vocab, sample, upto):
    packed = vocab.pack(sample, eos=False)
    ids, pos = packed.ids[:upto][None], packed.positions[:upto][None]
    out = model(ids, pos)[0, -1]
    return out[None] if out.ndim == 1 else out  # (S, V)


@pytest.mark.parametrize("layout, target, grid", [("flattened", "image", (2, 3)), ("delayed", "speech", (3,))])
def test_greedy_guided_generation_equals_full_recompute(layout, target, grid):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq(), "speech": audio_rvq()}, layout=layout)
    model = tiny_model(vocab.size, streams=vocab.num_streams)
    prompt, negative, scale = ["a red circle"], ["no"], 2.5
    span = generate(model, vocab, prompt, target, grid, GenerationConfig(temperature=0, cfg_scale=scale), negative)
    cond = vocab.pack(prompt + [span], eos=False).ids.reshape(-1, vocab.num_streams)
    start_c = len(vocab.pack(prompt, eos=False)) + 1
    start_u = len(vocab.pack(negative, eos=False)) + 1
    layout_cells = span_layout(vocab, target, grid)
    for i in range(len(layout_cells.forced)):
        mixed = guide(
            full_logits(model, vocab, prompt + [span], start_c + i),
            full_logits(model, vocab, negative + [span], start_u + i),
            scale,
        )
        for s in range(vocab.num_streams):
            if layout_cells.forced[i, s] != FREE:
                assert cond[start_c + i, s] == layout_cells.forced[i, s]
                continue
            r = vocab.range_of(target, int(layout_cells.level[i, s]))
            assert cond[start_c + i, s] == r.start + int(mixed[s, r.start : r.stop].argmax())


def test_guidance_scale_one_equals_conditional_sampling():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()})
    model = tiny_model(vocab.size)
    config = GenerationConfig(top_p=0.9, cfg_scale=1.0)
    plain = generate(model, vocab, ["blue"], "image", (3, 3), config, generator=torch.Generator().manual_seed(3))
    guided = generate(
        model,
        vocab,
        ["blue"],
        "image",
        (3, 3),
        config,
        ["a much longer negative prompt"],
        generator=torch.Generator().manual_seed(3),
    )
    assert torch.equal(plain.tokens, guided.tokens)
    again = generate(model, vocab, ["blue"], "image", (3, 3), config, generator=torch.Generator().manual_seed(3))
    other = generate(model, vocab, ["blue"], "image", (3, 3), config, generator=torch.Generator().manual_seed(4))
    assert torch.equal(plain.tokens, again.tokens) and not torch.equal(plain.tokens, other.tokens)
    strong = generate(model, vocab, ["blue"], "image", (3, 3), GenerationConfig(temperature=0, cfg_scale=8.0))
    weak = generate(model, vocab, ["blue"], "image", (3, 3), GenerationConfig(temperature=0))
    assert not torch.equal(strong.tokens, weak.tokens)  # guidance does change the result


def test_batched_greedy_equals_one_by_one():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()}, {"clip": image_continuous()})
    model = tiny_model(vocab.size, continuous={"clip": 3})
    prompts = [
        ["x"],
        ["a longer prompt", MediaSpan("clip", torch.randn(3, 2, 2))],
        ["mid", MediaSpan("image", torch.zeros(1, 1, dtype=torch.long))],
    ]
    greedy = GenerationConfig(temperature=0, max_text_tokens=6)
    for target, grid in (("image", (2, 2)), ("text", None)):
        batched = generate_batch(model, vocab, prompts, target, grid, greedy)
        for prompt, got in zip(prompts, batched):
            alone = generate(model, vocab, prompt, target, grid, greedy)
            assert got == alone if target == "text" else torch.equal(got.tokens, alone.tokens)


class Letters:
    """A duck-typed text vocabulary: a..z as ids 0..25 (every id sequence decodes back to itself)."""

    size = 26

    def encode(self, text):
        return [ord(c) - 97 for c in text]

    def decode(self, ids):
        return "".join(chr(97 + int(i)) for i in ids)

    def to_dict(self):
        return {"kind": "letters"}


def test_text_generation_stops_at_eos_or_the_limit():
    vocab = SharedVocabulary(Letters(), {"image": image_vq()})
    model = tiny_model(vocab.size)
    greedy = GenerationConfig(temperature=0, max_text_tokens=5)
    text = generate(model, vocab, ["q"], "text", config=greedy)
    assert 0 < len(text) <= 5
    packed = vocab.pack(["q", text], eos=False)
    start = len(vocab.pack(["q"], eos=False))
    for i, letter in enumerate(vocab.text.encode(text)):  # greedy = argmax over text ids + eos of a full recompute
        logits = full_logits(model, vocab, ["q", text], start + i)[0]
        allowed = torch.cat([logits[: vocab.text.size], logits[vocab.eos_id : vocab.eos_id + 1]])
        assert int(allowed.argmax()) == letter == int(packed.ids[start + i])
    bias = torch.full((vocab.size,), 0.0)
    bias[0] = 50.0
    biased = nn.Linear(32, vocab.size)
    with torch.no_grad():
        biased.weight.copy_(model.heads[0].weight)
        biased.bias.copy_(bias)
    model.heads[0] = biased
    assert generate(model, vocab, ["q"], "text", config=greedy) == "aaaaa"
    with torch.no_grad():
        biased.bias[vocab.eos_id] = 100.0
    assert generate(model, vocab, ["q"], "text", config=greedy) == ""


def test_generation_errors():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()}, {"clip": image_continuous()})
    model = tiny_model(vocab.size, continuous={"clip": 3})
    with pytest.raises(ConfigError, match="continuous"):
        generate(model, vocab, ["x"], "clip", (2, 2))
    with pytest.raises(ConfigError, match="grid"):
        generate(model, vocab, ["x"], "image")
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        generate(model, vocab, ["x"], "audio", (3,))
    with pytest.raises(ConfigError, match="media targets"):
        generate(model, vocab, ["x"], "text", negative_prompt=["y"])
    with pytest.raises(ConfigError, match="ids"):
        generate(tiny_model(vocab.size + 1), vocab, ["x"], "text")
    assert model.training is False
    model.train()
    generate(model, vocab, ["x"], "image", (1, 1))
    assert model.training  # restored after generation
