"""Format versions of the files omnitok writes, and the one rule for reading them.

Token files (``omnitok.format`` metadata) and tokenizer folders (``format_version`` in ``config.json``) carry the
version of their layout. Files from before versions existed read as format 0; every format up to the current one
is read (the compatibility fixtures in ``tests/compat`` keep that true); a file from a newer omnitok is refused
with a message saying so, instead of being misread.
"""

from __future__ import annotations

from typing import Any

from omnitok.errors import WeightsError

TOKEN_FILE_FORMAT = 1
"""1: adds the format key itself (0: files written by omnitok 0.1.0 before it; same layout)."""

TOKENIZER_FORMAT = 1
"""1: adds ``format_version`` to ``config.json`` (0: folders written by omnitok 0.1.0 before it; same layout)."""


def read_format_version(found: Any, current: int, what: str) -> int:
    """The format version a file declares (``found``: None for files that predate versions, read as 0).

    Raises:
        WeightsError: a malformed version, or one newer than ``current`` (written by a newer omnitok).
    """
    if found is None:
        return 0
    try:
        version = int(found)
    except (TypeError, ValueError):
        raise WeightsError(f"{what} declares a malformed format version {found!r}") from None
    if version < 0 or str(version) != str(found).strip():
        raise WeightsError(f"{what} declares a malformed format version {found!r}")
    if version > current:
        raise WeightsError(
            f"{what} has format {version}, newer than this omnitok reads (up to {current}); upgrade omnitok to read it"
        )
    return version


__all__ = ["TOKENIZER_FORMAT", "TOKEN_FILE_FORMAT", "read_format_version"]
