"""Configs that name classes: ``{"class_path": ..., "init_args": {...}}`` (the jsonargparse / LightningCLI convention).

Every object built by :func:`instantiate`, and every :class:`Configurable` object however it was built, remembers
the arguments it was constructed with, so :func:`to_config` can write it back out and a saved model can be rebuilt.
Only classes under ``omnitok.`` and ``torch.nn.`` may be named unless ``trust_remote_code=True``: a config downloaded
from a hub must not be able to name ``os.system``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from omnitok.config_types import check_value, type_hints
from omnitok.errors import ConfigError

T = TypeVar("T")

TRUSTED_PREFIXES = ("omnitok.", "torch.nn.")
_INIT_ARGS = "_omnitok_init_args"


class Configurable:
    """Mixin: records the arguments ``__init__`` was called with (defaults filled in) for :func:`to_config`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_omnitok_records_args", False):
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Any, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            if type(self).__init__ is recording_init:  # the most-derived constructor records, not its parents
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                recorded = dict(bound.arguments)
                recorded.pop(next(iter(signature.parameters)))
                object.__setattr__(self, _INIT_ARGS, recorded)

        recording_init._omnitok_records_args = True  # type: ignore[attr-defined]
        cls.__init__ = recording_init  # type: ignore[method-assign]


def class_path_of(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def to_config(obj: Any, where: str | None = None) -> dict[str, Any]:
    """The ``class_path``/``init_args`` config that rebuilds ``obj`` (nested objects become nested configs;
    ``torch.nn`` layers built in Python are read back, see :mod:`omnitok.torch_parts`). ``where`` names ``obj`` in
    errors (default: its class)."""
    where = where or type(obj).__name__
    init_args = getattr(obj, _INIT_ARGS, None)
    if init_args is None:
        if _is_torch_layer(obj):
            from omnitok.torch_parts import torch_module_config

            return torch_module_config(obj, where)
        raise ConfigError(
            f"cannot write a config for {where} ({class_path_of(obj)}): it was neither built from a config nor is it "
            "Configurable"
        )
    return {"class_path": class_path_of(obj), "init_args": {k: _encode(v, f"{where}.{k}") for k, v in init_args.items()}}


def _is_torch_layer(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch.nn.") and hasattr(obj, "state_dict")


def config_value(value: Any, name: str) -> Any:
    """``value`` as plain config data (objects built from configs become their ``class_path``/``init_args``);
    ConfigError naming ``name`` for an object that cannot be written (e.g. a module built in Python)."""
    return _encode(value, name)


def _encode(value: Any, name: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _encode(v, f"{name}.{k}") for k, v in value.items()}
    if hasattr(value, _INIT_ARGS) or _is_torch_layer(value):
        return to_config(value, name)
    raise ConfigError(f"config argument {name!r} holds a {type(value).__name__}, which cannot be written to a config")


def resolve_class(class_path: str, trust_remote_code: bool) -> type:
    """The class ``class_path`` names, imported only when trusted: by name and by the module that defines it."""
    if not isinstance(class_path, str) or "." not in class_path:
        raise ConfigError(
            f"class_path must be a dotted name like 'omnitok.quantizers.VectorQuantizer', got {class_path!r}"
        )
    if not trust_remote_code and not class_path.startswith(TRUSTED_PREFIXES):
        raise ConfigError(
            f"config names {class_path!r}, outside {', '.join(TRUSTED_PREFIXES)}; "
            "pass trust_remote_code=True (--trust-remote-code) only for configs you trust"
        )
    module_name, _, attr = class_path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"config names unknown class {class_path!r}: {err}") from None
    if not inspect.isclass(obj):
        raise ConfigError(f"config names {class_path!r}, which is not a class")
    if not trust_remote_code and not f"{obj.__module__}.".startswith(TRUSTED_PREFIXES):
        # the name is trusted, the class it imports may not be (omnitok.config.Path is pathlib.Path)
        raise ConfigError(
            f"config names {class_path!r}, which is {obj.__module__}.{obj.__qualname__}, outside "
            f"{', '.join(TRUSTED_PREFIXES)}; pass trust_remote_code=True (--trust-remote-code) only for configs you trust"
        )
    return obj


def check_config(config: Any, *, trust_remote_code: bool = False, key: str = "config") -> None:
    """Check a whole config tree before anything is built: every ``class_path`` resolves (and is trusted), every
    ``init_args`` key is a parameter of its class, and every value fits the parameter's annotation (nested configs
    must build the annotated class). Raises ConfigError naming the offending key (dotted, from ``key``)."""
    if isinstance(config, list):
        for index, item in enumerate(config):
            check_config(item, trust_remote_code=trust_remote_code, key=f"{key}[{index}]")
        return
    if not isinstance(config, Mapping):
        return
    if "class_path" not in config:
        for name, value in config.items():
            check_config(value, trust_remote_code=trust_remote_code, key=f"{key}.{name}")
        return
    cls = _class_of(config, trust_remote_code, key)
    init_args = config.get("init_args") or {}
    if not isinstance(init_args, Mapping):
        raise ConfigError(
            f"{key}.init_args of {config['class_path']!r} must be a mapping, got {type(init_args).__name__}"
        )
    parameters = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown_args = [k for k in init_args if k not in parameters or k == "self"]
    if unknown_args and not takes_any:
        raise ConfigError(
            f"{key}: {config['class_path']} takes no argument(s) {unknown_args}; "
            f"it takes {[p for p in parameters if p != 'self']}"
        )
    hints = type_hints(cls.__init__)

    def is_config(value: Any) -> type | None:
        return (
            _class_of(value, trust_remote_code, key) if isinstance(value, Mapping) and "class_path" in value else None
        )

    for name, value in init_args.items():
        check_config(value, trust_remote_code=trust_remote_code, key=f"{key}.{name}")  # nested classes first
        if name in hints:
            check_value(value, hints[name], f"{key}.{name}", is_config)


def _class_of(config: Mapping[str, Any], trust_remote_code: bool, key: str) -> type:
    unknown = set(config) - {"class_path", "init_args"}
    if unknown:
        raise ConfigError(f"{key}: unknown config keys {sorted(unknown)} beside class_path {config['class_path']!r}")
    try:
        return resolve_class(config["class_path"], trust_remote_code)
    except ConfigError as err:
        raise ConfigError(f"{key}: {err}") from None


def instantiate(config: Any, *, trust_remote_code: bool = False) -> Any:
    """Build the object a config describes, after :func:`check_config` of the whole tree; plain values pass
    through, nested configs are built first."""
    check_config(config, trust_remote_code=trust_remote_code)
    return _build(config, trust_remote_code)


def _build(config: Any, trust_remote_code: bool) -> Any:
    if isinstance(config, list):
        return [_build(v, trust_remote_code) for v in config]
    if not isinstance(config, Mapping):
        return config
    if "class_path" not in config:
        return {k: _build(v, trust_remote_code) for k, v in config.items()}
    cls = resolve_class(config["class_path"], trust_remote_code)
    kwargs = {k: _build(v, trust_remote_code) for k, v in (config.get("init_args") or {}).items()}
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as err:  # a bad argument value: a config error, named by class
        raise ConfigError(f"could not build {config['class_path']}: {err}") from err
    if not hasattr(obj, _INIT_ARGS):
        object.__setattr__(obj, _INIT_ARGS, kwargs)
    return obj


def load_yaml_config(*paths: str | Path) -> dict[str, Any]:
    """Read one or more YAML files and merge them left to right (later files override, mappings merge deeply).

    Naming a different ``class_path`` replaces the entry instead of merging into the old class's ``init_args``.
    A file may start from others with ``extends: base.yaml`` (or a list), paths relative to that file; what the
    file itself says overrides what it extends.
    """
    merged: dict[str, Any] = {}
    for path in paths:
        merged = _deep_merge(merged, _read_with_extends(Path(path), ()))
    return merged


def _read_with_extends(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    resolved = path.resolve()
    if resolved in chain:
        raise ConfigError(f"config files extend each other in a cycle: {' -> '.join(map(str, (*chain, resolved)))}")
    with path.open() as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    bases = data.pop("extends", None) or []
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = _deep_merge(merged, _read_with_extends(path.parent / base, (*chain, resolved)))
    return _deep_merge(merged, data)


def set_by_path(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``config[a][b][c] = value`` for ``dotted = "a.b.c"``; inside a class config, ``init_args`` may be left
    out of the path (``model.learning_rate`` means ``model.init_args.learning_rate``)."""
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(f"bad config key {dotted!r}")
    node = config
    for i, key in enumerate(keys):
        if isinstance(node, Mapping) and "class_path" in node and key not in ("class_path", "init_args"):
            if node.get("init_args") is None:
                node["init_args"] = {}
            node = node["init_args"]
        last = i == len(keys) - 1
        if last:
            node[key] = value
        else:
            if not isinstance(node.get(key), dict):
                if key in node:
                    raise ConfigError(f"cannot set {dotted!r}: {'.'.join(keys[: i + 1])} is not a mapping")
                node[key] = {}
            node = node[key]


def settings_from_section(cls: type[T], section: Mapping[str, Any] | None, what: str) -> T:
    """Build the settings dataclass ``cls`` from a recipe section (None: all defaults), refusing keys it has no field
    for and values that do not fit the field's type, with a ConfigError that names them (``what`` says whose
    settings: "trainer", ...)."""
    if section is not None and not isinstance(section, Mapping):
        raise ConfigError(f"{what} must be a mapping of settings, got {type(section).__name__}")
    section = dict(section or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"unknown {what} setting(s) {unknown}; known: {sorted(known)}")
    hints = type_hints(cls)
    for name, value in section.items():
        if name in hints:
            check_value(value, hints[name], f"{what}.{name}", lambda _: None)
    return cls(**section)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        replaces_class = (
            isinstance(value, Mapping)
            and "class_path" in value
            and isinstance(out.get(key), Mapping)
            and (value["class_path"] != out[key].get("class_path"))
        )
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and not replaces_class:
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out
