"""Generic helpers over any ``Tokenizer`` (ours or a user's): round trips and token files.

Token files are safetensors holding ``indices`` (discrete) or ``latents`` (continuous), with the tokenizer's
spec as JSON metadata, so a file says how to decode itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor

from omnitok.errors import WeightsError
from omnitok.protocol import Tokenizer, TokenizerSpec, check_encoded, check_tokens
from omnitok.utils import atomic_path

SPEC_KEY = "omnitok.spec"


def reconstruct(tokenizer: Tokenizer, x: Tensor) -> Tensor:
    """decode(encode(x)) through the protocol, checking the tokens against the tokenizer's spec on the way."""
    tokens = tokenizer.encode(x)
    check_encoded(tokens, tokenizer.spec, x.shape, type(tokenizer).__name__)
    return tokenizer.decode(tokens)


def save_tokens(path: str | os.PathLike, tokens: Tensor, spec: TokenizerSpec) -> Path:
    """Write tokens (checked against ``spec``) and the spec to a safetensors file, atomically."""
    from safetensors.torch import save_file

    check_tokens(tokens, spec)
    key = "indices" if spec.discrete else "latents"
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({key: tokens.detach().cpu().contiguous()}, str(tmp), metadata={SPEC_KEY: spec.to_json()})
    return path


def load_tokens(path: str | os.PathLike) -> tuple[Tensor, TokenizerSpec]:
    """Read a token file written by :func:`save_tokens` -> (tokens, spec)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"token file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            key = "indices" if "indices" in f.keys() else "latents"
            tokens = f.get_tensor(key)
    except Exception as err:
        raise WeightsError(f"cannot read token file {path}: {err}") from err
    if SPEC_KEY not in metadata:
        raise WeightsError(f"{path} carries no tokenizer spec ({SPEC_KEY!r} metadata)")
    spec = TokenizerSpec.from_json(metadata[SPEC_KEY])
    check_tokens(tokens, spec)
    return tokens, spec


__all__ = ["load_tokens", "reconstruct", "save_tokens"]
