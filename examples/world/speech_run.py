"""The speech stages of a world run: the spoken captions, the speech codec trained on them, the speech judge.

A world recipe with speech adds::

    speech:
      tokenizer: {recipe: world_speech_tokenizer.yaml, overrides: {trainer.max_steps: 800}}   # or {pretrained: FOLDER}
      utterances: 1024    # spoken training captions the codec trains on
      judge: {steps: 400, train_utterances: 1024, heldout_utterances: 256}   # train_speech_judge arguments

The run folder gains ``speech/bank.safetensors`` (the espeak-ng utterances, synthesised once), ``speech/train/``
(the codec's training clips: wav + caption sidecars), ``speech/codec/`` (the codec's training run, its exported
model in ``speech/codec/tokenizer``) and ``speech/judge.safetensors``; each is reused when present.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from omnitok.config import set_by_path
from omnitok.errors import ConfigError

SPEECH_KEYS = {"tokenizer", "utterances", "judge"}


@dataclasses.dataclass
class SpeechParts:
    """The bank of utterances, the (frozen) codec, the judge, and what the report says of each."""

    bank: Any
    codec: Any
    judge: Any
    info: dict[str, Any]


def check_speech_section(section: Any, codec_elsewhere: bool = False) -> None:
    """``codec_elsewhere``: the recipe's ``omni`` section makes the codec, so ``speech.tokenizer`` must be absent."""
    if not isinstance(section, dict):
        raise ConfigError("speech must be a mapping with 'tokenizer', 'utterances' and 'judge'")
    unknown = sorted(set(section) - SPEECH_KEYS)
    if unknown:
        raise ConfigError(f"unknown speech key(s) {unknown}; known: {sorted(SPEECH_KEYS)}")
    if codec_elsewhere:
        if section.get("tokenizer"):
            raise ConfigError("speech.tokenizer and omni both make the speech codec; set speech.tokenizer to null")
        return
    tokenizer = section.get("tokenizer") or {}
    if not isinstance(tokenizer, dict) or bool(tokenizer.get("recipe")) == bool(tokenizer.get("pretrained")):
        raise ConfigError("speech.tokenizer needs exactly one of 'recipe' (train it) or 'pretrained' (load it)")
    if set(tokenizer) - {"recipe", "pretrained", "overrides"}:
        raise ConfigError(
            f"unknown speech.tokenizer key(s) {sorted(set(tokenizer) - {'recipe', 'pretrained', 'overrides'})}"
        )


def speech_parts(
    section: dict[str, Any], world: Any, out: Path, base: Path, seed: int, codec: Any = None
) -> SpeechParts:
    """Synthesise (or reuse) the utterances, then train (or reuse / load) the codec and the judge. ``codec``: one
    made elsewhere (an omni tokenizer's audio view, ``examples.world.omni_run``) instead of ``section["tokenizer"]``."""
    from examples.world.speech import SpeechBank

    folder = out / "speech"
    folder.mkdir(parents=True, exist_ok=True)
    bank = SpeechBank(cache=folder / "bank.safetensors")
    if codec is None:
        codec, codec_info = _codec(section, world, bank, folder, base)
    else:
        codec_info = {"from": "omni"}
    judge, judge_info = _judge(section, world, bank, folder, seed)
    bank.save()
    return SpeechParts(bank, codec, judge, {"codec": codec_info, "judge": judge_info})


def training_clips(section: dict[str, Any], world: Any, out: Path, bank: Any = None) -> Path:
    """``out/speech/train``: the spoken training captions a codec trains on (wav + caption sidecars), written once
    (into a temporary folder, renamed when complete) and reused. ``bank``: the run's utterances (default: the bank
    cached in ``out/speech``)."""
    from examples.world.speech import SpeechBank, WorldSpeech, write_speech_files

    clips = out / "speech" / "train"
    if not clips.is_dir():
        bank = bank if bank is not None else SpeechBank(cache=out / "speech" / "bank.safetensors")
        partial = clips.with_name(clips.name + ".partial")
        if partial.exists():
            import shutil

            shutil.rmtree(partial)
        write_speech_files(WorldSpeech(world, "train", int(section.get("utterances", 1024)), bank), partial)
        bank.save()
        partial.rename(clips)
    return clips


def _codec(section: dict[str, Any], world: Any, bank: Any, folder: Path, base: Path) -> tuple[Any, dict[str, Any]]:
    from examples.world.stages import tokenizer_stage
    from omnitok.config import check_config

    def prepare(recipe: dict[str, Any]) -> None:
        check_config(recipe.get("model"), key="model")
        check_config(recipe.get("data"), key="data")
        set_by_path(recipe, "data.init_args.root", str(training_clips(section, world, folder.parent, bank)))

    codec, _, info = tokenizer_stage(section["tokenizer"], folder / "codec", base, "speech codec", prepare)
    return codec, info


def _judge(section: dict[str, Any], world: Any, bank: Any, folder: Path, seed: int) -> tuple[Any, dict[str, Any]]:
    from examples.world.speech import SpeechJudge, train_speech_judge
    from examples.world.stages import judge_stage

    arguments = dict(section.get("judge") or {})

    def trained() -> tuple[Any, dict[str, Any]]:
        result = train_speech_judge(world, bank, seed=seed, **arguments)
        info = {
            "heldout_accuracy": result.heldout_accuracy,
            "train_utterances": result.train_utterances,
            "heldout_utterances": result.heldout_utterances,
            "steps": result.steps,
            "seconds": result.seconds,
        }
        return result.judge, info

    empty = lambda: SpeechJudge(int(arguments.get("width", 32)), bank.sample_rate)
    return judge_stage(folder / "judge.safetensors", empty, trained, "speech judge")
