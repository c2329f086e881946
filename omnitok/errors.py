"""Exception types raised at omnitok's boundaries.

Each subclasses the builtin a caller would naturally catch (``ValueError``, ``FileNotFoundError``...), so
code that does not know omnitok still handles them, while ``except OmnitokError`` catches all of ours.
"""

from __future__ import annotations


class OmnitokError(Exception):
    """Base class of every error omnitok raises on bad input."""


class ShapeError(OmnitokError, ValueError):
    """A tensor has the wrong rank, channel count or size."""


class DTypeError(OmnitokError, TypeError):
    """A tensor has a dtype the operation does not accept."""


class NonFiniteError(OmnitokError, ValueError):
    """A tensor holds NaN or Inf where finite values are required."""


class IndexRangeError(OmnitokError, ValueError):
    """Token indices fall outside the codebook."""


class ConfigError(OmnitokError, ValueError):
    """A configuration names an unknown or forbidden class, or an argument the class does not take."""


class WeightsError(OmnitokError, OSError):
    """A weights or config file is missing, unreadable or does not match the model."""


class DataError(OmnitokError, OSError):
    """A data file or folder is missing, unreadable, truncated or holds no usable samples."""


class OutputError(OmnitokError, OSError):
    """An output file or folder cannot be written (read-only location, full disk, a file where a folder must go).

    Unlike a bad input, it concerns every output alike, so commands stop at the first one instead of skipping the
    input and going on."""
