"""Checkpoint -> inference-only tokenizer folder (``save_pretrained``), without Lightning.

Checkpoints are read with ``torch.load(weights_only=True)``: nothing in them is unpickled as code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omnitok.config import instantiate
from omnitok.errors import ConfigError, WeightsError
from omnitok.hub import CONFIG_NAME, WEIGHTS_NAME, save_pretrained

_PREFIXES = {"ema": "ema.average.", "live": "tokenizer."}


def read_checkpoint(path: str | os.PathLike, weights: bool = True) -> dict[str, Any]:
    """Load a training checkpoint safely (tensors and plain containers only). An FSDP run's checkpoint (a folder of
    shards) is gathered into whole tensors in CPU memory; ``weights=False`` reads only its metadata (step, loops)."""
    from omnitok.trainers.sharding import is_sharded_checkpoint, read_sharded_checkpoint

    path = Path(path)
    if is_sharded_checkpoint(path):
        try:
            return read_sharded_checkpoint(path, weights)
        except Exception as err:
            raise WeightsError(f"cannot read sharded checkpoint {path}: {err}") from err
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"cannot read checkpoint {path}: {err}") from err


def tokenizer_from_checkpoint(path: str | os.PathLike, weights: str = "auto") -> nn.Module:
    """Rebuild the tokenizer a ``TokenizerTrainer`` checkpoint holds.

    Args:
        path: a ``.ckpt`` written during ``omnitok train``.
        weights: "ema" (the weight average), "live" (the optimized weights) or "auto" (EMA when kept).
    """
    checkpoint = read_checkpoint(path)
    state = checkpoint.get("omnitok")
    if state is None or "state_dict" not in checkpoint:
        raise WeightsError(f"{path} is not an omnitok training checkpoint")
    if weights == "auto":
        weights = "ema" if any(k.startswith(_PREFIXES["ema"]) for k in checkpoint["state_dict"]) else "live"
    if weights not in _PREFIXES:
        raise ConfigError(f"weights must be 'auto', 'ema' or 'live', got {weights!r}")
    prefix = _PREFIXES[weights]
    tokenizer_state = {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    if not tokenizer_state:
        raise WeightsError(f"{path} holds no {weights!r} tokenizer weights")
    tokenizer = instantiate(state["tokenizer_config"])
    tokenizer.load_state_dict(tokenizer_state)
    return tokenizer.eval()


def export_checkpoint(
    path: str | os.PathLike, out: str | os.PathLike, weights: str = "auto", overwrite: bool = False
) -> Path:
    """Write the inference-only folder (config.json + model.safetensors) for a training checkpoint.

    ``out`` must be new or empty; with ``overwrite`` it may hold an earlier tokenizer folder (those two files and
    nothing else), which is replaced. A folder holding anything else, or the checkpoint itself, is refused."""
    check_tokenizer_destination(out, overwrite, source=path)
    return save_pretrained(tokenizer_from_checkpoint(path, weights), out)


def check_tokenizer_destination(out: str | os.PathLike, overwrite: bool, source: str | os.PathLike) -> None:
    """Raise ConfigError unless writing a tokenizer folder to ``out`` loses nothing (see :func:`export_checkpoint`)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; export writes a folder")
    if Path(out).resolve() in Path(source).resolve().parents:
        raise ConfigError(f"{out} holds the checkpoint {source}; choose another --out")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise ConfigError(f"{out} already exists and is not empty; pass --overwrite to replace an earlier export")
    foreign = sorted(e.name for e in out.iterdir() if e.name not in (CONFIG_NAME, WEIGHTS_NAME) or not e.is_file())
    if foreign:
        raise ConfigError(
            f"{out} holds more than a tokenizer folder ({', '.join(foreign[:5])}); --overwrite only replaces an "
            "earlier export, so choose another --out"
        )
