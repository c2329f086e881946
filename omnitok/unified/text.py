"""Text vocabularies for the shared vocabulary: UTF-8 bytes (no download) or any Hugging Face tokenizer.

A text vocabulary is anything with ``size``, ``encode(text) -> list[int]`` (ids in [0, size)),
``decode(ids) -> str`` and ``to_dict()``; :func:`text_vocabulary_from_dict` rebuilds the two kinds omnitok ships.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from omnitok.errors import ConfigError


@runtime_checkable
class TextVocabulary(Protocol):
    """What :class:`~omnitok.unified.SharedVocabulary` needs from a text tokenizer."""

    @property
    def size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class ByteTextVocabulary:
    """UTF-8 bytes as text tokens: 256 ids, nothing to download, every string encodable.

    ``decode`` replaces invalid byte sequences (a sampled sequence need not be valid UTF-8) instead of raising.
    """

    size = 256

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bytes"}

    def __repr__(self) -> str:
        return "ByteTextVocabulary()"


class HFTextVocabulary:
    """Adapter over a Hugging Face tokenizer: a ``transformers`` tokenizer or a ``tokenizers.Tokenizer``.

    Text is encoded without the tokenizer's own special tokens (the shared vocabulary adds bos/eos itself).
    ``to_dict`` stores a ``tokenizers.Tokenizer`` as its JSON (self-contained) and a ``transformers`` tokenizer
    by ``name_or_path`` (``from_dict`` reloads it with ``AutoTokenizer.from_pretrained``).

    The text ids are the tokenizer's ids when the adapter is made (or the first ``size``): tokens added to the
    tokenizer later (the media tokens of an extended LM, :mod:`omnitok.unified.hf_vocabulary`) are not text.

    Args:
        tokenizer: ``transformers.PreTrainedTokenizerBase`` or ``tokenizers.Tokenizer``.
        size: the number of text ids; default all the tokenizer's ids now.
    """

    def __init__(self, tokenizer: Any, size: int | None = None):
        self.tokenizer = tokenizer
        self._raw = hasattr(tokenizer, "get_vocab_size") and hasattr(tokenizer, "to_str")  # tokenizers.Tokenizer
        if not self._raw and not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")):
            raise ConfigError(f"{type(tokenizer).__name__} is neither a transformers nor a tokenizers tokenizer")
        total = self._total()
        if size is not None and not 1 <= int(size) <= total:
            raise ConfigError(f"size {size} must lie in [1, {total}] (the tokenizer's ids)")
        self._size = total if size is None else int(size)

    def _total(self) -> int:
        if self._raw:
            return int(self.tokenizer.get_vocab_size(with_added_tokens=True))
        return len(self.tokenizer)

    @property
    def size(self) -> int:
        return self._size

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self._raw:
            return list(self.tokenizer.encode(text, add_special_tokens=False).ids)
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        if self._raw:
            return self.tokenizer.decode(ids, skip_special_tokens=False)
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def to_dict(self) -> dict[str, Any]:
        if self._raw:
            return {"kind": "tokenizers", "json": self.tokenizer.to_str(), "size": self.size}
        name = getattr(self.tokenizer, "name_or_path", "")
        if not name:
            raise ConfigError(
                "this transformers tokenizer has no name_or_path to save; save it and load it from a folder"
            )
        return {"kind": "transformers", "name_or_path": str(name), "size": self.size}

    def __repr__(self) -> str:
        return f"HFTextVocabulary({type(self.tokenizer).__name__}, size={self.size})"


def text_vocabulary_from_dict(data: dict[str, Any]) -> TextVocabulary:
    """Rebuild a text vocabulary from ``to_dict``'s output (transformers tokenizers are loaded by name)."""
    kind = data.get("kind")
    if kind == "bytes":
        return ByteTextVocabulary()
    if kind == "tokenizers":
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(data["json"])
    elif kind == "transformers":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(data["name_or_path"])
    else:
        raise ConfigError(f"unknown text vocabulary kind {kind!r} (expected bytes, tokenizers or transformers)")
    vocab = HFTextVocabulary(tokenizer)
    if "size" in data and vocab.size != data["size"]:
        raise ConfigError(f"the reloaded text tokenizer has {vocab.size} ids, the saved vocabulary {data['size']}")
    return vocab
