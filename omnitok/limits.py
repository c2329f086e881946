"""Resource limits: how much a file or a config may make omnitok allocate before it is refused.

A 370-byte PNG header can claim 100000 x 100000 pixels, an 8 MB token file a grid that decodes to tens of GB, a
config a codebook of 10^12 codes. Each is checked against a stated limit before anything is allocated, and refused
with an error that names the limit and the environment variable that raises it. The variables are read at every
check, so they reach DataLoader workers and subprocesses too.

=============================  =============================  ===============================================
limit                          environment variable           default
=============================  =============================  ===============================================
pixels of one decoded image    ``OMNITOK_MAX_IMAGE_PIXELS``   2**26 (67 Mpx, e.g. 8192 x 8192)
values of one decoded sample   ``OMNITOK_MAX_DECODED_VALUES`` 2**28 (channels x frames x pixels, or samples)
codes of one codebook          ``OMNITOK_MAX_CODEBOOK_SIZE``  2**24 (16.7 M codes)
=============================  =============================  ===============================================
"""

from __future__ import annotations

import dataclasses
import os

from omnitok.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Limit:
    """One limit: its default and the environment variable that overrides it."""

    what: str
    variable: str
    default: int

    @property
    def value(self) -> int:
        """The limit in force: the environment variable when set (a positive integer), else the default."""
        text = os.environ.get(self.variable)
        if text is None or not text.strip():
            return self.default
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{self.variable} must be a positive integer, got {text!r}") from None
        if value < 1:
            raise ConfigError(f"{self.variable} must be a positive integer, got {text!r}")
        return value

    def exceeded(self, amount: int, subject: str) -> str | None:
        """A message saying that ``subject`` needs more than the limit allows, or None when it fits."""
        limit = self.value
        if amount <= limit:
            return None
        return f"{subject} needs {amount:,} {self.what}, above the limit of {limit:,} (raise it with {self.variable})"


IMAGE_PIXELS = Limit("pixels", "OMNITOK_MAX_IMAGE_PIXELS", 2**26)
DECODED_VALUES = Limit("values", "OMNITOK_MAX_DECODED_VALUES", 2**28)
CODEBOOK_SIZE = Limit("codes", "OMNITOK_MAX_CODEBOOK_SIZE", 2**24)

__all__ = ["CODEBOOK_SIZE", "DECODED_VALUES", "IMAGE_PIXELS", "Limit"]
