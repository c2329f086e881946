"""A Hugging Face causal LM as the unified Transformer: extension, saving, generation (tiny random-init models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM, AutoTokenizer

from omnitok.errors import ConfigError
from omnitok.unified import (
    EmbeddingInit,
    GenerationConfig,
    HFTextVocabulary,
    MediaSpan,
    SharedVocabulary,
    SpanConstraint,
    decode_spans,
    extend_causal_lm,
    generate_media,
    generate_text,
    load_causal_lm,
    save_causal_lm,
)
from omnitok.unified.hf_checkpoint import VOCABULARY_NAME
from tests.unified.hf_tiny import image_spec, lm_folder, speech_spec, vocabulary
from tests.unified.tiny import audio_rvq, image_vq


@pytest.fixture(scope="module")
def lm_dirs(tmp_path_factory):
    """(kind, tie) -> a saved tiny LM folder, made once per module."""
    root, made = tmp_path_factory.mktemp("hf"), {}

    def get(kind: str = "llama", tie: bool = False):
        if (kind, tie) not in made:
            made[kind, tie] = lm_folder(root / f"{kind}_{tie}", kind, tie)
        return made[kind, tie]

    return get


def _pretrained(folder):
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def _extended(folder, **tokenizers):
    model, tokenizer = _pretrained(folder)
    vocab = vocabulary(tokenizer, **tokenizers)
    extend_causal_lm(model, tokenizer, vocab)
    return model.eval(), tokenizer, vocab


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_tokens_added_and_ids_stable_across_save_load(lm_dirs, tmp_path, kind):
    text_ids = AutoTokenizer.from_pretrained(lm_dirs(kind)).encode("a red circle", add_special_tokens=False)
    model, tokenizer, vocab = _extended(lm_dirs(kind))
    assert tokenizer.encode("a red circle", add_special_tokens=False) == text_ids
    assert vocab.text.size == 300 and len(tokenizer) == vocab.size
    assert tokenizer.convert_tokens_to_ids("<|omnitok_image_q0_3|>") == vocab.range_of("image")[3]
    assert tokenizer.convert_tokens_to_ids("<|omnitok_speech_q1_7|>") == vocab.range_of("speech", 1)[7]
    assert tokenizer.convert_tokens_to_ids("<|omnitok_begin_speech|>") == vocab.begin_id("speech")
    assert model.get_input_embeddings().weight.shape[0] >= vocab.size
    sample = [
        "a red circle",
        MediaSpan("image", torch.randint(0, 16, (2, 3))),
        "says",
        MediaSpan("speech", torch.randint(0, 8, (4, 2))),
    ]
    ids = vocab.pack(sample).ids
    save_causal_lm(model, tokenizer, vocab, tmp_path / "lm")
    loaded = load_causal_lm(tmp_path / "lm")
    assert loaded.vocabulary.to_dict()["tokenizers"] == vocab.to_dict()["tokenizers"]
    assert loaded.vocabulary.size == vocab.size and loaded.vocabulary.text.size == vocab.text.size
    assert loaded.tokenizer.convert_ids_to_tokens(ids.tolist()) == tokenizer.convert_ids_to_tokens(ids.tolist())
    assert loaded.tokenizer.encode("a red circle", add_special_tokens=False) == text_ids
    assert torch.equal(loaded.vocabulary.pack(sample).ids, ids)
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids[None]).logits, model(ids[None]).logits, atol=1e-6)
    recorded = json.loads((tmp_path / "lm" / VOCABULARY_NAME).read_text())["ids"]
    assert recorded["tokenizers"]["speech"]["levels"][1] == [
        vocab.range_of("speech", 1).start,
        vocab.range_of("speech", 1).stop,
    ]
    # extending the saved tokenizer again only checks it; a second save over the folder replaces it
    extend_causal_lm(loaded.model, loaded.tokenizer, loaded.vocabulary)
    assert len(loaded.tokenizer) == vocab.size
    save_causal_lm(loaded.model, loaded.tokenizer, loaded.vocabulary, tmp_path / "lm")
    assert load_causal_lm(tmp_path / "lm").vocabulary.size == vocab.size


@pytest.mark.parametrize("tie", [False, True])
def test_new_embedding_rows_follow_the_mean_and_covariance_of_the_text_rows(lm_dirs, tie):
    model, tokenizer = _pretrained(lm_dirs("llama", tie))
    vocab = vocabulary(tokenizer, image=image_spec(4096))
    with torch.no_grad():  # text rows with a clear non-zero mean and correlated, unequal variances
        mix = torch.randn(32, 32, generator=torch.Generator().manual_seed(1)) / 4
        for matrix in {
            id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings())
        }.values():
            matrix.copy_(torch.randn(matrix.shape) @ mix + torch.linspace(-1, 1, 32))
    before = [model.get_input_embeddings().weight[:300].clone(), model.get_output_embeddings().weight[:300].clone()]
    extend_causal_lm(model, tokenizer, vocab, EmbeddingInit(covariance_scale=1.0, seed=3))
    inputs, outputs = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert (outputs is inputs) == tie and inputs.shape[0] % 64 == 0 and inputs.shape[0] >= vocab.size
    for weight, old in zip((inputs, outputs), before):
        assert torch.equal(weight[:300], old)  # text rows untouched
        text, new = old.double(), weight[300:].detach().double()
        mean, cov = text.mean(0), torch.cov(text.T)
        n = len(new)
        assert ((new.mean(0) - mean).abs() <= 5 * (cov.diagonal() / n).sqrt()).all()
        assert torch.linalg.matrix_norm(torch.cov(new.T) - cov) / torch.linalg.matrix_norm(cov) < 0.15
    # the point-mass rule: new rows at the mean
    model, tokenizer = _pretrained(lm_dirs("llama", tie))
    extend_causal_lm(model, tokenizer, vocab, EmbeddingInit(covariance_scale=0.0))
    weight = model.get_input_embeddings().weight.detach()
    assert torch.allclose(weight[300:], weight[:300].mean(0).expand(len(weight) - 300, -1), atol=1e-5)


def test_refused_layouts_and_mismatches(lm_dirs):
    model, tokenizer = _pretrained(lm_dirs())
    delayed = SharedVocabulary(HFTextVocabulary(tokenizer), {"speech": speech_spec()}, layout="delayed")
    with pytest.raises(ConfigError, match="one output head"):
        extend_causal_lm(model, tokenizer, delayed)
    vocab = vocabulary(tokenizer)
    tokenizer.add_tokens(["<extra>"])
    with pytest.raises(ConfigError, match="text ids"):
        extend_causal_lm(model, tokenizer, vocab)


def test_span_constrained_generation_always_decodes(lm_dirs):
    image, speech = image_vq(), audio_rvq()
    model, _, vocab = _extended(lm_dirs("qwen2"), image=image, speech=speech)
    torch.manual_seed(0)
    prompts = [["a red circle"], ["blue", MediaSpan("image", torch.randint(0, 32, (4, 4)))]]
    for config in (GenerationConfig(temperature=0), GenerationConfig(top_k=3, cfg_scale=3.0)):
        spans = generate_media(model, vocab, prompts, "image", (4, 4), config)
        assert [s.grid for s in spans] == [(4, 4)] * 2
        media = decode_spans(spans, {"image": image})
        assert all(m.shape == (1, 3, 16, 16) for m in media)
    spans = generate_media(model, vocab, prompts, "speech", (5,), GenerationConfig(cfg_scale=2.0), ["the"])
    assert [s.tokens.shape for s in spans] == [(1, 5, 4)] * 2
    assert decode_spans(spans, {"speech": speech})[0].shape == (1, 1, 40)
    assert all(isinstance(t, str) for t in generate_text(model, vocab, prompts, GenerationConfig(max_text_tokens=5)))


def test_the_lm_opens_spans_itself_and_they_still_decode(lm_dirs):
    """Through the model's own ``generate``: an LM pushed towards begin tokens opens image spans of the given grid
    wherever it likes, and the whole output unpacks."""
    model, _, vocab = _extended(lm_dirs(), image=image_spec())
    from transformers import LogitsProcessorList

    begin = vocab.begin_id("image")

    def push(input_ids, scores):  # an LM that likes opening image spans
        return scores.index_add(1, torch.tensor([begin]), torch.full((len(scores), 1), 20.0))

    constraint = SpanConstraint(vocab, {"image": (2, 3)})
    prompt = vocab.pack(["a red"], eos=False).ids[None]
    allowed = constraint.allowed(constraint.state(prompt[0]), model.config.vocab_size)
    assert allowed[: vocab.text.size].all() and allowed[begin] and allowed[vocab.eos_id]
    assert not allowed[vocab.range_of("image")[0]] and not allowed[vocab.row_sep_id] and not allowed[vocab.size :].any()
    torch.manual_seed(1)
    out = model.generate(
        prompt,
        logits_processor=LogitsProcessorList([push, constraint]),
        do_sample=True,
        top_k=0,
        max_new_tokens=36,
        pad_token_id=vocab.pad_id,
        eos_token_id=vocab.eos_id,
    )[0]
    last_end = int((out == vocab.end_id("image")).nonzero().max())
    spans = [s for s in vocab.unpack(out[: last_end + 1]) if isinstance(s, MediaSpan)]
    assert len(spans) >= 3 and all(s.grid == (2, 3) for s in spans)


def test_saved_folder_loads_without_omnitok(lm_dirs, tmp_path):
    model, tokenizer, vocab = _extended(lm_dirs("qwen2", True))
    save_causal_lm(model, tokenizer, vocab, tmp_path / "lm")
    code = f"""
import json, sys
sys.modules["omnitok"] = None
try:
    import omnitok
except ImportError:
    pass
else:
    raise SystemExit("omnitok imported")
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder = {str(tmp_path / "lm")!r}
model = AutoModelForCausalLM.from_pretrained(folder)
tokenizer = AutoTokenizer.from_pretrained(folder)
ids = json.load(open(folder + "/{VOCABULARY_NAME}"))["ids"]
first = ids["tokenizers"]["image"]["levels"][0][0]
assert tokenizer.convert_tokens_to_ids("<|omnitok_image_q0_0|>") == first, first
assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
print(tuple(model(torch.tensor([[1, first, first + 1]])).logits.shape))
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith(f"(1, 3, {model.get_input_embeddings().weight.shape[0]})")
