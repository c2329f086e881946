"""The two arms' recipes, both from one omni recipe: arm "shared" is the omni recipe itself, arm "separate" is one
single-modality recipe per branch derived from it here (nothing is copied by hand, so the arms cannot drift).

A derived recipe keeps, for its modality ``m``:

- the branch's encoder, decoder and input format (``OmniBranch`` arguments are ``Autoencoder`` arguments) around a
  copy of the omni quantizer whose only change is ``codebook_size`` (:func:`split_codebook`: equal total size);
- ``losses[m]`` (each term's weight times ``modality_weights[m]``), ``learning_rates[m]`` (else ``learning_rate``) and
  every optimizer/schedule argument the two trainer classes share (betas, warm-up, cosine schedule, clipping, EMA);
- ``data.init_args[m]``, the very data module the omni run draws modality ``m`` from (batch ``s`` of a single run is
  batch ``s`` of that modality in the omni run: :class:`omnitok.trainers.OmniDataModule`);
- the ``seed`` and the whole ``trainer`` section (steps, validation, held-out samples).

What differs, by construction: each tokenizer has its own codebook (and its own dead-code restarts), and the
quantizer's small projections train at the branch's learning rate instead of the omni recipe's shared one.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

from omnitok.cli.train import apply_overrides
from omnitok.config import load_yaml_config
from omnitok.errors import ConfigError
from omnitok.trainers import OmniTrainer, TokenizerTrainer

RECIPE = Path(__file__).resolve().parent / "quickstart.yaml"
OMNI_TRAINER = "omnitok.trainers.OmniTrainer"
SINGLE_TRAINER = "omnitok.trainers.TokenizerTrainer"
SINGLE_TOKENIZER = "omnitok.models.Autoencoder"
OMNI_ONLY = {"tokenizer", "losses", "modality_weights", "learning_rate", "learning_rates", "max_steps"}
SHARED_SETTINGS = tuple(
    name
    for name in inspect.signature(OmniTrainer.__init__).parameters
    if name in inspect.signature(TokenizerTrainer.__init__).parameters and name not in OMNI_ONLY | {"self"}
)
"""The trainer arguments both classes take and a separate run copies from the omni recipe (betas, warm-up, ...)."""


def load_omni_recipe(paths: list[str | Path] | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """The omni recipe of the study: ``paths`` merged (default :data:`RECIPE`), then ``--set KEY=VALUE`` overrides."""
    config = load_yaml_config(*(paths or [RECIPE]))
    apply_overrides(config, list(overrides or []))
    if config.get("model", {}).get("class_path") != OMNI_TRAINER:
        raise ConfigError(f"the study starts from an omni recipe (model: {OMNI_TRAINER}), got {paths}")
    return config


def split_codebook(total: int, modalities: list[str] | tuple[str, ...]) -> dict[str, int]:
    """``total`` codes split over ``modalities`` as evenly as integers allow, the remainder to the first ones
    (1024 over image, video, audio -> 342, 341, 341)."""
    share, rest = divmod(int(total), len(modalities))
    if share < 1:
        raise ConfigError(f"{total} codes cannot give each of {len(modalities)} modalities a codebook")
    return {m: share + (1 if i < rest else 0) for i, m in enumerate(modalities)}


def modalities_of(omni: dict[str, Any]) -> list[str]:
    """The omni recipe's branches, in order."""
    return list(omni["model"]["init_args"]["tokenizer"]["init_args"]["branches"])


def shared_codebook_size(omni: dict[str, Any]) -> int:
    return int(omni["model"]["init_args"]["tokenizer"]["init_args"]["quantizer"]["init_args"]["codebook_size"])


def separate_recipes(omni: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """modality -> the single-modality recipe of arm "separate" (see the module docstring); codebook sizes sum to
    the omni recipe's one codebook."""
    model = omni["model"]["init_args"]
    tokenizer = model["tokenizer"]["init_args"]
    if tokenizer.get("bottleneck") is not None:
        raise ConfigError("the separate arm has no counterpart of a shared bottleneck; compare recipes without one")
    modalities = modalities_of(omni)
    sizes = split_codebook(shared_codebook_size(omni), modalities)
    weights = model.get("modality_weights") or {}
    rates = model.get("learning_rates") or {}
    recipes = {}
    for modality in modalities:
        quantizer = copy.deepcopy(tokenizer["quantizer"])
        quantizer["init_args"]["codebook_size"] = sizes[modality]
        branch = copy.deepcopy(tokenizer["branches"][modality].get("init_args") or {})
        losses = copy.deepcopy(model["losses"][modality])
        for term in losses:
            args = term.setdefault("init_args", {})
            args["weight"] = float(args.get("weight", 1.0)) * float(weights.get(modality, 1.0))
        trainer_args = {
            "tokenizer": {
                "class_path": SINGLE_TOKENIZER,
                "init_args": {"modality": modality, **branch, "quantizer": quantizer},
            },
            "losses": losses,
            "learning_rate": rates.get(modality, model.get("learning_rate", 1e-4)),
            **{name: copy.deepcopy(model[name]) for name in SHARED_SETTINGS if name in model},
            "media_key": modality,
        }
        recipes[modality] = {
            "seed": omni.get("seed", 0),
            "model": {"class_path": SINGLE_TRAINER, "init_args": trainer_args},
            "data": copy.deepcopy(omni["data"]["init_args"][modality]),
            "trainer": copy.deepcopy(omni.get("trainer") or {}),
        }
    return recipes
