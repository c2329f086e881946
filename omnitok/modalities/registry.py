"""The modality registry: names -> definitions, with the shipped ones registered on first use."""

from __future__ import annotations

import importlib

from omnitok.errors import ConfigError
from omnitok.modalities.base import Modality

SHIPPED = {
    "image": "omnitok.modalities.image.ImageModality",
    "video": "omnitok.modalities.video.VideoModality",
    "audio": "omnitok.modalities.audio.AudioModality",
}
_REGISTRY: dict[str, Modality] = {}


def register_modality(modality: Modality) -> Modality:
    """Register a definition under its ``name`` (a name registered again is replaced: the last definition wins)."""
    if not isinstance(modality, Modality):
        raise ConfigError(f"a modality is an omnitok.modalities.Modality instance, got {type(modality).__name__}")
    if not modality.name or not isinstance(modality.name, str):
        raise ConfigError(f"{type(modality).__name__} needs a name")
    if not modality.axes or len(modality.letters or modality.axes) != len(modality.axes):
        raise ConfigError(f"modality {modality.name!r} needs grid axes (and one letter per axis)")
    _REGISTRY[modality.name] = modality
    return modality


def _ensure_shipped() -> None:
    for name, class_path in SHIPPED.items():
        if name not in _REGISTRY:
            module, _, attr = class_path.rpartition(".")
            _REGISTRY[name] = getattr(importlib.import_module(module), attr)()


def get_modality(name: str) -> Modality:
    """The definition registered as ``name``; ConfigError listing the registered names otherwise."""
    if name not in _REGISTRY:
        _ensure_shipped()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown modality {name!r}; registered: {sorted(_REGISTRY)} (a tokenizer of another modality records "
            "its definition's class_path, loaded with trust_remote_code=True)"
        ) from None


def registered_modalities() -> list[str]:
    _ensure_shipped()
    return sorted(_REGISTRY)


def is_shipped(name: str) -> bool:
    return name in SHIPPED and type(get_modality(name)).__module__.startswith("omnitok.")


def class_path_of(name: str) -> str:
    """``module.Class`` of the registered definition ``name`` (what a saved tokenizer records)."""
    modality = get_modality(name)
    return f"{type(modality).__module__}.{type(modality).__qualname__}"


def load_modality(class_path: str, trust_remote_code: bool = False) -> Modality:
    """Import the definition class ``class_path`` (outside omnitok only with ``trust_remote_code``), instantiate and
    register it."""
    from omnitok.config import resolve_class

    cls = resolve_class(class_path, trust_remote_code)  # the one trust check configs go through
    if not issubclass(cls, Modality):
        raise ConfigError(f"{class_path!r} is not an omnitok.modalities.Modality class")
    return register_modality(cls())
