"""One resolver from a reference to a tokenizer: :func:`load_tokenizer`, behind ``omnitok.load_tokenizer`` and every
command that takes ``--tokenizer`` (``encode``, ``decode``, ``eval``, ``inspect``, ``tokenize``).

Accepted forms, tried in this order:

- ``diffusers:<folder or hub id>`` / ``transformers:<folder or hub id>``: an ecosystem model wrapped by
  :mod:`omnitok.adapters` (the class is read from the folder's ``config.json``);
- ``package.module:attribute``: a user's own object satisfying the ``Tokenizer`` protocol, or a callable
  returning one (no arguments), or a diffusers/transformers model instance (wrapped by an adapter). This imports
  the user's module, which is the user's own code named on their own command line;
- anything else is a ``save_pretrained`` folder, a model-zoo name or a hub id (:func:`omnitok.hub.load_pretrained`).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from omnitok.errors import ConfigError
from omnitok.protocol import Tokenizer

ADAPTER_SCHEMES = ("diffusers:", "transformers:")
_OBJECT_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
REFERENCE_FORMS = (
    "a tokenizer is named by a save_pretrained folder, a model-zoo name (model_zoo.md), a hub id 'owner/name', "
    "'diffusers:<folder or hub id>', 'transformers:<folder or hub id>' or 'package.module:attribute'"
)


def load_tokenizer(
    ref: str | os.PathLike,
    *,
    trust_remote_code: bool = False,
    revision: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    map_location: str | torch.device | None = None,
    modality: str | None = None,
) -> Tokenizer:
    """The tokenizer ``ref`` names (any form in the module docstring), in eval mode.

    Args:
        ref: a folder, zoo name, hub id, ``diffusers:...``/``transformers:...`` or ``package.module:attribute``.
        trust_remote_code: let a saved config name classes outside omnitok and torch.
        revision: hub revision (saved folders on the hub).
        device: where to put it ("cpu", "cuda", "cuda:1", ...; default: where it was built, the CPU).
        dtype: cast its networks ("bf16"/"bfloat16", "fp16"/"float16", "fp32"/"float32" or a torch dtype);
            omnitok quantizers keep float32 codebooks. Default: as saved (float32).
        map_location: the older name of ``device``.
        modality: the one modality to return from a tokenizer of several (an omni folder: its view of that
            modality, see :func:`select_modality`); for a single-modality tokenizer, a check that it is that
            modality. None returns what ``ref`` holds (an omni tokenizer as a whole).

    Raises:
        ConfigError: a bad ``device``/``dtype``, a ``module:attribute`` that is no tokenizer, or a ``modality`` the
            tokenizer does not hold.
        WeightsError: nothing at ``ref`` (the message lists the forms), or unreadable weights.
    """
    from omnitok.models.precision import parse_device, parse_dtype

    device, dtype = parse_device(device if device is not None else map_location), parse_dtype(dtype)
    text = str(ref)
    if text.startswith(ADAPTER_SCHEMES):
        from omnitok.adapters import load_adapter

        tokenizer = load_adapter(text)
    elif is_object_ref(text):
        tokenizer = _user_object(text)
    else:
        from omnitok.hub import load_pretrained

        tokenizer = load_pretrained(ref, trust_remote_code=trust_remote_code, revision=revision)
    if not callable(getattr(tokenizer, "to", None)):  # a user's object runs where and how it runs
        if dtype not in (None, torch.float32):
            raise ConfigError(f"{text} is a {type(tokenizer).__name__} without .to(); it cannot be cast to {dtype}")
        return tokenizer
    for move in (device, dtype):
        if move is not None:
            moved = tokenizer.to(move)  # nn.Module.to; adapters move (or cast) their wrapped model
            tokenizer = tokenizer if moved is None else moved
    if isinstance(tokenizer, torch.nn.Module):
        tokenizer.eval()
    return tokenizer if modality is None else select_modality(tokenizer, modality, text)


def select_modality(tokenizer: Any, modality: str | None, ref: str = "the tokenizer") -> Tokenizer:
    """The single-modality ``Tokenizer`` to run: ``tokenizer`` itself, or its view of ``modality`` when it holds
    several (anything with a ``views`` mapping, e.g. :class:`omnitok.models.OmniTokenizer`).

    Raises:
        ConfigError: ``tokenizer`` holds several modalities and ``modality`` is None or not one of them, or it holds
            one modality and ``modality`` names another.
    """
    views = getattr(tokenizer, "views", None)
    if isinstance(views, Mapping):
        held = ", ".join(views)
        if modality is None:
            raise ConfigError(f"{ref} holds several modalities ({held}); choose one with --modality (modality=...)")
        if modality not in views:
            raise ConfigError(f"{ref} has no {modality!r} modality; it holds {held}")
        return views[modality]
    spec = getattr(tokenizer, "spec", None)
    if modality is not None and spec is not None and spec.modality != modality:
        raise ConfigError(f"{ref} tokenizes {spec.modality}, not {modality}")
    return tokenizer


def resolve_tokenizer(
    ref: str | os.PathLike, *, trust_remote_code: bool = False, map_location: str | torch.device = "cpu"
) -> Tokenizer:
    """:func:`load_tokenizer` under its earlier name (``map_location`` is ``device``)."""
    return load_tokenizer(ref, trust_remote_code=trust_remote_code, device=map_location)


def is_object_ref(ref: str) -> bool:
    """True for ``package.module:attribute`` (and not an existing path that happens to look like one)."""
    return bool(_OBJECT_REF.fullmatch(ref)) and not ref.startswith(ADAPTER_SCHEMES) and not Path(ref).exists()


def _user_object(ref: str) -> Tokenizer:
    module_name, attribute = ref.split(":", 1)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import {module_name!r} for tokenizer {ref!r}: {err}; {REFERENCE_FORMS}") from err
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"module {module_name!r} has no attribute {attribute!r} (tokenizer {ref!r})")
        obj = getattr(obj, part)
    if not isinstance(obj, Tokenizer) and callable(obj) and not isinstance(obj, torch.nn.Module):
        obj = obj()
    if isinstance(obj, Tokenizer):
        return obj
    if _is_ecosystem_model(obj):
        from omnitok.adapters import wrap

        return wrap(obj)
    raise ConfigError(
        f"{ref} is a {type(obj).__name__}, not a tokenizer: it needs `spec`, `encode` and `decode` "
        "(the omnitok.Tokenizer protocol)"
    )


def _is_ecosystem_model(obj: object) -> bool:
    root = type(obj).__module__.split(".")[0]
    return root in ("diffusers", "transformers")
