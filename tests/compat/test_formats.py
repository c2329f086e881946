"""Token files and tokenizer folders declare their format version; a newer one is refused, not misread."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from omnitok.errors import WeightsError
from omnitok.formats import TOKEN_FILE_FORMAT, TOKENIZER_FORMAT
from omnitok.hub import load_tokenizer
from omnitok.protocol import TokenizerSpec
from omnitok.tokens import FORMAT_KEY, read_token_file, save_tokens
from tests.reliability.malformed import forged_token_file

OLD = Path(__file__).parent / "v0_1"


def test_written_files_declare_their_format(tmp_path):
    spec = TokenizerSpec("image", True, (16,), downsample=(4, 4))
    path = save_tokens(tmp_path / "t.safetensors", torch.zeros(1, 2, 2, dtype=torch.long), spec)
    with safe_open(str(path), "pt") as f:
        assert f.metadata()[FORMAT_KEY] == str(TOKEN_FILE_FORMAT)
    folder = load_tokenizer(OLD / "audio_tokenizer").save_pretrained(tmp_path / "tok")
    assert json.loads((folder / "config.json").read_text())["format_version"] == TOKENIZER_FORMAT
    assert load_tokenizer(folder).spec == load_tokenizer(OLD / "audio_tokenizer").spec


def test_files_from_a_newer_omnitok_are_refused_with_a_clear_message(tmp_path):
    spec = TokenizerSpec("image", True, (16,), downsample=(4, 4))
    path = forged_token_file(tmp_path / "t.safetensors", torch.zeros(1, 2, 2, dtype=torch.long), spec)
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as f:
        metadata = {**f.metadata(), FORMAT_KEY: str(TOKEN_FILE_FORMAT + 1)}
    save_file(load_file(str(path)), str(path), metadata=metadata)
    with pytest.raises(WeightsError, match="newer than this omnitok reads.*upgrade omnitok"):
        read_token_file(path)
    folder = shutil.copytree(OLD / "audio_tokenizer", tmp_path / "tok")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format_version": TOKENIZER_FORMAT + 1}))
    with pytest.raises(WeightsError, match="config.json has format 2, newer"):
        load_tokenizer(folder)
    (folder / "config.json").write_text(json.dumps({**config, "format_version": "one"}))
    with pytest.raises(WeightsError, match="malformed format version"):
        load_tokenizer(folder)
