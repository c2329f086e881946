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
    Lightning logger class; only classes under ``lightning.pytorch.loggers`` are allowed without
    ``trust_remote_code``, and the class is checked before anything is built."""
    for index, entry in enumerate(entries):
        key = f"trainer.loggers[{index}]"
        if isinstance(entry, str):
            continue  # the names were checked by RunSettings
        if not isinstance(entry, dict) or "class_path" not in entry:
            raise ConfigError(f"{key} must be one of {list(LOGGERS)} or a class_path / init_args entry, got {entry!r}")
        trusted = trust_remote_code or str(entry["class_path"]).startswith(LOGGER_PREFIX)
        check_config(entry, trust_remote_code=trusted, key=key)
        _check_is_logger(entry, key, trust_remote_code)


def _logger_class(class_path: str) -> type:
    """The class a (checked) logger entry names."""
    import importlib

    module_name, _, attr = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def _check_is_logger(entry: dict[str, Any], key: str, trust_remote_code: bool) -> None:
    from lightning.pytorch.loggers import Logger

    cls = _logger_class(entry["class_path"])
    if not issubclass(cls, Logger):
        raise ConfigError(f"{key}: {entry['class_path']} is not a Lightning logger")
    if not trust_remote_code and not cls.__module__.startswith(LOGGER_PREFIX.rstrip(".")):
        raise ConfigError(
            f"{key}: {entry['class_path']} is defined in {cls.__module__}; pass --trust-remote-code to use it"
        )


def build_loggers(settings: Any, out: Path, trust_remote_code: bool = False) -> list[Any]:
    """The Lightning loggers ``settings.loggers`` names, writing under the run folder ``out`` unless an entry sets
    its own ``save_dir``."""
    import inspect

    check_logger_entries(settings.loggers, trust_remote_code)
    made = []
    for entry in settings.loggers:
        config = ALIASES[entry] if isinstance(entry, str) else entry
        init_args = dict(config.get("init_args") or {})
        parameters = inspect.signature(_logger_class(config["class_path"]).__init__).parameters
        if "save_dir" in parameters and "save_dir" not in init_args:
            init_args["save_dir"] = str(out)
        if config["class_path"].endswith("WandbLogger"):
            init_args.setdefault("project", settings.wandb_project)
            init_args.setdefault("name", out.name)
        trusted = trust_remote_code or config["class_path"].startswith(LOGGER_PREFIX)
        made.append(
            instantiate({"class_path": config["class_path"], "init_args": init_args}, trust_remote_code=trusted)
        )
    return made
