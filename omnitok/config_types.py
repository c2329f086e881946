"""Checking recipe values against the types a class's signature (or a settings dataclass) declares.

A recipe is data read from YAML and ``--set``; the class it feeds states what it takes in its annotations. Every
value is checked against them before anything is built, so ``max_steps: .inf``, ``max_steps: 2.7``,
``loggers: csv`` (a string where a list belongs) or ``codebook_size: "1024"`` are refused with the recipe key that
holds them, instead of failing later (or never) deep inside training.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from omnitok.errors import ConfigError


def check_value(value: Any, annotation: Any, key: str, is_config: Callable[[Any], type | None]) -> None:
    """Raise ConfigError (naming ``key``) unless ``value`` fits ``annotation``.

    Args:
        is_config: returns the class a nested ``class_path`` config would build (None for other values), so a
            config is checked as an instance of that class.
    """
    problem = _mismatch(value, annotation, is_config)
    if problem:
        raise ConfigError(f"{key}: {problem}")


def type_hints(target: Any) -> dict[str, Any]:
    """The evaluated annotations of a function or dataclass ({} when they cannot be evaluated, e.g. names imported
    only for type checkers: those values are then not checked)."""
    return _type_hints(target)


@functools.cache
def _type_hints(target: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - NameError, TypeError...: an unevaluable annotation is simply not checked
        return {}


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _mismatch(value: Any, annotation: Any, is_config: Callable[[Any], type | None]) -> str | None:
    """Why ``value`` does not fit ``annotation``, or None when it does (or the annotation is not understood)."""
    if annotation is Any or annotation is inspect.Parameter.empty or isinstance(annotation, typing.TypeVar):
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is None or annotation is type(None):
        return None if value is None else f"must be null, got {_describe(value)}"
    if origin in (typing.Union, types.UnionType):
        problems = [_mismatch(value, option, is_config) for option in args]
        if any(p is None for p in problems):
            return None
        return (
            next(p for p in problems if p)
            if len(args) == 2 and type(None) in args
            else (f"must be one of {', '.join(_name(a) for a in args)}, got {_describe(value)}")
        )
    if origin is typing.Literal:
        return None if value in args else f"must be one of {list(args)}, got {_describe(value)}"
    if annotation is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {_describe(value)}"
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {_describe(value)}"
        return None
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {_describe(value)}"
        return None if math.isfinite(value) else f"must be a finite number, got {value!r}"
    if annotation is str:
        return None if isinstance(value, str) else f"must be a string, got {_describe(value)}"
    if origin is tuple or origin in (list, collections.abc.Sequence, collections.abc.MutableSequence):
        return _sequence_mismatch(value, origin, args, is_config)
    if origin in (dict, collections.abc.Mapping) or annotation in (dict, collections.abc.Mapping):
        if not isinstance(value, collections.abc.Mapping) or is_config(value) is not None:
            return f"must be a mapping, got {_describe(value)}"
        return None
    if inspect.isclass(annotation):
        built = is_config(value)
        if built is not None:
            return (
                None if issubclass(built, annotation) else f"must build a {_name(annotation)}, got {built.__qualname__}"
            )
        if isinstance(value, annotation):
            return None
        if annotation.__module__ == "builtins" or hasattr(annotation, "__fspath__"):
            return None if _loosely(value, annotation) else f"must be a {_name(annotation)}, got {_describe(value)}"
        if isinstance(value, collections.abc.Mapping):
            return f"must be a config naming a {_name(annotation)} (class_path / init_args), got a mapping without class_path"
        return f"must be a {_name(annotation)} (a class_path / init_args config), got {_describe(value)}"
    return None


def _sequence_mismatch(value: Any, origin: Any, args: tuple, is_config: Callable[[Any], type | None]) -> str | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return f"must be a list, got {_describe(value)}"
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            return f"must be a list of {len(args)} items, got {len(value)}"
        items = zip(value, args)
    else:
        item_type = args[0] if args else Any
        items = ((item, item_type) for item in value)
    for index, (item, item_type) in enumerate(items):
        problem = _mismatch(item, item_type, is_config)
        if problem:
            return f"item {index} {problem}"
    return None


def _loosely(value: Any, annotation: type) -> bool:
    """Builtin or path-like annotations met by what YAML gives: a str for a Path, a list for a tuple."""
    if hasattr(annotation, "__fspath__"):
        return isinstance(value, str)
    try:
        return isinstance(value, annotation)
    except TypeError:
        return True


def _name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__qualname__", None) or str(annotation).replace("typing.", "")


__all__ = ["check_value", "type_hints"]
