"""Tiny Hugging Face causal LMs and a word-level tokenizer built offline (no download) for the HF tests."""

from __future__ import annotations

from pathlib import Path

import torch

from omnitok.protocol import TokenizerSpec
from omnitok.unified import HFTextVocabulary, SharedVocabulary

CORPUS = [
    "a red circle on the left",
    "the blue square is on the right",
    "a green circle says hello",
    "the red square on the right says a word",
]


def text_tokenizer():
    """A byte-level BPE tokenizer (300 ids, GPT-2/Qwen style) trained offline on a few sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>")


def lm_folder(folder: Path, kind: str = "llama", tie: bool = False, hidden: int = 32) -> Path:
    """A "pretrained" LM folder: a tiny random-init model and its tokenizer, both saved with ``save_pretrained``, so
    ``AutoModelForCausalLM``/``AutoTokenizer.from_pretrained(folder)`` load them as they would a hub model."""
    tokenizer = text_tokenizer()
    tiny_lm(kind, vocab_size=len(tokenizer), tie=tie, hidden=hidden).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_lm(kind: str = "llama", vocab_size: int = 16, tie: bool = False, hidden: int = 32):
    """A 2-layer random-init LlamaForCausalLM or Qwen2ForCausalLM, seeded, sdpa attention."""
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    cls = LlamaConfig if kind == "llama" else Qwen2Config
    config = cls(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=tie,
        bos_token_id=None,
        eos_token_id=0,
        pad_token_id=None,
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")


def image_spec(codebook_size: int = 16) -> TokenizerSpec:
    """An image tokenizer's spec: one codebook, 8x downsampling."""
    return TokenizerSpec("image", True, codebook_sizes=(codebook_size,), downsample=(8, 8))


def speech_spec(levels: int = 2, codebook_size: int = 8) -> TokenizerSpec:
    """A residual speech codec's spec: ``levels`` codebooks, 1280 samples per frame at 16 kHz."""
    return TokenizerSpec(
        "audio",
        True,
        codebook_sizes=(codebook_size,) * levels,
        codebook_kind="residual",
        downsample=(1280,),
        channels=1,
        sample_rate=16000,
        token_rate=12.5,
    )


def vocabulary(tokenizer, **tokenizers) -> SharedVocabulary:
    """A flattened shared vocabulary over ``tokenizer`` (the LM's own) and image + speech specs by default."""
    specs = tokenizers or {"image": image_spec(), "speech": speech_spec()}
    return SharedVocabulary(HFTextVocabulary(tokenizer), specs)
