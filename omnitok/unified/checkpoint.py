"""Saving a trained unified Transformer together with its vocabulary: ``config.json`` (model config + vocabulary
layout) and ``model.safetensors``, each written atomically; loading reads safetensors only (nothing unpickled)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

import omnitok
from omnitok.errors import ConfigError, WeightsError
from omnitok.hub import CONFIG_NAME, WEIGHTS_NAME, load_weights, write_checkpoint
from omnitok.unified.model import TransformerConfig, UnifiedTransformer
from omnitok.unified.text import TextVocabulary
from omnitok.unified.vocabulary import SharedVocabulary


@dataclasses.dataclass
class LoadedUnified:
    """What :func:`load_unified` returns: the model (eval mode) and the vocabulary it was trained with."""

    model: UnifiedTransformer
    vocabulary: SharedVocabulary


def check_compatible(model: UnifiedTransformer, vocab: SharedVocabulary) -> None:
    """Raise ConfigError unless ``model`` was sized for ``vocab`` (ids, streams, continuous inputs)."""
    cfg = model.config
    if cfg.vocab_size != vocab.size or cfg.num_streams != vocab.num_streams:
        raise ConfigError(
            f"the model takes {cfg.vocab_size} ids in {cfg.num_streams} stream(s); the vocabulary has {vocab.size} "
            f"in {vocab.num_streams}"
        )
    for name in vocab.names:
        if vocab.is_continuous(name) and cfg.continuous.get(name) != vocab.spec(name).latent_dim:
            raise ConfigError(f"the model has no projection for {name!r} with {vocab.spec(name).latent_dim} channels")


def save_unified(model: UnifiedTransformer, vocab: SharedVocabulary, directory: str | os.PathLike) -> Path:
    """Write the model config, the vocabulary layout and the weights into ``directory``; return the folder."""
    check_compatible(model, vocab)
    directory = Path(directory)
    config = {
        "omnitok_version": omnitok.__version__,
        "unified_transformer": model.config.to_dict(),
        "vocabulary": vocab.to_dict(),
    }
    return write_checkpoint(model, config, directory)


def load_unified(
    directory: str | os.PathLike, *, text: TextVocabulary | None = None, map_location: str | torch.device = "cpu"
) -> LoadedUnified:
    """Rebuild what :func:`save_unified` wrote; ``text`` replaces the saved text vocabulary (see
    ``SharedVocabulary.from_dict``). The model comes back in eval mode."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"{directory} needs {CONFIG_NAME} and {WEIGHTS_NAME} (written by save_unified)")
    try:
        config = json.loads(config_path.read_text())
        model_config = TransformerConfig.from_dict(config["unified_transformer"])
        vocab_data = config["vocabulary"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise WeightsError(f"{config_path} is not a unified Transformer config: {err!r}") from err
    vocab = SharedVocabulary.from_dict(vocab_data, text=text)
    model = UnifiedTransformer(model_config)
    check_compatible(model, vocab)
    load_weights(model, weights_path)
    return LoadedUnified(model.to(map_location).eval(), vocab)
