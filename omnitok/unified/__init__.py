"""The unified Transformer's side of the protocol: a shared vocabulary over any tokenizers, sequence packing in the
flattened and delayed multi-codebook layouts, the reference decoder-only Transformer and constrained generation."""

from omnitok.unified.checkpoint import LoadedUnified, load_unified, save_unified
from omnitok.unified.generate import generate, generate_batch
from omnitok.unified.model import KVCache, TransformerConfig, UnifiedTransformer
from omnitok.unified.packing import collate, pack, unpack
from omnitok.unified.sampling import GenerationConfig, filter_logits, guide, sample
from omnitok.unified.spans import ContinuousInput, MediaSpan, Packed
from omnitok.unified.text import ByteTextVocabulary, HFTextVocabulary, TextVocabulary
from omnitok.unified.vocabulary import SharedVocabulary

__all__ = [
    "ByteTextVocabulary",
    "ContinuousInput",
    "GenerationConfig",
    "HFTextVocabulary",
    "KVCache",
    "LoadedUnified",
    "MediaSpan",
    "Packed",
    "SharedVocabulary",
    "TextVocabulary",
    "TransformerConfig",
    "UnifiedTransformer",
    "collate",
    "filter_logits",
    "generate",
    "generate_batch",
    "guide",
    "load_unified",
    "pack",
    "sample",
    "save_unified",
    "unpack",
]
