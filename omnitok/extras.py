"""Optional dependencies and the extras that install them: a missing one is a one-line hint, not a traceback.

``import omnitok`` needs the core dependencies only; the rest belong to the extras of ``pyproject.toml``.
:func:`require` imports an optional module or raises :class:`MissingExtraError` naming the ``pip install`` that
brings it; :func:`extra_hint` turns a ``ModuleNotFoundError`` for an optional module raised anywhere inside a block
(the lazy imports deep in a command) into the same error.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

# top-level module -> (extra, distribution to install); the extras as pyproject.toml defines them.
EXTRA_OF: dict[str, tuple[str, str]] = {
    "lightning": ("train", "lightning"),
    "lpips": ("train", "lpips"),
    "wandb": ("train", "wandb"),
    "tensorboard": ("train", "tensorboard"),
    "vector_quantize_pytorch": ("train", "vector-quantize-pytorch"),
    "matplotlib": ("eval", "matplotlib"),
    "torchmetrics": ("eval", "torchmetrics"),
    "torch_fidelity": ("eval", "torch-fidelity"),
    "scipy": ("eval", "scipy"),
    "skimage": ("eval", "scikit-image"),
    "decord": ("video", "decord"),
    "av": ("video", "av"),
    "torchaudio": ("audio", "torchaudio"),
    "soundfile": ("audio", "soundfile"),
    "timm": ("hybrid", "timm"),
    "diffusers": ("adapters", "diffusers"),
    "transformers": ("adapters", "transformers"),
    "litdata": ("scale", "litdata"),
    "ray": ("scale", "ray[data]"),
    "pyarrow": ("scale", "pyarrow"),
    "polars": ("scale", "polars"),
}


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra that installs it.

    A ``ModuleNotFoundError``, so code that falls back when an import fails keeps doing so, and deliberately not an
    ``OmnitokError``: loops that skip a bad input on an ``OmnitokError`` must stop on a missing extra instead of
    skipping every input (the CLI prints it as one ``omnitok: error:`` line, exit status 2)."""


def missing_extra(module: str, purpose: str = "") -> MissingExtraError:
    """The error for optional ``module`` (a dotted name is fine) being absent, needed for ``purpose``."""
    root = module.split(".")[0]
    extra, distribution = EXTRA_OF.get(root, (None, root))
    install = f"pip install 'omnitok[{extra}]'" if extra else f"pip install {distribution}"
    needs = f"{purpose} needs {distribution}" if purpose else f"{distribution} is needed"
    error = MissingExtraError(f"{needs}, which is not installed: {install}")
    error.name = root
    return error


def require(module: str, purpose: str = "") -> ModuleType:
    """Import optional ``module``; MissingExtraError (with the ``pip install`` line) when it is absent."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or err.name.split(".")[0] != module.split(".")[0]:
            raise  # something else is missing inside that module: not ours to reword
        raise missing_extra(module, purpose) from None


def as_missing_extra(err: ModuleNotFoundError, purpose: str = "") -> MissingExtraError | None:
    """``err`` reworded when it concerns a module of an omnitok extra, else None."""
    if isinstance(err, MissingExtraError):
        return err
    root = (err.name or "").split(".")[0]
    return missing_extra(root, purpose) if root in EXTRA_OF else None


@contextlib.contextmanager
def extra_hint(purpose: str = "") -> Iterator[None]:
    """Re-raise a ``ModuleNotFoundError`` for an extra's module inside the block as :class:`MissingExtraError`."""
    try:
        yield
    except ModuleNotFoundError as err:
        hint = as_missing_extra(err, purpose)
        if hint is None:
            raise
        raise hint from None
