"""The world's image tokenizer and speech codec from one omni recipe, with one shared codebook or one per medium.

A world recipe with speech may replace ``tokenizer`` and ``speech.tokenizer`` by::

    omni:
      recipe: world_omni_tokenizer.yaml   # an OmniTrainer recipe with an "image" and an "audio" branch
      codebook: shared                    # or separate
      overrides: {trainer.max_steps: 800}

``codebook: shared`` trains the omni recipe once (``<out>/omni``): the image tokenizer and the speech codec are its
``image`` and ``audio`` views, so they hold one quantizer and the Transformer's vocabulary gives their codes ONE id
range (a code's embedding is shared by images and speech). ``codebook: separate`` trains the single-medium recipes
that :func:`examples.omni_study.recipes.separate_recipes` derives from the same omni recipe (same networks, losses,
learning rates and batches; the codebook split in two, so the total size is equal) into ``<out>/omni/image`` and
``<out>/omni/audio``: two codebooks, two id ranges. Everything after the tokenizers is the same world run, so
comparing two runs that differ only in ``omni.codebook`` measures what sharing the vocabulary does to the
Transformer's four directions. ``pretrained: FOLDER`` (an exported omni tokenizer) replaces ``recipe`` for the
shared arm.

The recipe's ``data.image`` must be this example's ``WorldImageDataModule`` (its ``world`` is set to the run's) and
its ``data.audio`` an ``AudioDataModule`` (its ``root`` is set to the run's spoken training captions).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from omnitok.config import check_config, set_by_path
from omnitok.errors import ConfigError

OMNI_KEYS = {"recipe", "pretrained", "overrides", "codebook"}
CODEBOOKS = ("shared", "separate")
IMAGE_BRANCH, AUDIO_BRANCH = "image", "audio"


@dataclasses.dataclass
class OmniParts:
    """The image tokenizer, the speech codec, and what the report says of them."""

    image: Any
    codec: Any
    info: dict[str, Any]


def check_omni_section(section: Any) -> None:
    if not isinstance(section, dict):
        raise ConfigError("omni must be a mapping with 'recipe' (or 'pretrained'), 'codebook' and 'overrides'")
    unknown = sorted(set(section) - OMNI_KEYS)
    if unknown:
        raise ConfigError(f"unknown omni key(s) {unknown}; known: {sorted(OMNI_KEYS)}")
    if bool(section.get("recipe")) == bool(section.get("pretrained")):
        raise ConfigError("omni needs exactly one of 'recipe' (train it) or 'pretrained' (load it)")
    codebook = section.get("codebook", "shared")
    if codebook not in CODEBOOKS:
        raise ConfigError(f"omni.codebook must be one of {list(CODEBOOKS)}, got {codebook!r}")
    if codebook == "separate" and section.get("pretrained"):
        raise ConfigError("omni.codebook: separate trains one tokenizer per medium from omni.recipe; drop 'pretrained'")


def omni_parts(
    section: dict[str, Any], world_arguments: dict[str, Any], speech: dict[str, Any], world: Any, out: Path, base: Path
) -> OmniParts:
    """Train (or reuse / load) the tokenizers of ``omni.codebook``'s arm; see the module docstring. The spoken
    training captions are written only when a tokenizer trains."""
    from examples.omni_study.recipes import separate_recipes
    from examples.world.speech_run import training_clips
    from examples.world.stages import load_recipe, tokenizer_stage, world_entry

    folder = out / "omni"

    def world_data(recipe: dict[str, Any], at: str = "data") -> None:  # the data module at ``at`` sees the run's world
        set_by_path(recipe, f"{at}.world", world_entry(world_arguments))

    def clips(recipe: dict[str, Any], at: str = "data") -> None:  # ... or reads the run's spoken training captions
        set_by_path(recipe, f"{at}.root", str(training_clips(speech, world, out)))

    if section.get("codebook", "shared") == "shared":

        def prepare(recipe: dict[str, Any]) -> None:
            _check_omni_recipe(recipe)
            world_data(recipe, f"data.{IMAGE_BRANCH}")
            clips(recipe, f"data.{AUDIO_BRANCH}")

        omni, reference, info = tokenizer_stage(section, folder, base, "omni tokenizer", prepare, True)
        missing = {IMAGE_BRANCH, AUDIO_BRANCH} - set(getattr(omni, "modalities", ()))
        if missing:
            raise ConfigError(f"the omni tokenizer {reference} has no {sorted(missing)} branch(es)")
        return OmniParts(omni.view(IMAGE_BRANCH), omni.view(AUDIO_BRANCH), {"codebook": "shared", **info})
    recipe = load_recipe(section, base)
    _check_omni_recipe(recipe)
    derived = separate_recipes(recipe)
    tokenizers, info = {}, {"codebook": "separate", "recipe": str(section["recipe"])}
    for branch, prepare in ((IMAGE_BRANCH, world_data), (AUDIO_BRANCH, clips)):
        entry = {"recipe": derived[branch]}
        tokenizers[branch], _, info[branch] = tokenizer_stage(
            entry, folder / branch, base, f"{branch} tokenizer", prepare, True
        )
    return OmniParts(tokenizers[IMAGE_BRANCH], tokenizers[AUDIO_BRANCH], info)


def _check_omni_recipe(recipe: dict[str, Any]) -> None:
    """An OmniTrainer recipe with image and audio branches whose images come from the world (the trust rule of
    :func:`examples.world.stages.check_trusted_recipe`)."""
    from examples.omni_study.recipes import OMNI_TRAINER, modalities_of
    from examples.world.stages import check_trusted_recipe

    model = recipe.get("model") or {}
    if model.get("class_path") != OMNI_TRAINER:
        raise ConfigError(f"omni.recipe must be an omni recipe (model.class_path {OMNI_TRAINER})")
    parts = ((recipe.get("data") or {}).get("init_args")) or {}
    if not {IMAGE_BRANCH, AUDIO_BRANCH} <= set(modalities_of(recipe)) & set(parts):
        raise ConfigError(
            "omni.recipe needs 'image' and 'audio' branches and data modules (the world's scenes and speech)"
        )
    check_trusted_recipe(recipe, parts[IMAGE_BRANCH], "data.init_args.image")
    check_config(parts[AUDIO_BRANCH], key="data.init_args.audio")
