"""The unified Transformer's side of the protocol: a shared vocabulary over any tokenizers, sequence packing in the
flattened and delayed multi-codebook layouts, the reference decoder-only Transformer and constrained generation."""

from omnitok.unified.packing import collate, pack, unpack
from omnitok.unified.spans import ContinuousInput, MediaSpan, Packed
from omnitok.unified.text import ByteTextVocabulary, HFTextVocabulary, TextVocabulary
from omnitok.unified.vocabulary import SharedVocabulary

__all__ = [
    "ByteTextVocabulary",
    "ContinuousInput",
    "HFTextVocabulary",
    "MediaSpan",
    "Packed",
    "SharedVocabulary",
    "TextVocabulary",
    "collate",
    "pack",
    "unpack",
]
