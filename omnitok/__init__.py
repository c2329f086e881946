"""omnitok: multimodal tokenizers (continuous, discrete, hybrid) for image, video and audio.

``import omnitok`` needs torch and the light core dependencies only; training, evaluation and modality extras
are imported inside the functions that use them.
"""

__version__ = "0.1.0"

from omnitok.errors import (
    ConfigError,
    DataError,
    DTypeError,
    IndexRangeError,
    NonFiniteError,
    OmnitokError,
    ShapeError,
    WeightsError,
)
from omnitok.hub import save_pretrained
from omnitok.media import postprocess, preprocess
from omnitok.protocol import Tokenizer, TokenizerSpec, check_media, check_tokens
from omnitok.resolve import load_tokenizer
from omnitok.tokens import load_tokens, reconstruct, save_tokens

__all__ = [
    "ConfigError",
    "DTypeError",
    "DataError",
    "IndexRangeError",
    "NonFiniteError",
    "OmnitokError",
    "ShapeError",
    "Tokenizer",
    "TokenizerSpec",
    "WeightsError",
    "check_media",
    "check_tokens",
    "load_tokenizer",
    "load_tokens",
    "postprocess",
    "preprocess",
    "reconstruct",
    "save_pretrained",
    "save_tokens",
]
