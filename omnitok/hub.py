"""Saving and loading tokenizers: a folder with ``config.json`` (the class_path config) and ``model.safetensors``.

:func:`load_pretrained` reads such a folder, resolving ``ref`` as a local folder, then a model-zoo name, then a hub
id (through huggingface_hub). Weights are read with safetensors only: nothing is unpickled. ``load_tokenizer``
(:mod:`omnitok.resolve`) takes every reference form and calls :func:`load_pretrained` for these three.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from torch import nn

import omnitok
from omnitok.config import instantiate, to_config
from omnitok.errors import ConfigError, WeightsError
from omnitok.fingerprint import file_sha256, record_fingerprint
from omnitok.formats import TOKENIZER_FORMAT, read_format_version
from omnitok.modalities import class_path_of, is_shipped, load_modality
from omnitok.protocol import Tokenizer
from omnitok.utils import atomic_path

CONFIG_NAME = "config.json"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
WEIGHTS_NAME = "model.safetensors"


def save_pretrained(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``model``'s config and weights into ``directory`` (each file atomically) and return the folder."""
    config = {"format_version": TOKENIZER_FORMAT, "omnitok_version": omnitok.__version__, "model": to_config(model)}
    spec = getattr(model, "spec", None)
    if spec is not None and not is_shipped(spec.modality):  # loading registers the definition first
        config["modality"] = class_path_of(spec.modality)
    return write_checkpoint(model, config, directory)


def write_checkpoint(model: nn.Module, config: dict[str, Any], directory: str | os.PathLike) -> Path:
    """Write ``model``'s weights (safetensors, CPU) and ``config`` (JSON) into ``directory``, each file atomically;
    return the folder. Shared by every omnitok checkpoint format (tokenizers, the unified Transformer)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp), metadata={"format": "pt", "omnitok_version": omnitok.__version__})
    with atomic_path(directory / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")
    return directory


def load_tokenizer(ref: str | os.PathLike, **kwargs: Any) -> Tokenizer:
    """:func:`omnitok.resolve.load_tokenizer`, the one resolver of every reference form (kept importable here)."""
    from omnitok.resolve import load_tokenizer as resolve

    return resolve(ref, **kwargs)


def load_pretrained(
    ref: str | os.PathLike, *, trust_remote_code: bool = False, revision: str | None = None
) -> nn.Module:
    """Rebuild a saved tokenizer (float32, CPU, eval mode) from a local folder, a model-zoo name or a hub id."""
    folder, expected = _resolve(ref, revision)
    model = _build(folder, trust_remote_code)
    weights = folder / WEIGHTS_NAME
    digest = file_sha256(weights) if weights.is_file() else None  # the fingerprint; for zoo names also the check
    if expected is not None and digest != expected:
        raise WeightsError(f"zoo weights for {str(ref)!r} have SHA-256 {digest}, expected {expected}")
    load_weights(model, weights)
    record_fingerprint(model, digest)
    return model.eval()


def _resolve(ref: str | os.PathLike, revision: str | None) -> tuple[Path, str | None]:
    """(folder, the SHA-256 its weights must have: zoo entries only)."""
    from omnitok.zoo import ZOO

    path = Path(ref)
    if path.is_dir():
        return path, None
    name = str(ref)
    if name in ZOO:
        entry = ZOO[name]
        return _download(entry.repo_id, revision or entry.revision), entry.sha256
    if path.exists():
        raise WeightsError(f"{path} is a file; load_tokenizer needs the folder save_pretrained wrote")
    if not _HUB_ID.fullmatch(name):
        from omnitok.resolve import REFERENCE_FORMS

        raise WeightsError(
            f"no tokenizer folder at {path}, and {name!r} is no other tokenizer reference; {REFERENCE_FORMS}"
        )
    return _download(name, revision), None


def _download(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))
    except Exception as err:  # network, auth, missing repo: all one failure for the caller
        raise WeightsError(f"could not fetch tokenizer {repo_id!r} from the hub: {err}") from err


def _build(folder: Path, trust_remote_code: bool) -> nn.Module:
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise WeightsError(f"{folder} has no {CONFIG_NAME}; was it written by save_pretrained?")
    try:
        config = json.loads(config_path.read_text())
        model_config = config["model"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise WeightsError(f"{config_path} is not a valid omnitok config: {err}") from err
    read_format_version(config.get("format_version"), TOKENIZER_FORMAT, str(config_path))
    try:
        if config.get("modality") is not None:  # a modality defined outside omnitok: register its definition
            load_modality(config["modality"], trust_remote_code)
        model = instantiate(model_config, trust_remote_code=trust_remote_code)
    except ConfigError as err:
        raise ConfigError(f"{config_path}: {err}") from err
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{config_path} describes a {type(model).__name__}, not a torch module")
    return model


def load_weights(model: nn.Module, path: Path) -> None:
    """Copy the safetensors weights into the freshly built (CPU) model, strictly (WeightsError on a missing,
    corrupt or mismatched file)."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise WeightsError(f"weights file missing: {path}")
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises several types for truncated or corrupt files
        raise WeightsError(f"cannot read weights {path}: {err}") from err
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise WeightsError(f"weights {path} do not match the config: {err}") from err
    if missing or unexpected:
        raise WeightsError(
            f"weights {path} do not match the config: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
