"""Modalities: one definition object per kind of media (DESIGN.md, contract 4).

``get_modality(spec.modality)`` gives the definition that the CLI, evaluation, reports, training and the shared
vocabulary ask instead of comparing names. image, video and audio ship; a new modality subclasses
:class:`Modality` and registers an instance (:func:`register_modality`), in its own package: a tokenizer saved
with it records the definition's class path, and loading the tokenizer (with ``trust_remote_code``) registers it.
Each definition also converts user media in and out (``Modality.preprocess`` / ``postprocess``, what
``omnitok.preprocess`` / ``omnitok.postprocess`` ask).
"""

from omnitok.modalities.base import Modality
from omnitok.modalities.registry import (
    class_path_of,
    get_modality,
    is_shipped,
    load_modality,
    register_modality,
    registered_modalities,
)

__all__ = [
    "Modality",
    "class_path_of",
    "get_modality",
    "is_shipped",
    "load_modality",
    "register_modality",
    "registered_modalities",
]
