"""The world's Transformer: omnitok's reference :class:`~omnitok.unified.UnifiedTransformer` or a random-init Hugging
Face causal LM (a Llama or Qwen2 architecture), trained the same way and asked the same questions.

A world recipe's ``model`` section picks one::

    model: {kind: reference, dim: 128, depth: 3, heads: 4}   # omnitok's Transformer
    model: {kind: llama, dim: 128, depth: 3, heads: 4}       # LlamaForCausalLM from a config (qwen2 likewise)

The Hugging Face model starts from the world's word-level text tokenizer (a ``PreTrainedTokenizerFast`` over the
caption grammar, as a pretrained LM's own tokenizer would be) and is extended with the media tokens by
:func:`omnitok.unified.extend_causal_lm`, so both models see the same ids. :class:`WorldBackend` hides how each
generates: omnitok's ``generate_batch`` or the LM's own ``generate`` with omnitok's span constraints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from omnitok.errors import ConfigError

KINDS = ("reference", "llama", "qwen2")
SHAPE_KEYS = {"dim", "depth", "heads"}


def model_kind(section: dict[str, Any] | None) -> str:
    kind = str((section or {}).get("kind", "reference"))
    if kind not in KINDS:
        raise ConfigError(f"model.kind must be one of {list(KINDS)}, got {kind!r}")
    return kind


def hf_text_tokenizer() -> Any:
    """The world's word-level tokenizer as a ``transformers`` tokenizer (what an LM's own tokenizer would be)."""
    from transformers import PreTrainedTokenizerFast

    from examples.world.text import UNKNOWN, world_text_vocabulary

    return PreTrainedTokenizerFast(tokenizer_object=world_text_vocabulary("words").tokenizer, unk_token=UNKNOWN)


def text_vocabulary(kind: str, text: str) -> Any:
    """The shared vocabulary's text side: the world's words (both models; the HF one through its own tokenizer
    class, with the same ids) or bytes (reference model only)."""
    from examples.world.text import world_text_vocabulary
    from omnitok.unified import HFTextVocabulary

    if kind == "reference":
        return world_text_vocabulary(text)
    if text != "words":
        raise ConfigError(f"a Hugging Face world model reads the world's words; set text: words (got {text!r})")
    return HFTextVocabulary(hf_text_tokenizer())


def hf_config(kind: str, vocab_size: int, dim: int, depth: int, heads: int, max_positions: int = 1024) -> Any:
    """A LlamaConfig / Qwen2Config of the reference model's width, depth and heads (MLP 4x wide, full KV heads)."""
    from transformers import LlamaConfig, Qwen2Config

    cls = LlamaConfig if kind == "llama" else Qwen2Config
    return cls(
        vocab_size=vocab_size,
        hidden_size=dim,
        intermediate_size=4 * dim,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )


@dataclasses.dataclass
class WorldModel:
    """What :func:`build_model` makes: the module ``UnifiedTrainer`` trains, the model generation asks, and the HF
    tokenizer (None for the reference model)."""

    kind: str
    trained: nn.Module
    tokenizer: Any = None

    @property
    def model(self) -> nn.Module:
        return self.trained.model if self.kind != "reference" else self.trained

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def build_model(section: dict[str, Any] | None, vocab: Any) -> WorldModel:
    """The recipe's ``model`` section over ``vocab`` (whose text side :func:`text_vocabulary` made)."""
    from omnitok.unified import TransformerConfig, UnifiedTransformer

    section = dict(section or {})
    kind = model_kind(section)
    section.pop("kind", None)
    if kind == "reference":
        return WorldModel(kind, UnifiedTransformer(TransformerConfig(vocab_size=vocab.size, **section)))
    unknown = sorted(set(section) - SHAPE_KEYS)
    if unknown:
        raise ConfigError(f"unknown model key(s) {unknown} for a Hugging Face world model; known: {sorted(SHAPE_KEYS)}")
    from transformers import AutoModelForCausalLM

    from omnitok.unified import CausalLMAdapter, extend_causal_lm

    tokenizer = vocab.text.tokenizer
    shape = {"dim": 128, "depth": 3, "heads": 4, **section}
    model = AutoModelForCausalLM.from_config(hf_config(kind, len(tokenizer), **shape), attn_implementation="sdpa")
    extend_causal_lm(model, tokenizer, vocab, pad_to_multiple_of=None)
    return WorldModel(kind, CausalLMAdapter(model), tokenizer)


def save_model(world_model: WorldModel, vocab: Any, folder: Any) -> None:
    """The reference model with ``save_unified``; a Hugging Face one as a ``save_pretrained`` folder (+ vocabulary)."""
    from omnitok.unified import save_unified

    if world_model.kind == "reference":
        save_unified(world_model.model, vocab, folder)
    else:
        from omnitok.unified import save_causal_lm

        save_causal_lm(world_model.model, world_model.tokenizer, vocab, folder)


class WorldBackend:
    """Text and media generation from either model, with the same sampling settings.

    Args:
        world_model: from :func:`build_model` (trained).
        vocab: the shared vocabulary.
    """

    def __init__(self, world_model: WorldModel, vocab: Any):
        self.kind, self.model, self.vocab = world_model.kind, world_model.model.eval(), vocab

    @torch.no_grad()
    def text(self, prompts: Sequence[Sequence[Any]], max_tokens: int = 64) -> list[str]:
        """Greedy text after each prompt (lists of text and MediaSpans)."""
        from omnitok.unified import GenerationConfig, generate_batch
        from omnitok.unified.hf_generate import generate_text

        greedy = GenerationConfig(temperature=0.0, max_text_tokens=max_tokens)
        if self.kind == "reference":
            return [str(s).strip() for s in generate_batch(self.model, self.vocab, prompts, "text", config=greedy)]
        return [s.strip() for s in generate_text(self.model, self.vocab, prompts, config=greedy)]

    @torch.no_grad()
    def media(
        self, prompts: Sequence[Sequence[Any]], name: str, grid: Sequence[int], config: Any, generator: torch.Generator
    ) -> list[Any]:
        """A ``name`` span of ``grid`` after each prompt, sampled with ``config`` (GenerationConfig, CFG included).
        The HF path samples from the global RNG, seeded here from ``generator`` so a run repeats."""
        from omnitok.unified import generate_batch
        from omnitok.unified.hf_generate import generate_media

        if self.kind == "reference":
            return generate_batch(self.model, self.vocab, prompts, name, grid=grid, config=config, generator=generator)
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))
        return generate_media(self.model, self.vocab, prompts, name, grid=grid, config=config)
