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
import math
import os
from pathlib import Path
from typing import Any

from torch import Tensor

from omnitok.errors import ConfigError, OmnitokError, WeightsError
from omnitok.formats import TOKEN_FILE_FORMAT, read_format_version
from omnitok.protocol import Tokenizer, TokenizerSpec, check_encoded, check_tokens
from omnitok.utils import atomic_path

SPEC_KEY = "omnitok.spec"
MEDIA_KEY = "omnitok.media"
WEIGHTS_KEY = "omnitok.weights_sha256"
FORMAT_KEY = "omnitok.format"


@dataclasses.dataclass
class TokenFile:
    """A token file's contents: tokens as ``encode`` returned them, the spec, the media record (``{}`` when the
    file carries none; e.g. ``{"samples": 48000}`` for audio) and the SHA-256 of the weights that wrote it (None
    when unknown: older files, or a tokenizer not loaded from a saved folder)."""

    tokens: Tensor
    spec: TokenizerSpec
    media: dict[str, Any] = dataclasses.field(default_factory=dict)
    weights_sha256: str | None = None


def reconstruct(tokenizer: Tokenizer, x: Tensor) -> Tensor:
    """decode(encode(x)) through the protocol, checking the tokens against the tokenizer's spec on the way."""
    tokens = tokenizer.encode(x)
    check_encoded(tokens, tokenizer.spec, x.shape, type(tokenizer).__name__)
    return tokenizer.decode(tokens)


def save_tokens(
    path: str | os.PathLike,
    tokens: Tensor,
    spec: TokenizerSpec,
    media: dict[str, Any] | None = None,
    weights_sha256: str | None = None,
) -> Path:
    """Write tokens (checked against ``spec``), the spec, an optional media record and the fingerprint of the
    weights that made them to a safetensors file, atomically.

    Args:
        media: JSON-serializable facts about the encoded input (audio: ``samples``; video: ``frames``, ``height``,
            ``width``, ``fps``), read back by :func:`read_token_file`.
        weights_sha256: the tokenizer's :func:`omnitok.fingerprint.weights_fingerprint`, checked when decoding.

    Raises:
        ConfigError: ``media`` is not a JSON-serializable dict with valid values, or the fingerprint is not a
            SHA-256 hex digest.
    """
    from safetensors.torch import save_file

    check_tokens(tokens, spec)
    metadata = {SPEC_KEY: spec.to_json(), FORMAT_KEY: str(TOKEN_FILE_FORMAT)}
    if media:
        if not isinstance(media, dict):
            raise ConfigError(f"media must be a dict, got {type(media).__name__}")
        check_media_record(media, spec, tokens)  # what read_token_file will check, so every file written reads back
        try:
            metadata[MEDIA_KEY] = json.dumps(media, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"media record is not JSON-serializable: {err}") from None
    if weights_sha256 is not None:
        if not is_sha256(weights_sha256):
            raise ConfigError(f"weights_sha256 must be a SHA-256 hex digest, got {weights_sha256!r}")
        metadata[WEIGHTS_KEY] = weights_sha256
    key = "indices" if spec.discrete else "latents"
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({key: tokens.detach().cpu().contiguous()}, str(tmp), metadata=metadata)
    return path


def read_token_file(path: str | os.PathLike) -> TokenFile:
    """Read a token file written by :func:`save_tokens`: tokens, spec, media record and weights fingerprint.

    Everything in the file is checked before it is returned: the spec's fields and types, the tokens against it
    (dtype, rank, range, no empty axis), the media record's values against the token grid.

    Raises:
        WeightsError: missing or unreadable file, or a missing or malformed spec, tokens or media record; the
            message names the file.
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
    read_format_version(metadata.get(FORMAT_KEY), TOKEN_FILE_FORMAT, f"token file {path}")
    if SPEC_KEY not in metadata:
        raise WeightsError(f"{path} carries no tokenizer spec ({SPEC_KEY!r} metadata)")
    try:
        spec = TokenizerSpec.from_json(metadata[SPEC_KEY])
        check_tokens(tokens, spec)
        media = _media_record(metadata.get(MEDIA_KEY))
        check_media_record(media, spec, tokens)
    except OmnitokError as err:
        raise WeightsError(f"{path}: {err}") from None
    fingerprint = metadata.get(WEIGHTS_KEY)
    if fingerprint is not None and not is_sha256(fingerprint):
        raise WeightsError(f"{path}: malformed {WEIGHTS_KEY!r} metadata {fingerprint!r}")
    return TokenFile(tokens, spec, media, fingerprint)


def _media_record(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        media = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"malformed {MEDIA_KEY!r} metadata ({err})") from None
    if not isinstance(media, dict):
        raise ConfigError(f"{MEDIA_KEY!r} metadata must be a JSON object")
    return media


_POSITIVE_INT_FIELDS = ("samples", "frames", "height", "width", "source_sample_rate", "source_channels")


def check_media_record(media: dict[str, Any], spec: TokenizerSpec | None = None, tokens: Tensor | None = None) -> None:
    """Raise ConfigError unless the media record's known fields hold valid values: counts are positive integers,
    ``fps`` a positive finite number, and (given the spec and tokens) ``samples`` / ``frames`` / ``height`` /
    ``width`` fit inside what the token grid decodes to."""
    for name in _POSITIVE_INT_FIELDS:
        value = media.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"media record field {name!r} must be a positive integer, got {value!r}")
    fps = media.get("fps")
    if fps is not None and not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 < fps < math.inf):
        raise ConfigError(f"media record field 'fps' must be a positive number, got {fps!r}")
    if spec is None or tokens is None:
        return
    extent = spec.input_extent(token_grid(tokens, spec))
    from omnitok.modalities import get_modality

    for name, size in zip(get_modality(spec.modality).axes, extent):
        value = media.get(name)
        if value is not None and value > size:
            raise ConfigError(f"media record says {name}={value}, more than the {size} the token grid decodes to")


def token_grid(tokens: Tensor, spec: TokenizerSpec) -> tuple[int, ...]:
    """The grid of checked tokens: ``[B, *grid]``, ``[B, *grid, Q]`` or latents ``[B, D, *grid]``."""
    if not spec.discrete:
        return tuple(tokens.shape[2:])
    return tuple(tokens.shape[1:-1] if spec.codebook_kind != "single" else tokens.shape[1:])


def is_sha256(text: object) -> bool:
    """True for a 64-character lower-case hex string."""
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def load_tokens(path: str | os.PathLike) -> tuple[Tensor, TokenizerSpec]:
    """Read a token file written by :func:`save_tokens` -> (tokens, spec); :func:`read_token_file` also returns
    the media record."""
    file = read_token_file(path)
    return file.tokens, file.spec


__all__ = [
    "FORMAT_KEY",
    "MEDIA_KEY",
    "WEIGHTS_KEY",
    "TokenFile",
    "check_media_record",
    "load_tokens",
    "read_token_file",
    "reconstruct",
    "save_tokens",
]
