"""The two ways a world run gets each part it needs, shared by the image and speech stages: a tokenizer (load a
pretrained one, reuse the one an earlier run exported into the folder, or train it from its recipe) and a judge
(reuse its saved weights, or train it and save them)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omnitok.config import check_config, load_yaml_config, set_by_path
from omnitok.errors import ConfigError

WORLD_CLASS = "examples.world.scenes.World"
WORLD_DATA = "examples.world.data.WorldImageDataModule"


def world_entry(arguments: dict[str, Any]) -> dict[str, Any]:
    """The run's world as a config entry, for a tokenizer recipe's data module (it sees the Transformer's world)."""
    return {"class_path": WORLD_CLASS, "init_args": dict(arguments)}


def check_trusted_recipe(recipe: dict[str, Any], world_data: Any, where: str) -> None:
    """A tokenizer recipe a world run trains: ``world_data`` (its entry at ``where``) must be this example's
    ``WorldImageDataModule``, the one class outside omnitok the run trusts; the model and loggers stay under
    omnitok's trust rule."""
    from omnitok.trainers.loggers import check_logger_entries
    from omnitok.trainers.run import RunSettings

    if not isinstance(world_data, dict) or world_data.get("class_path") != WORLD_DATA:
        raise ConfigError(f"the world's tokenizer recipe trains on {where}.class_path {WORLD_DATA}")
    check_config(recipe.get("model"), key="model")
    check_logger_entries(RunSettings.from_config(recipe.get("trainer")).loggers, False)


def dotted(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"trainer.max_steps": 5}`` or ``{"trainer": {"max_steps": 5}}`` -> ``[("trainer.max_steps", 5)]``."""
    items: list[tuple[str, Any]] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and "class_path" not in value:
            items += dotted(value, path + ".")
        else:
            items.append((path, value))
    return items


def load_recipe(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    """``entry["recipe"]`` (a YAML path relative to ``base``, or a recipe built in code) with ``entry["overrides"]``
    applied, as a new mapping."""
    source = entry["recipe"]
    recipe = copy.deepcopy(dict(source)) if isinstance(source, Mapping) else load_yaml_config(base / source)
    for key, value in dotted(entry.get("overrides") or {}):
        set_by_path(recipe, key, value)
    return recipe


def tokenizer_stage(
    entry: dict[str, Any],
    run_folder: Path,
    base: Path,
    what: str,
    prepare: Callable[[dict[str, Any]], None],
    trust_remote_code: bool = False,
) -> tuple[Any, str, dict[str, Any]]:
    """``entry`` (``{pretrained: REF}`` or ``{recipe: YAML or mapping, overrides: {...}}``) -> (tokenizer, the
    reference it loads from, what the report says of it). A recipe is read relative to ``base``, overridden, handed to
    ``prepare`` (checks, and the data this world trains it on) and trained in ``run_folder``; a tokenizer already
    exported there is reused."""
    from omnitok.hub import load_tokenizer

    if entry.get("pretrained"):
        reference = str(entry["pretrained"])
        return load_tokenizer(reference).eval(), reference, {"pretrained": reference}
    exported = run_folder / "tokenizer"
    if exported.is_dir():
        print(f"reusing the {what} in {exported}")
        return load_tokenizer(exported).eval(), str(exported), {"reused": str(exported)}
    from omnitok.trainers.run import train

    source = entry["recipe"]
    recipe = load_recipe(entry, base)
    prepare(recipe)
    result = train(recipe, run_folder, trust_remote_code=trust_remote_code)
    if result.tokenizer is None:
        raise ConfigError(f"the {what} run exported no tokenizer")
    info = {"steps": result.step, **({} if isinstance(source, Mapping) else {"recipe": str(source)})}
    return load_tokenizer(result.tokenizer).eval(), str(result.tokenizer), info


def judge_stage(
    path: Path, empty: Callable[[], Any], train: Callable[[], tuple[Any, dict[str, Any]]], what: str
) -> tuple[Any, dict[str, Any]]:
    """The judge saved at ``path`` (loaded into ``empty()``), or ``train()``'s (judge, info), saved there
    atomically."""
    from safetensors.torch import load_file, save_file

    from omnitok.utils import atomic_path

    if path.is_file():
        judge = empty()
        judge.load_state_dict(load_file(path))
        print(f"reusing the {what} in {path}")
        return judge.eval(), {"reused": str(path)}
    judge, info = train()
    with atomic_path(path) as tmp:
        save_file(judge.state_dict(), str(tmp))
    return judge.eval(), info
