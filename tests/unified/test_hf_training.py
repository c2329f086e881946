"""Training a Hugging Face causal LM with ``UnifiedTrainer``: packed rows, loss on chosen spans, bf16, checkpointing."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")
pl = pytest.importorskip("lightning.pytorch")

from transformers import AutoModelForCausalLM, AutoTokenizer

from omnitok.errors import ConfigError
from omnitok.trainers.unified import UnifiedTrainer
from omnitok.unified import CausalLMAdapter, MediaSpan, example, extend_causal_lm, pack_rows
from tests.unified.hf_tiny import lm_folder, vocabulary
from tests.unified.tiny import tiny_model


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    return lm_folder(tmp_path_factory.mktemp("hf") / "llama", "qwen2")


def _system(folder, attn="sdpa", checkpointing=False, **kw):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=attn)
    vocab = vocabulary(tokenizer)
    extend_causal_lm(model, tokenizer, vocab)
    return UnifiedTrainer(CausalLMAdapter(model, gradient_checkpointing=checkpointing), vocab, **kw), vocab


def _examples(vocab):
    g = torch.Generator().manual_seed(0)
    return [
        example(vocab, ["a red circle", MediaSpan("image", torch.randint(0, 16, (2, 3), generator=g))], {"image"}),
        example(vocab, ["the blue square", MediaSpan("speech", torch.randint(0, 8, (3, 2), generator=g))]),
        example(vocab, [MediaSpan("image", torch.randint(0, 16, (1, 2), generator=g)), "a green circle"], {1}),
        example(vocab, ["hello"]),
    ]


def test_loss_on_chosen_spans(lm_dir):
    _, vocab = _system(lm_dir)
    caption, image = "a red circle", MediaSpan("image", torch.zeros(2, 3, dtype=torch.long))
    item = example(vocab, [caption, image], {"image"})
    n_text = len(vocab.text.encode(caption))
    span = 2 + 2 * 4  # begin, 2 rows of 3 codes + separator, end
    assert item.loss_mask.tolist() == [False] * (1 + n_text) + [True] * (span + 1)  # bos, caption | image, eos
    assert item.packed.ids[1 + n_text] == vocab.begin_id("image")
    assert example(vocab, [caption, image], {0}).loss_mask.tolist() == [False] + [True] * n_text + [False] * (span + 1)
    with pytest.raises(ConfigError, match="loss_on"):
        example(vocab, [caption], {"video"})


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_equals_separate_loss(lm_dir, attn):
    system, vocab = _system(lm_dir, attn)
    system.eval()
    items = _examples(vocab)
    packed = pack_rows(vocab, items, max_length=48)
    assert len(packed["ids"]) < len(items) and int(packed["segments"].max()) >= 2  # really packed
    with torch.no_grad():
        total, _ = system.loss(packed)
        sums = counts = 0
        for item in items:
            alone = pack_rows(vocab, [item], max_length=48)
            loss, _ = system.loss(alone)
            count = int(alone["loss_mask"][:, 1:].sum())
            sums, counts = sums + loss * count, counts + count
        assert torch.allclose(total, sums / counts, atol=1e-5), (total, sums / counts)
        leaky, _ = system.loss({**packed, "segments": None})  # one causal block per row: samples see each other
        assert not torch.allclose(leaky, total, atol=1e-3)


def test_reference_model_packs_rows_too_and_other_models_are_refused(lm_dir):
    _, vocab = _system(lm_dir)
    system = UnifiedTrainer(tiny_model(vocab.size), vocab)
    items = _examples(vocab)
    packed = pack_rows(vocab, items, max_length=48)
    with torch.no_grad():
        total, _ = system.loss(packed)
        parts = [
            (system.loss(b)[0], int(b["loss_mask"][:, 1:].sum())) for b in (pack_rows(vocab, [i], 48) for i in items)
        ]
    assert torch.allclose(total, sum(loss * n for loss, n in parts) / sum(n for _, n in parts), atol=1e-5)

    class OneSamplePerRow(torch.nn.Module):
        def forward(self, ids, positions, continuous=None, attention_mask=None):
            return torch.zeros(*ids.shape, vocab.size)

    with pytest.raises(ConfigError, match="several samples per row"):
        UnifiedTrainer(OneSamplePerRow(), vocab).loss(packed)


def test_training_loss_falls_on_a_fixed_batch_bf16_checkpointed(lm_dir):
    torch.manual_seed(0)
    system, vocab = _system(
        lm_dir, checkpointing=True, learning_rate=5e-3, warmup_steps=0, lr_schedule="constant", max_steps=12
    )
    assert system.model.checkpointing
    batch = pack_rows(vocab, _examples(vocab), max_length=48)
    with torch.no_grad():
        before = system.loss(batch)[0].item()
    trainer = pl.Trainer(
        max_steps=12,
        accelerator="cpu",
        precision="bf16-mixed",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(system, train_dataloaders=torch.utils.data.DataLoader([batch] * 12, batch_size=None))
    with torch.no_grad():
        after = system.loss(batch)[0].item()
    assert after < 0.7 * before, (before, after)  # 6.0 -> 3.4 in 12 steps
