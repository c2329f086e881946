"""Adapters: ecosystem tokenizers (diffusers, transformers) behind omnitok's ``Tokenizer`` protocol.

``load_adapter("diffusers:<folder or hub id>")`` / ``load_adapter("transformers:<folder or hub id>")`` loads one;
``wrap(model)`` wraps a model instance. Each adapter holds the wrapped model as ``.model`` and runs the model's own
encode/quantize/decode, so the evaluation report measures exactly what the library computes. Audio: transformers'
DAC, EnCodec and Mimi codecs (``adapters/audio.py``).

Importing this package loads neither diffusers nor transformers; they are imported when a model is wrapped or loaded.
"""

from omnitok.adapters.audio import DacAdapter, EncodecAdapter, MimiAdapter
from omnitok.adapters.base import DecoderUnavailableError, ModelAdapter
from omnitok.adapters.diffusers import AutoencoderKLAdapter, AutoencoderKLCosmosAdapter, VQModelAdapter
from omnitok.adapters.loading import ADAPTERS, load_adapter, wrap
from omnitok.adapters.transformers import ChameleonVQVAEAdapter, Emu3VQVAEAdapter, JanusVQVAEAdapter

__all__ = [
    "ADAPTERS",
    "AutoencoderKLAdapter",
    "AutoencoderKLCosmosAdapter",
    "ChameleonVQVAEAdapter",
    "DacAdapter",
    "DecoderUnavailableError",
    "Emu3VQVAEAdapter",
    "EncodecAdapter",
    "JanusVQVAEAdapter",
    "MimiAdapter",
    "ModelAdapter",
    "VQModelAdapter",
    "load_adapter",
    "wrap",
]
