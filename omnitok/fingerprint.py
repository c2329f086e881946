"""The fingerprint of a tokenizer's weights: the SHA-256 of its ``model.safetensors`` as saved.

A token file only decodes correctly with the weights that wrote it; a tokenizer of the same spec with other weights
decodes it silently into something else. ``load_tokenizer`` records the digest of the file it read on the model
(it stays whatever dtype or device the model moves to), ``omnitok encode`` writes it into every token file, and
``omnitok decode`` refuses a mismatch. Reports record it beside each tokenizer.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

ATTRIBUTE = "weights_sha256"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_fingerprint(tokenizer: Any) -> str | None:
    """The SHA-256 of the weights file ``tokenizer`` was loaded from, or None when it was not loaded from one (a
    model built in code, an adapter of another library's model)."""
    value = getattr(tokenizer, ATTRIBUTE, None)
    return value if isinstance(value, str) else None


def record_fingerprint(model: Any, digest: str) -> None:
    """Remember on ``model`` that its weights are those of the file with SHA-256 ``digest``."""
    object.__setattr__(model, ATTRIBUTE, digest)


__all__ = ["file_sha256", "record_fingerprint", "weights_fingerprint"]
