"""Finding the adapter for a ref or a model instance: ``load_adapter`` and ``wrap``.

Refs name the wrapped library, then a local folder or a hub id:

- ``diffusers:<folder>`` / ``diffusers:<owner/name>``: the folder's ``config.json`` ``_class_name`` picks the adapter
  (``VQModel``, ``AutoencoderKL``). A pipeline folder or repo without a top-level ``config.json`` is searched in
  ``vae/``, ``vqvae/`` and ``movq/``; ``diffusers:<owner/name>/<subfolder>`` or ``subfolder=`` names one.
- ``transformers:<folder>`` / ``transformers:<owner/name>``: ``config.json`` ``model_type`` picks the adapter
  ("chameleon", "emu3", "janus" for full checkpoints; "chameleon_vqgan", "emu3_vqgan", "janus_vqgan" for a VQ saved
  alone); "dac", "encodec", "mimi" for transformers' audio codecs.

Only ``config.json`` is read (or fetched) here; the weights load through the library's own ``from_pretrained``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from omnitok.adapters.audio import DacAdapter, EncodecAdapter, MimiAdapter
from omnitok.adapters.base import ModelAdapter
from omnitok.adapters.diffusers import AutoencoderKLAdapter, AutoencoderKLCosmosAdapter, VQModelAdapter
from omnitok.adapters.transformers import ChameleonVQVAEAdapter, Emu3VQVAEAdapter, JanusVQVAEAdapter
from omnitok.errors import ConfigError, WeightsError
from omnitok.extras import extra_hint

ADAPTERS: tuple[type[ModelAdapter], ...] = (
    VQModelAdapter,
    AutoencoderKLAdapter,
    AutoencoderKLCosmosAdapter,
    ChameleonVQVAEAdapter,
    Emu3VQVAEAdapter,
    JanusVQVAEAdapter,
    DacAdapter,
    EncodecAdapter,
    MimiAdapter,
)
LIBRARIES = ("diffusers", "transformers")
_TYPE_KEY = {"diffusers": "_class_name", "transformers": "model_type"}
_DIFFUSERS_SUBFOLDERS = ("vae", "vqvae", "movq")  # where pipelines keep their autoencoder
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


@extra_hint("loading a diffusers/transformers tokenizer")
def load_adapter(ref: str, **kwargs: Any) -> ModelAdapter:
    """Load a diffusers/transformers tokenizer as an omnitok ``Tokenizer`` from ``"diffusers:<folder or hub id>"``
    or ``"transformers:<folder or hub id>"``.

    Keyword arguments go to the adapter's ``from_pretrained``: its own (``value_range``, ...) and the library's
    (``subfolder``, ``revision``, ``torch_dtype``, ``cache_dir``, ...).

    Raises:
        ConfigError: the ref names no supported library, or the config names a class no adapter wraps.
        WeightsError: no such folder, no config.json, a hub id that cannot be fetched, or weights that do not load.
    """
    library, sep, target = str(ref).partition(":")
    if not sep or library not in LIBRARIES or not target:
        raise ConfigError(f"adapter refs look like 'diffusers:<folder or hub id>' or 'transformers:<...>', got {ref!r}")
    location, subfolder, config = _locate(library, target, kwargs.get("subfolder"), kwargs.get("revision"))
    if subfolder:
        kwargs["subfolder"] = subfolder
    where = f"{ref!r}" + (f" (subfolder {subfolder!r})" if subfolder else "")
    adapter_class = _adapter_for_config(library, config, where)
    return adapter_class.from_pretrained(location, **kwargs)


def wrap(model: Any, **kwargs: Any) -> ModelAdapter:
    """The adapter for a diffusers/transformers model instance (an adapter is returned as is).

    Also takes what holds one: a transformers Chameleon/Emu3/Janus model (its ``vqmodel``), a diffusers pipeline
    (its ``vae`` / ``vqvae`` / ``movq``). Keyword arguments go to the adapter (``value_range``, ...).

    Raises:
        ConfigError: no adapter wraps ``model``.
    """
    if isinstance(model, ModelAdapter):
        return model
    for candidate in _candidates(model):
        for adapter_class in ADAPTERS:
            if _is_instance_by_name(candidate, adapter_class):
                return adapter_class(candidate, **kwargs)
    supported = ", ".join(f"{a.library}.{n}" for a in ADAPTERS for n in a.wrapped_classes)
    name = f"{type(model).__module__}.{type(model).__name__}"
    raise ConfigError(f"no omnitok adapter wraps {name}; supported: {supported}")


def _candidates(model: Any) -> list[Any]:
    inner = getattr(model, "model", None)
    found = [model, getattr(model, "vqmodel", None), getattr(inner, "vqmodel", None)]
    found += [getattr(model, name, None) for name in _DIFFUSERS_SUBFOLDERS]
    return [c for c in found if c is not None]


def _is_instance_by_name(obj: Any, adapter_class: type[ModelAdapter]) -> bool:
    """isinstance against the library class, by name along the MRO: no library import needed to say no."""
    library = adapter_class.library
    return any(
        c.__name__ in adapter_class.wrapped_classes and c.__module__.split(".")[0] == library for c in type(obj).__mro__
    )


def _adapter_for_config(library: str, config: dict[str, Any], where: str) -> type[ModelAdapter]:
    key = _TYPE_KEY[library]
    kind = config.get(key)
    if not isinstance(kind, str):
        raise ConfigError(f"{where}: config.json has no {key!r}; is it a {library} model?")
    for adapter_class in ADAPTERS:
        if adapter_class.library == library and kind in adapter_class.config_types:
            return adapter_class
    supported = ", ".join(t for a in ADAPTERS if a.library == library for t in a.config_types)
    raise ConfigError(f"{where}: no omnitok adapter for {library} {key} {kind!r}; supported: {supported}")


def _locate(
    library: str, target: str, subfolder: str | None, revision: str | None
) -> tuple[str, str | None, dict[str, Any]]:
    """-> (folder or hub id for from_pretrained, subfolder, parsed config.json)."""
    path = Path(target).expanduser()
    tries = [subfolder] if subfolder else ["", *(_DIFFUSERS_SUBFOLDERS if library == "diffusers" else ())]
    if path.is_dir():
        for sub in tries:
            if (path / sub / "config.json").is_file():
                return str(path), sub or None, _read_json(path / sub / "config.json")
        searched = ", ".join(str(path / sub) for sub in tries)
        raise WeightsError(f"no config.json in {searched}; is {path} a {library} model folder?")
    if path.exists():
        raise WeightsError(f"{path} is a file; adapters load a model folder or a hub id")
    parts = target.strip("/").split("/")
    repo_id = "/".join(parts[:2])
    if not _HUB_ID.fullmatch(repo_id) or target.startswith((".", "/", "~")):
        raise WeightsError(f"no folder at {path} (and {target!r} is not a hub id 'owner/name')")
    if len(parts) > 2:
        if subfolder:
            raise ConfigError(f"{target!r} names a subfolder and subfolder={subfolder!r} names another")
        tries = ["/".join(parts[2:])]
    return repo_id, *_fetch_config(repo_id, tries, revision)


def _fetch_config(repo_id: str, tries: list[str], revision: str | None) -> tuple[str | None, dict[str, Any]]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    for sub in tries:
        try:
            file = hf_hub_download(repo_id, "config.json", subfolder=sub or None, revision=revision)
        except EntryNotFoundError as err:
            if not isinstance(err, LocalEntryNotFoundError):  # the hub answered: no such file, try the next place
                continue
            raise _unreachable(repo_id, err) from err  # offline and not in the cache
        except Exception as err:  # unknown repo, auth, network: one failure for the caller
            raise _unreachable(repo_id, err) from err
        return sub or None, _read_json(Path(file))
    raise WeightsError(f"hub repo {repo_id!r} has no config.json in {', '.join(t or '/' for t in tries)}")


def _unreachable(repo_id: str, err: Exception) -> WeightsError:
    offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
    return WeightsError(f"cannot fetch config.json of {repo_id!r} from the hub{offline}: {err}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"cannot read {path}: {err}") from err
    if not isinstance(config, dict):
        raise WeightsError(f"{path} does not hold a JSON object")
    return config


__all__ = ["ADAPTERS", "load_adapter", "wrap"]
