"""Generic helpers over any ``Tokenizer`` (ours or a user's): round trips and token files.

Token files are safetensors holding ``indices`` (discrete) or ``latents`` (continuous), with the tokenizer's
spec as JSON metadata, so a file says how to decode itself. An optional *media* record (JSON metadata too) says
what the encoded input was, so decoding can give back exactly its shape: audio stores ``samples`` (the input's
length at the tokenizer's rate; the token grid covers whole frames, so decoding is trimmed to it), video stores
``frames``/``height``/``width``/``fps``. Files without it (older files) decode to whole frames.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from torch import Tensor

from omnitok.errors import ConfigError, WeightsError
from omnitok.protocol import Tokenizer, TokenizerSpec, check_encoded, check_tokens
from omnitok.utils import atomic_path

SPEC_KEY = "omnitok.spec"
MEDIA_KEY = "omnitok.media"


@dataclasses.dataclass
class TokenFile:
    """A token file's contents: tokens as ``encode`` returned them, the spec, and the media record
    (``{}`` when the file carries none; e.g. ``{"samples": 48000}`` for audio)."""

    tokens: Tensor
    spec: TokenizerSpec
    media: dict[str, Any] = dataclasses.field(default_factory=dict)


def reconstruct(tokenizer: Tokenizer, x: Tensor) -> Tensor:
    """decode(encode(x)) through the protocol, checking the tokens against the tokenizer's spec on the way."""
    tokens = tokenizer.encode(x)
    check_encoded(tokens, tokenizer.spec, x.shape, type(tokenizer).__name__)
    return tokenizer.decode(tokens)


def save_tokens(
    path: str | os.PathLike, tokens: Tensor, spec: TokenizerSpec, media: dict[str, Any] | None = None
) -> Path:
    """Write tokens (checked against ``spec``), the spec and an optional media record to a safetensors file,
    atomically.

    Args:
        media: JSON-serializable facts about the encoded input (audio: ``samples``; video: ``frames``, ``height``,
            ``width``, ``fps``), read back by :func:`read_token_file`.

    Raises:
        ConfigError: ``media`` is not a JSON-serializable dict.
    """
    from safetensors.torch import save_file

    check_tokens(tokens, spec)
    metadata = {SPEC_KEY: spec.to_json()}
    if media:
        if not isinstance(media, dict):
            raise ConfigError(f"media must be a dict, got {type(media).__name__}")
        try:
            metadata[MEDIA_KEY] = json.dumps(media, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"media record is not JSON-serializable: {err}") from None
    key = "indices" if spec.discrete else "latents"
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({key: tokens.detach().cpu().contiguous()}, str(tmp), metadata=metadata)
    return path


def read_token_file(path: str | os.PathLike) -> TokenFile:
    """Read a token file written by :func:`save_tokens`: tokens, spec and media record.

    Raises:
        WeightsError: missing or unreadable file, no spec, or a malformed media record.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"token file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            key = "indices" if "indices" in f.keys() else "latents"  # noqa: SIM118 (no `in` on safe_open)
            tokens = f.get_tensor(key)
    except Exception as err:
        raise WeightsError(f"cannot read token file {path}: {err}") from err
    if SPEC_KEY not in metadata:
        raise WeightsError(f"{path} carries no tokenizer spec ({SPEC_KEY!r} metadata)")
    spec = TokenizerSpec.from_json(metadata[SPEC_KEY])
    check_tokens(tokens, spec)
    media: dict[str, Any] = {}
    if MEDIA_KEY in metadata:
        try:
            media = json.loads(metadata[MEDIA_KEY])
        except ValueError as err:
            raise WeightsError(f"{path}: malformed {MEDIA_KEY!r} metadata ({err})") from None
        if not isinstance(media, dict):
            raise WeightsError(f"{path}: {MEDIA_KEY!r} metadata must be a JSON object")
    return TokenFile(tokens, spec, media)


def load_tokens(path: str | os.PathLike) -> tuple[Tensor, TokenizerSpec]:
    """Read a token file written by :func:`save_tokens` -> (tokens, spec); :func:`read_token_file` also returns
    the media record."""
    file = read_token_file(path)
    return file.tokens, file.spec


__all__ = ["MEDIA_KEY", "TokenFile", "load_tokens", "read_token_file", "reconstruct", "save_tokens"]
