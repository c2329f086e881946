"""A Hugging Face causal LM as the unified Transformer on CUDA (marker ``gpu``; skipped without one): packed rows in
bf16, a checkpointed bf16 training step and constrained generation on the GPU, and the real-scale recipe's sizes
(Qwen2.5-0.5B's shape, random init, no download): extension time, step time and peak memory, printed."""

from __future__ import annotations

import time

import pytest
import torch

pytest.importorskip("transformers")
pl = pytest.importorskip("lightning.pytorch")

from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

from omnitok.protocol import TokenizerSpec
from omnitok.trainers.unified import UnifiedTrainer
from omnitok.unified import (
    CausalLMAdapter,
    GenerationConfig,
    HFTextVocabulary,
    MediaSpan,
    SharedVocabulary,
    example,
    extend_causal_lm,
    generate_media,
    pack_rows,
)
from tests.unified.hf_tiny import lm_folder, vocabulary

pytestmark = pytest.mark.gpu


def _examples(vocab, n=4, image=(2, 3), speech=(3, 2), sizes=(16, 8)):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        img = MediaSpan("image", torch.randint(0, sizes[0], image, generator=g))
        sp = MediaSpan("speech", torch.randint(0, sizes[1], speech, generator=g))
        out.append(example(vocab, ["a red circle", img] if i % 2 else [sp, "says hello"], {"image"} if i % 2 else None))
    return out


def test_packed_bf16_training_and_generation_on_cuda(tmp_path):
    folder = lm_folder(tmp_path / "qwen", "qwen2", tie=True, hidden=64)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16, attn_implementation="sdpa").cuda()
    vocab = vocabulary(tokenizer)
    extend_causal_lm(model, tokenizer, vocab)
    system = UnifiedTrainer(CausalLMAdapter(model, gradient_checkpointing=True), vocab, warmup_steps=0).cuda()
    items = _examples(vocab)
    packed = {k: v.cuda() if torch.is_tensor(v) else v for k, v in pack_rows(vocab, items, 80).items()}
    with torch.no_grad():
        total, _ = system.loss(packed)
        sums = counts = 0
        for item in items:
            alone = {k: v.cuda() if torch.is_tensor(v) else v for k, v in pack_rows(vocab, [item], 80).items()}
            count = int(alone["loss_mask"][:, 1:].sum())
            sums, counts = sums + system.loss(alone)[0] * count, counts + count
    assert torch.allclose(total, sums / counts, rtol=2e-2), (total, sums / counts)
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="gpu",
        devices=1,
        precision="bf16-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(
        system, train_dataloaders=torch.utils.data.DataLoader([pack_rows(vocab, items, 80)] * 2, batch_size=None)
    )
    model.eval()
    spans = generate_media(model, vocab, [["a red circle"], []], "image", (3, 4), GenerationConfig(cfg_scale=3.0))
    assert [s.grid for s in spans] == [(3, 4)] * 2


def test_real_scale_recipe_sizes_extend_and_step(tmp_path):
    """Qwen2.5-0.5B's shape (random init), image VQ 16384 + speech RVQ 8 x 2048, rows of 4096 tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    text_ids = 151665
    raw = Tokenizer(models.WordLevel({f"w{i}": i for i in range(text_ids)}, unk_token="w0"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="w0")
    config = Qwen2Config(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=32768,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").cuda()
    image = TokenizerSpec("image", True, codebook_sizes=(16384,), downsample=(16, 16))
    speech = TokenizerSpec(
        "audio",
        True,
        codebook_sizes=(2048,) * 8,
        codebook_kind="residual",
        downsample=(1280,),
        channels=1,
        sample_rate=16000,
    )
    vocab = SharedVocabulary(HFTextVocabulary(tokenizer), {"image": image, "speech": speech})
    torch.cuda.synchronize()
    start = time.perf_counter()
    extend_causal_lm(model, tokenizer, vocab)
    torch.cuda.synchronize()
    extend_s = time.perf_counter() - start
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    system = UnifiedTrainer(CausalLMAdapter(model, gradient_checkpointing=True), vocab, warmup_steps=0).cuda()
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(24):  # captions + 16x16 images, captions + 10 s of speech (125 frames x 8 levels)
        media = (
            MediaSpan("image", torch.randint(0, 16384, (16, 16), generator=g))
            if i % 2
            else MediaSpan("speech", torch.randint(0, 2048, (125, 8), generator=g))
        )
        items.append(example(vocab, [" ".join(f"w{j}" for j in range(1, 20)), media]))
    batch = pack_rows(vocab, items, 4096)
    optimizer = system.configure_optimizers()["optimizer"]
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(3):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss, _ = system.loss({k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items()})
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    tokens = int(batch["attention_mask"].sum())
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(
        f"\nreal-scale: vocab {vocab.size} ids, rows {tuple(batch['ids'].shape)}, {tokens} tokens; extend {extend_s:.1f}s; "
        f"step {min(times):.2f}s ({tokens / min(times):.0f} tokens/s), peak {peak:.1f} GiB, loss {loss.item():.2f}"
    )
    assert torch.isfinite(loss)
