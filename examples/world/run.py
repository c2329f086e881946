"""The captioned world end to end: image tokenizer, judge, unified Transformer, held-out evaluation, report.

A world recipe (``examples/world/world_image.yaml``) has these top-level keys::

    seed: 0
    world:      {size: 16, unseen_combinations: 0, seed: 0}   # examples.world.scenes.World arguments
    tokenizer:  {recipe: world_tokenizer.yaml, overrides: {trainer.max_steps: 600}}   # or {pretrained: FOLDER}
    judge:      {steps: 300, ...}             # examples.world.judge.train_judge arguments (not the world)
    text:       words                         # or bytes
    data:       {train_scenes: 4096, task_weights: {...}, caption_dropout: 0.1, batch_size: 32, pretokenize: false}
    model:      {kind: reference, dim: 128, depth: 4, heads: 4}   # or kind: llama / qwen2 (examples.world.backends)
    speech:     {tokenizer: {recipe: ...}, utterances: 1024, judge: {...}}   # optional (examples.world.speech_run)
    omni:       {recipe: world_omni_tokenizer.yaml, codebook: shared}   # optional, instead of tokenizer and
                                              # speech.tokenizer: both from one omni recipe (examples.world.omni_run)
    training:   {max_steps: 1500, learning_rate: 1.0e-3, ...}   # UnifiedTrainer arguments + accelerator, precision
    evaluation: {scenes: 256, cfg_scale: 3.0, ...}              # WorldEvalSettings

The run folder holds ``tokenizer/`` (the image tokenizer's training run, its exported model in
``tokenizer/tokenizer``), ``judge.safetensors``, ``transformer/`` (``save_unified``), ``logs/`` and ``report/``
(``report.html``, ``metrics.json``). A tokenizer or judge already in the folder is reused, so a second run with a
different Transformer setting skips straight to it.

With ``data.pretokenize: true`` the training scenes are written as PNGs with caption sidecars to ``scenes/``,
tokenized by ``omnitok tokenize`` (Ray Data) into the token corpus ``corpus/``, and the Transformer trains from
that corpus instead of from tokens held in memory: the same rows in the same order, so the same run.

The tokenizer recipe trains on this example's ``WorldImageDataModule``, a class outside omnitok: the run trusts
that one class and nothing else the recipe names (model, losses and loggers stay under omnitok's trust rule).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import torch

from omnitok.config import set_by_path
from omnitok.errors import ConfigError

TOP_LEVEL_KEYS = {
    "seed",
    "world",
    "tokenizer",
    "judge",
    "text",
    "data",
    "model",
    "training",
    "evaluation",
    "speech",
    "omni",
}
TOKENIZER_KEYS = {"recipe", "pretrained", "overrides"}
DATA_KEYS = {"train_scenes", "task_weights", "caption_dropout", "batch_size", "pretokenize", "media_weights"}
TRAINING_RUN_KEYS = {"max_steps", "accelerator", "precision", "log_every"}
IMAGE = "image"


@dataclasses.dataclass
class WorldResult:
    """Where the run wrote its parts, the evaluation, and the wall time of each stage (seconds)."""

    folder: Path
    report: Path
    metrics: dict[str, Any]
    seconds: dict[str, float]


def check_world_recipe(config: dict[str, Any]) -> None:
    """Validate the recipe's shape before anything is built."""
    unknown = sorted(set(config) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown top-level world key(s) {unknown}; a world recipe has {sorted(TOP_LEVEL_KEYS)}")
    if not isinstance(config.get("world"), dict) or "class_path" in config["world"]:
        raise ConfigError("a world recipe needs a 'world' section of World arguments (size, unseen_combinations, seed)")
    if "omni" in config:
        _check_omni(config)
    else:
        _check_tokenizer_entry(config.get("tokenizer") or {})
    bad = sorted(set(config.get("data") or {}) - DATA_KEYS)
    if bad:
        raise ConfigError(f"unknown data key(s) {bad}; known: {sorted(DATA_KEYS)}")
    from examples.world.backends import model_kind
    from examples.world.speech_run import check_speech_section

    model_kind(config.get("model"))
    if "speech" in config:
        check_speech_section(config["speech"], codec_elsewhere="omni" in config)
        if (config.get("data") or {}).get("pretokenize"):
            raise ConfigError("data.pretokenize covers the images only; a world with speech keeps its tokens in memory")
    elif (config.get("data") or {}).get("media_weights"):
        raise ConfigError("data.media_weights needs a speech section (the world has images only without it)")


def _check_tokenizer_entry(tokenizer: dict[str, Any]) -> None:
    bad = sorted(set(tokenizer) - TOKENIZER_KEYS)
    if bad:
        raise ConfigError(f"unknown tokenizer key(s) {bad}; known: {sorted(TOKENIZER_KEYS)}")
    if bool(tokenizer.get("recipe")) == bool(tokenizer.get("pretrained")):
        raise ConfigError("tokenizer needs exactly one of 'recipe' (train it) or 'pretrained' (load it)")


def _check_omni(config: dict[str, Any]) -> None:
    """``omni`` makes both the image tokenizer and the speech codec (examples.world.omni_run)."""
    from examples.world.omni_run import check_omni_section

    check_omni_section(config["omni"])
    if config.get("tokenizer"):
        raise ConfigError("tokenizer and omni both make the image tokenizer; remove tokenizer (or set it to null)")
    if "speech" not in config:
        raise ConfigError("omni makes an image tokenizer and a speech codec; the recipe needs a speech section")


def _tokenizer(config: dict[str, Any], out: Path, base: Path) -> tuple[Any, str, dict[str, Any]]:
    """Train the image tokenizer from its recipe on this world's scenes (or load a pretrained / earlier one):
    (tokenizer, the reference it loads from, what the report says of it)."""
    from examples.world.stages import check_trusted_recipe, tokenizer_stage, world_entry

    def prepare(recipe: dict[str, Any]) -> None:
        check_trusted_recipe(recipe, recipe.get("data"), "data")
        set_by_path(recipe, "data.world", world_entry(config["world"]))  # the Transformer's world

    return tokenizer_stage(config["tokenizer"], out / "tokenizer", base, "image tokenizer", prepare, True)


def _judge(world: Any, section: dict[str, Any], out: Path, seed: int) -> tuple[Any, dict[str, Any]]:
    from examples.world.judge import WorldJudge, train_judge
    from examples.world.stages import judge_stage

    def trained() -> tuple[Any, dict[str, Any]]:
        result = train_judge(world, seed=seed, **section)
        info = {
            "heldout_accuracy": result.heldout_accuracy,
            "train_scenes": result.train_scenes,
            "heldout_scenes": result.heldout_scenes,
            "steps": result.steps,
        }
        return result.judge, info

    empty = lambda: WorldJudge(world.size, int(section.get("width", 32)))
    return judge_stage(out / "judge.safetensors", empty, trained, "judge")


def _world(arguments: dict[str, Any]) -> Any:
    import inspect

    from examples.world.scenes import World

    known = set(inspect.signature(World).parameters)
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise ConfigError(f"unknown world key(s) {unknown}; known: {sorted(known)}")
    return World(**arguments)


def _in_memory(scenes: Any, tokenizer: Any) -> Any:
    from examples.world.data import EncodedScenes, encode_scenes

    return EncodedScenes(scenes, encode_scenes(tokenizer, scenes))


def _corpus(scenes: Any, tokenizer_reference: str, out: Path) -> Any:
    """The training scenes as files, tokenized by ``omnitok tokenize`` (an embedded local Ray, or the one this
    process already joined) into ``out/corpus`` (kept and reused when complete), read back as a ``TokenCorpus``."""
    from examples.world.data import write_scene_files
    from omnitok.corpus import TokenCorpus
    from omnitok.corpus.pipeline import PROTOCOL_KEYS, TokenizeJob, plan, run

    folder = out / "scenes" / "train"
    if not folder.is_dir():
        write_scene_files(scenes, folder)
    job = TokenizeJob(tokenizer_reference, str(folder), out / "corpus", dict.fromkeys(PROTOCOL_KEYS), shard_size=1024)
    result = run(plan(job))
    if result.skipped:
        raise ConfigError(f"omnitok tokenize skipped {len(result.skipped)} scene(s): {result.skipped[0]['reason']}")
    return TokenCorpus(out / "corpus", shuffle=False)


def run_world(config: dict[str, Any], out: str | os.PathLike, base: str | os.PathLike = ".") -> WorldResult:
    """Run the world recipe ``config`` in the folder ``out``; ``base`` resolves the tokenizer recipe's path."""
    import lightning.pytorch as pl

    from examples.world.backends import WorldBackend, build_model, save_model, text_vocabulary
    from examples.world.data import world_sequences
    from examples.world.evaluation import WorldEvalSettings, evaluate_world
    from examples.world.report import write_world_report
    from examples.world.speech_eval import SPEECH, evaluate_speech
    from examples.world.speech_run import speech_parts
    from omnitok.trainers.run import _quiet_lightning_tips
    from omnitok.trainers.unified import UnifiedTrainer
    from omnitok.unified import SharedVocabulary

    check_world_recipe(config)
    out, base = Path(out), Path(base)
    if (out / "transformer").exists():
        raise ConfigError(f"{out} already holds a trained Transformer; pick another --out")
    evaluation_settings = WorldEvalSettings.from_dict(config.get("evaluation"))
    world = _world(config["world"])
    out.mkdir(parents=True, exist_ok=True)
    seed = int(config.get("seed", 0))
    seconds: dict[str, float] = {}
    _quiet_lightning_tips()

    start = time.perf_counter()
    omni = None
    if "omni" in config:
        from examples.world.omni_run import omni_parts

        omni = omni_parts(config["omni"], config["world"], config["speech"], world, out, base)
        tokenizer, tokenizer_reference, tokenizer_info = omni.image, "", omni.info
    else:
        tokenizer, tokenizer_reference, tokenizer_info = _tokenizer(config, out, base)
    seconds["tokenizer"] = time.perf_counter() - start

    start = time.perf_counter()
    judge, judge_info = _judge(world, dict(config.get("judge") or {}), out, seed)
    seconds["judge"] = time.perf_counter() - start

    speech = None
    if "speech" in config:
        start = time.perf_counter()
        speech = speech_parts(config["speech"], world, out, base, seed, omni.codec if omni else None)
        seconds["speech_codec_and_judge"] = time.perf_counter() - start

    start = time.perf_counter()
    data_section = {"train_scenes": 4096, "batch_size": 32, **(config.get("data") or {})}
    train_scenes = int(data_section.pop("train_scenes"))
    pretokenize = bool(data_section.pop("pretokenize", False))
    encoded, names = _training_tokens(world, train_scenes, tokenizer, tokenizer_reference, speech, pretokenize, out)
    pl.seed_everything(seed, workers=True, verbose=False)  # after the tokens: Ray and litdata draw from the RNGs
    media = {IMAGE: tokenizer, **({SPEECH: speech.codec} if speech else {})}
    model_section = dict(config.get("model") or {})
    vocab = SharedVocabulary(
        text_vocabulary(model_section.get("kind", "reference"), str(config.get("text", "words"))), media
    )
    world_model = build_model(model_section, vocab)
    training = dict(config.get("training") or {})
    run = {k: training.pop(k) for k in list(training) if k in TRAINING_RUN_KEYS}
    max_steps = int(run.get("max_steps", 1500))
    module = UnifiedTrainer(world_model.trained, vocab, max_steps=max_steps, **training)
    data = world_sequences(encoded, vocab, names, seed=seed, **data_section)
    from lightning.pytorch.loggers import CSVLogger

    trainer = pl.Trainer(
        max_steps=max_steps,
        accelerator=run.get("accelerator", "cpu"),
        devices=1,
        precision=run.get("precision", "32-true"),
        logger=CSVLogger(save_dir=str(out), name="logs"),
        log_every_n_steps=int(run.get("log_every", 25)),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=data)
    world_model.trained.cpu().eval()
    save_model(world_model, vocab, out / "transformer")
    seconds["transformer"] = time.perf_counter() - start
    final = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}

    start = time.perf_counter()
    backend = WorldBackend(world_model, vocab)
    evaluation = evaluate_world(backend, tokenizer, judge, world, evaluation_settings, IMAGE)
    if speech is not None:
        evaluation.speech = evaluate_speech(
            backend, speech.codec, speech.judge, world, speech.bank, evaluation_settings
        )
    seconds["evaluation"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    setup = {
        "world": world.describe(),
        "tokenizer": {
            **tokenizer_info,
            "spec_codebook_sizes": list(tokenizer.spec.codebook_sizes),
            "grid": list(tokenizer.spec.grid((world.size, world.size))),
        },
        "judge": judge_info,
        **({"speech": {**speech.info, "spec": speech.codec.spec.to_dict()}} if speech else {}),
        "text_vocabulary": str(config.get("text", "words")),
        "vocabulary_size": vocab.size,
        **({"shared_codebooks": {g: list(m) for g, m in vocab.shared_codebooks.items()}} if speech else {}),
        **({"training_codes": _training_codes(encoded, vocab)} if speech else {}),
        "transformer": {"kind": world_model.kind, **_model_config(world_model), "parameters": world_model.parameters()},
        "training": {
            "max_steps": max_steps,
            "train_scenes": train_scenes,
            "tokens_from": "token corpus (omnitok tokenize)" if pretokenize else "memory",
            **data_section,
            **training,
            "final": final,
        },
        "wall_seconds": seconds,
        "threads": torch.get_num_threads(),
    }
    report = write_world_report(evaluation, setup, out / "report")
    from examples.world.report import metrics_document

    return WorldResult(out, report, metrics_document(evaluation, setup), seconds)


def _training_codes(encoded: Any, vocab: Any) -> dict[str, float]:
    """Per medium, how the training tokens use their codebook (level 0), and with a shared codebook the overlap:
    :func:`omnitok.quantizers.stats.shared_codebook_stats` over each id range's media."""
    from examples.world.speech_eval import SPEECH
    from omnitok.quantizers.stats import shared_codebook_stats

    tokens = {IMAGE: encoded.scenes.tokens, SPEECH: encoded.speech_tokens}
    groups: dict[str, list[str]] = {}
    for name in tokens:
        groups.setdefault(vocab.codebook_of(name), []).append(name)
    figures: dict[str, float] = {}
    for members in groups.values():
        level0 = {m: tokens[m][..., 0] if vocab.spec(m).num_levels > 1 else tokens[m] for m in members}
        stats = shared_codebook_stats(level0, vocab.spec(members[0]).codebook_sizes[0]).to_dict()
        pooled = ("all/", "overlap/")  # figures over several media: only a shared codebook has them
        figures.update({k: v for k, v in stats.items() if len(members) > 1 or not k.startswith(pooled)})
    return figures


def _model_config(world_model: Any) -> dict[str, Any]:
    model = world_model.model
    return model.config.to_dict() if world_model.kind == "reference" else {"hf_config": model.config.to_diff_dict()}


def _training_tokens(
    world: Any,
    count: int,
    tokenizer: Any,
    tokenizer_reference: str,
    speech: Any,
    pretokenize: bool,
    out: Path,
) -> tuple[Any, str | list[str]]:
    """The training scenes' tokens (and their spoken captions', with speech) and the tokenizer names they train."""
    from examples.world.scenes import WorldScenes

    scenes = WorldScenes(world, "train", count)
    if speech is None:
        encoded = _corpus(scenes, tokenizer_reference, out) if pretokenize else _in_memory(scenes, tokenizer)
        return encoded, IMAGE
    from examples.world.data import EncodedSpokenScenes
    from examples.world.speech import WorldSpeech
    from examples.world.speech_eval import SPEECH, encode_speech

    spoken = WorldSpeech(world, "train", count, speech.bank)
    tokens = encode_speech(speech.codec, spoken.waves)
    return EncodedSpokenScenes(_in_memory(scenes, tokenizer), tokens, IMAGE, SPEECH), [IMAGE, SPEECH]
