"""The world's word-level text vocabulary: one id per word of the caption grammar (a ``tokenizers`` WordLevel model).

Captions then take 7 tokens instead of ~30 bytes, which keeps the CPU world's sequences short; it is an ordinary
Hugging Face tokenizer plugged in through :class:`omnitok.unified.HFTextVocabulary`, built here rather than
downloaded. The byte-level default (:class:`omnitok.unified.ByteTextVocabulary`) works too (``text: bytes``).
"""

from __future__ import annotations

from examples.world.scenes import CELLS, COLOURS, SHAPES
from omnitok.errors import ConfigError

UNKNOWN = "[UNK]"


def world_words() -> list[str]:
    """Every word of the caption grammar, sorted."""
    words = {"a", "at", "the", *SHAPES, *COLOURS}
    for cell in CELLS:
        words.update(cell.split())
    return sorted(words)


def world_text_vocabulary(kind: str = "words"):  # -> TextVocabulary (HFTextVocabulary or ByteTextVocabulary)
    """``"words"``: the grammar's words (``[UNK]`` is id 0); ``"bytes"``: the byte-level default."""
    from omnitok.unified import ByteTextVocabulary, HFTextVocabulary

    if kind == "bytes":
        return ByteTextVocabulary()
    if kind != "words":
        raise ConfigError(f"text must be 'words' or 'bytes', got {kind!r}")
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {word: i for i, word in enumerate([UNKNOWN, *world_words()])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNKNOWN))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return HFTextVocabulary(tokenizer)
