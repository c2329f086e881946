"""One resolver from a string to a tokenizer, shared by ``omnitok eval``, ``encode`` and ``decode``.

Accepted forms, tried in this order:

- ``diffusers:<folder or hub id>`` / ``transformers:<folder or hub id>``: an ecosystem model wrapped by
  :mod:`omnitok.adapters` (the class is read from the folder's ``config.json``);
- ``package.module:attribute``: a user's own object satisfying the ``Tokenizer`` protocol, or a callable
  returning one (no arguments), or a diffusers/transformers model instance (wrapped by an adapter). This imports
  the user's module, which is the user's own code named on their own command line;
- anything else goes to :func:`omnitok.load_tokenizer`: a ``save_pretrained`` folder, a model-zoo name, a hub id.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

import torch

from omnitok.errors import ConfigError
from omnitok.protocol import Tokenizer

ADAPTER_SCHEMES = ("diffusers:", "transformers:")
_OBJECT_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def resolve_tokenizer(
    ref: str | os.PathLike, *, trust_remote_code: bool = False, map_location: str | torch.device = "cpu"
) -> Tokenizer:
    """The tokenizer ``ref`` names (see the module docstring), in eval mode on ``map_location`` when it is a module."""
    text = str(ref)
    if text.startswith(ADAPTER_SCHEMES):
        from omnitok.adapters import load_adapter

        tokenizer = load_adapter(text)
    elif is_object_ref(text):
        tokenizer = _user_object(text)
    else:
        from omnitok.hub import load_tokenizer

        return load_tokenizer(ref, trust_remote_code=trust_remote_code, map_location=map_location)
    if isinstance(tokenizer, torch.nn.Module):
        tokenizer = tokenizer.to(map_location).eval()
    elif hasattr(tokenizer, "to"):
        tokenizer.to(map_location)  # adapters move their wrapped model
    return tokenizer


def is_object_ref(ref: str) -> bool:
    """True for ``package.module:attribute`` (and not an existing path that happens to look like one)."""
    return bool(_OBJECT_REF.fullmatch(ref)) and not ref.startswith(ADAPTER_SCHEMES) and not Path(ref).exists()


def _user_object(ref: str) -> Tokenizer:
    module_name, attribute = ref.split(":", 1)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import {module_name!r} for tokenizer {ref!r}: {err}") from err
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
