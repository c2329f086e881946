"""The unified Transformer's side of the protocol: a shared vocabulary over any tokenizers, sequence packing in the
flattened and delayed multi-codebook layouts, the reference decoder-only Transformer and constrained generation, and
the same for any Hugging Face causal LM (``hf_*`` modules; transformers is imported only when they run)."""

from omnitok.unified.checkpoint import LoadedUnified, load_unified, save_unified
from omnitok.unified.generate import generate, generate_batch
from omnitok.unified.hf_checkpoint import LoadedCausalLM, load_causal_lm, save_causal_lm
from omnitok.unified.hf_generate import SpanConstraint, SpanGuidance, decode_spans, generate_media, generate_text
from omnitok.unified.hf_model import CausalLMAdapter
from omnitok.unified.hf_vocabulary import (
    EmbeddingInit,
    ExtendedLM,
    extend_causal_lm,
    extend_embeddings,
    extend_tokenizer,
)
from omnitok.unified.model import KVCache, TransformerConfig, UnifiedTransformer
from omnitok.unified.packing import collate, pack, unpack
from omnitok.unified.row_packing import Example, RowPacker, example, pack_rows
from omnitok.unified.sampling import GenerationConfig, filter_logits, guide, sample
from omnitok.unified.spans import ContinuousInput, MediaSpan, Packed
from omnitok.unified.text import ByteTextVocabulary, HFTextVocabulary, TextVocabulary
from omnitok.unified.vocabulary import SharedVocabulary

__all__ = [
    "ByteTextVocabulary",
    "CausalLMAdapter",
    "ContinuousInput",
    "EmbeddingInit",
    "Example",
    "ExtendedLM",
    "GenerationConfig",
    "HFTextVocabulary",
    "KVCache",
    "LoadedCausalLM",
    "LoadedUnified",
    "MediaSpan",
    "Packed",
    "RowPacker",
    "SharedVocabulary",
    "SpanConstraint",
    "SpanGuidance",
    "TextVocabulary",
    "TransformerConfig",
    "UnifiedTransformer",
    "collate",
    "decode_spans",
    "example",
    "extend_causal_lm",
    "extend_embeddings",
    "extend_tokenizer",
    "filter_logits",
    "generate",
    "generate_batch",
    "generate_media",
    "generate_text",
    "guide",
    "load_causal_lm",
    "load_unified",
    "pack",
    "pack_rows",
    "sample",
    "save_causal_lm",
    "save_unified",
    "unpack",
]
