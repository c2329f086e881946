"""Saving an extended Hugging Face causal LM as a standard folder, and loading it back with one call.

The folder is what ``save_pretrained`` writes for the model and the tokenizer (so
``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load it without omnitok), plus
``omnitok_vocabulary.json``: the shared vocabulary's layout (tokenizer specs, text size) and, for readers without
omnitok, the added ids: special tokens and per tokenizer its begin/end ids and one [start, stop) range per level.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from omnitok.errors import ConfigError, WeightsError
from omnitok.unified.hf_vocabulary import check_token_ids, require_transformers
from omnitok.unified.text import HFTextVocabulary
from omnitok.unified.vocabulary import SharedVocabulary

VOCABULARY_NAME = "omnitok_vocabulary.json"
FORMAT_VERSION = 1


@dataclasses.dataclass
class LoadedCausalLM:
    """What :func:`load_causal_lm` returns."""

    model: Any
    tokenizer: Any
    vocabulary: SharedVocabulary


def added_ids(vocab: SharedVocabulary) -> dict[str, Any]:
    """The added ids as plain JSON: ``first_id``, ``special`` (pad, bos, eos, row, frame) and per tokenizer
    ``begin``, ``end`` and ``levels`` ([start, stop) per codebook level)."""
    return {
        "first_id": vocab.text.size,
        "size": vocab.size,
        "special": {
            "pad": vocab.pad_id,
            "bos": vocab.bos_id,
            "eos": vocab.eos_id,
            "row": vocab.row_sep_id,
            "frame": vocab.frame_sep_id,
        },
        "tokenizers": {
            name: {
                "begin": vocab.begin_id(name),
                "end": vocab.end_id(name),
                "levels": [
                    [vocab.range_of(name, q).start, vocab.range_of(name, q).stop]
                    for q in range(vocab.spec(name).num_levels)
                ],
            }
            for name in vocab.names
        },
    }


class _SavedText:
    """The text side as saved: the tokenizer in the same folder, its first ``size`` ids."""

    def __init__(self, size: int):
        self.size = size

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "transformers", "name_or_path": ".", "size": self.size}


def _layout(vocab: SharedVocabulary) -> dict[str, Any]:
    """``vocab.to_dict()`` with the text side pointing at the folder's own tokenizer."""
    saved = copy.copy(vocab)
    saved.text = _SavedText(vocab.text.size)  # type: ignore[assignment]
    return saved.to_dict()


def save_causal_lm(model: Any, tokenizer: Any, vocab: SharedVocabulary, directory: str | os.PathLike) -> Path:
    """Write ``model`` and ``tokenizer`` (``save_pretrained``) and the vocabulary file into ``directory``.

    The folder is written next to its place and moved in when complete, so an interrupted save leaves the old
    folder or the new one."""
    check_token_ids(tokenizer, vocab)
    rows = int(model.get_input_embeddings().weight.shape[0])
    if rows < vocab.size:
        raise ConfigError(f"the model embeds {rows} ids, the vocabulary has {vocab.size}: extend it first")
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    data = {"format_version": FORMAT_VERSION, "vocabulary": _layout(vocab), "ids": added_ids(vocab)}
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _check_reload(tokenizer, vocab, tmp)
        (tmp / VOCABULARY_NAME).write_text(json.dumps(data, indent=1))
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _check_reload(tokenizer: Any, vocab: SharedVocabulary, folder: Path) -> None:
    """Raise ConfigError unless ``AutoTokenizer.from_pretrained(folder)`` gives ``tokenizer`` back (transformers picks
    the tokenizer class from the model type, which can rebuild a tokenizer differently)."""
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(folder)
    probe = vocab.text.decode(list(range(min(vocab.text.size, 256))))
    same = len(reloaded) == len(tokenizer) and reloaded.encode(probe, add_special_tokens=False) == tokenizer.encode(
        probe, add_special_tokens=False
    )
    if not same:
        raise ConfigError(
            f"AutoTokenizer.from_pretrained reloads the saved tokenizer as {type(reloaded).__name__}, which encodes "
            f"differently from the {type(tokenizer).__name__} given; use the tokenizer the LM's own folder loads"
        )
    check_token_ids(reloaded, vocab)


def load_causal_lm(directory: str | os.PathLike, **model_kwargs: Any) -> LoadedCausalLM:
    """Load what :func:`save_causal_lm` wrote: model (``AutoModelForCausalLM.from_pretrained(directory,
    **model_kwargs)``, e.g. ``dtype=torch.bfloat16``), tokenizer and vocabulary, checked against each other."""
    require_transformers()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = Path(directory)
    path = directory / VOCABULARY_NAME
    if not path.is_file():
        raise WeightsError(f"{directory} has no {VOCABULARY_NAME}; it was not saved by save_causal_lm")
    try:
        data = json.loads(path.read_text())
        if data.get("format_version") != FORMAT_VERSION:
            raise WeightsError(f"{path}: unsupported format {data.get('format_version')!r}, expected {FORMAT_VERSION}")
        layout, text_size = data["vocabulary"], int(data["vocabulary"]["text"]["size"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"{path} is not an omnitok vocabulary file: {err!r}") from err
    tokenizer = AutoTokenizer.from_pretrained(directory)
    vocab = SharedVocabulary.from_dict(layout, text=HFTextVocabulary(tokenizer, size=text_size))
    check_token_ids(tokenizer, vocab)
    model = AutoModelForCausalLM.from_pretrained(directory, **model_kwargs)
    rows = int(model.get_input_embeddings().weight.shape[0])
    if rows < vocab.size:
        raise WeightsError(f"{directory}: the model embeds {rows} ids, the vocabulary has {vocab.size}")
    return LoadedCausalLM(model.eval(), tokenizer, vocab)
