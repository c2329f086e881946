"""Recipe names: ``omnitok train --config quickstart_vq`` finds the YAML recipes shipped with omnitok.

The recipes live in the repository's top-level ``configs/`` folder, which the wheel installs as ``omnitok/configs``
(package data). A ``--config`` value that is an existing file is read as it is; otherwise it is a recipe name:
``image/quickstart_vq`` (a path inside ``configs/``, ``.yaml`` optional) or a bare ``quickstart_vq``, which means the
image recipe of that name when there is one, else the only recipe of that name in any modality folder.
"""

from __future__ import annotations

from pathlib import Path

from omnitok.errors import ConfigError

PREFERRED_FOLDER = "image"  # a bare name shared by several modalities means the image recipe (the README's)


def recipe_folder() -> Path | None:
    """The shipped recipes: ``omnitok/configs`` in an installed wheel, ``configs/`` beside the package in a checkout."""
    import omnitok

    package = Path(omnitok.__file__).resolve().parent
    for folder in (package / "configs", package.parent / "configs"):
        if folder.is_dir() and any(folder.glob("*/*.yaml")):
            return folder
    return None


def recipe_names() -> list[str]:
    """Every shipped recipe as ``modality/name`` (base files included: they are readable, if not runnable alone)."""
    folder = recipe_folder()
    return [] if folder is None else sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.glob("*/*.yaml"))


def find_recipe(value: str) -> Path:
    """The file a ``--config`` value names: an existing path, else a shipped recipe (see the module docstring).
    ConfigError lists the shipped recipes of a similar name when nothing matches."""
    path = Path(value)
    if path.is_file():
        return path
    folder = recipe_folder()
    name = value.removesuffix(".yaml").removesuffix(".yml").removeprefix("configs/")
    if folder is not None and not path.is_absolute() and ".." not in Path(name).parts:
        direct = folder / f"{name}.yaml"
        if "/" in name and direct.is_file():
            return direct
        if "/" not in name:
            matches = sorted(folder.glob(f"*/{name}.yaml"))
            preferred = [m for m in matches if m.parent.name == PREFERRED_FOLDER]
            if preferred or len(matches) == 1:
                return (preferred or matches)[0]
    known = recipe_names()
    similar = [n for n in known if Path(name).name.split("_")[0] in n] or known
    listed = ", ".join(similar)
    where = f"shipped recipes: {listed}" if known else "no shipped recipes were found with this installation"
    raise ConfigError(f"--config {value}: no such file, and no recipe of that name ({where})")
