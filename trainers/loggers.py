"""The loggers of a run, built from the recipe's ``trainer.loggers``: any Lightning logger by ``class_path``, or a
short name for the common three."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omnitok.config import check_config, instantiate
from omnitok.errors import ConfigError

LOGGERS = ("csv", "tensorboard", "wandb")
LOGGER_PREFIX = "lightning.pytorch.loggers."
ALIASES = {
    "csv": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"name": "logs"}},
    "tensorboard": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"name": "logs/tensorboard"},
    },
    "wandb": {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": {}},
}


def check_logger_entries(entries: list[Any], trust_remote_code: bool = False) -> None:
    """Raise ConfigError (naming ``trainer.loggers[i]``) unless every entry is a short name or a config naming a
    Lightning logger class. The logger class itself may come from ``lightning.pytorch.loggers`` without
    ``trust_remote_code``; everything inside its ``init_args`` is checked with the caller's own trust, and all of
    it before anything is built."""
    for index, entry in enumerate(entries):
        key = f"trainer.loggers[{index}]"
        if isinstance(entry, str):
            continue  # the names were checked by RunSettings
        if not isinstance(entry, dict) or "class_path" not in entry:
            raise ConfigError(f"{key} must be one of {list(LOGGERS)} or a class_path / init_args entry, got {entry!r}")
        _logger_class(entry, key, trust_remote_code)
        unknown = set(entry) - {"class_path", "init_args"}
        if unknown:
            raise ConfigError(f"{key}: unknown config keys {sorted(unknown)} beside class_path")
        init_args = entry.get("init_args") or {}
        if not isinstance(init_args, dict):
            raise ConfigError(f"{key}.init_args must be a mapping, got {type(init_args).__name__}")
        for name, value in init_args.items():
            check_config(value, trust_remote_code=trust_remote_code, key=f"{key}.{name}")


def _logger_class(entry: dict[str, Any], key: str, trust_remote_code: bool) -> type:
    """The Lightning logger class an entry names, resolved and checked before it is built."""
    import importlib

    from lightning.pytorch.loggers import Logger

    class_path = entry["class_path"]
    if not isinstance(class_path, str) or "." not in class_path:
        raise ConfigError(f"{key}: class_path must be a dotted name, got {class_path!r}")
    if not trust_remote_code and not class_path.startswith(LOGGER_PREFIX):
        raise ConfigError(f"{key}: {class_path} is outside {LOGGER_PREFIX}; pass --trust-remote-code to use it")
    module_name, _, attr = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"{key}: unknown logger class {class_path!r}: {err}") from None
    if not isinstance(cls, type) or not issubclass(cls, Logger):
        raise ConfigError(f"{key}: {class_path} is not a Lightning logger")
    if not trust_remote_code and not cls.__module__.startswith(LOGGER_PREFIX.rstrip(".")):
        raise ConfigError(f"{key}: {class_path} is defined in {cls.__module__}; pass --trust-remote-code to use it")
    return cls


def build_loggers(settings: Any, out: Path, trust_remote_code: bool = False) -> list[Any]:
    """The Lightning loggers ``settings.loggers`` names, writing under the run folder ``out`` unless an entry sets
    its own ``save_dir``."""
    import inspect

    check_logger_entries(settings.loggers, trust_remote_code)
    made = []
    for index, entry in enumerate(settings.loggers):
        config = ALIASES[entry] if isinstance(entry, str) else entry
        cls = _logger_class(config, f"trainer.loggers[{index}]", trust_remote_code)
        kwargs = {
            k: instantiate(v, trust_remote_code=trust_remote_code) for k, v in (config.get("init_args") or {}).items()
        }
        if "save_dir" in inspect.signature(cls.__init__).parameters and "save_dir" not in kwargs:
            kwargs["save_dir"] = str(out)
        if cls.__name__ == "WandbLogger":
            kwargs.setdefault("project", settings.wandb_project)
            kwargs.setdefault("name", out.name)
        try:
            made.append(cls(**kwargs))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"trainer.loggers[{index}]: could not build {config['class_path']}: {err}") from None
    return made
