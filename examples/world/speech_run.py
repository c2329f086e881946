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

from omnitok.config import load_yaml_config, set_by_path
from omnitok.errors import ConfigError

SPEECH_KEYS = {"tokenizer", "utterances", "judge"}


@dataclasses.dataclass
class SpeechParts:
    """The bank of utterances, the (frozen) codec, the judge, and what the report says of each."""

    bank: Any
    codec: Any
    judge: Any
    info: dict[str, Any]


def check_speech_section(section: Any) -> None:
    if not isinstance(section, dict):
        raise ConfigError("speech must be a mapping with 'tokenizer', 'utterances' and 'judge'")
    unknown = sorted(set(section) - SPEECH_KEYS)
    if unknown:
        raise ConfigError(f"unknown speech key(s) {unknown}; known: {sorted(SPEECH_KEYS)}")
    tokenizer = section.get("tokenizer") or {}
    if not isinstance(tokenizer, dict) or bool(tokenizer.get("recipe")) == bool(tokenizer.get("pretrained")):
        raise ConfigError("speech.tokenizer needs exactly one of 'recipe' (train it) or 'pretrained' (load it)")
    if set(tokenizer) - {"recipe", "pretrained", "overrides"}:
        raise ConfigError(
            f"unknown speech.tokenizer key(s) {sorted(set(tokenizer) - {'recipe', 'pretrained', 'overrides'})}"
        )


def speech_parts(section: dict[str, Any], world: Any, out: Path, base: Path, seed: int) -> SpeechParts:
    """Synthesise (or reuse) the utterances, then train (or reuse / load) the codec and the judge."""
    from examples.world.speech import SpeechBank

    folder = out / "speech"
    folder.mkdir(parents=True, exist_ok=True)
    bank = SpeechBank(cache=folder / "bank.safetensors")
    codec, codec_info = _codec(section, world, bank, folder, base)
    judge, judge_info = _judge(section, world, bank, folder, seed)
    bank.save()
    return SpeechParts(bank, codec, judge, {"codec": codec_info, "judge": judge_info})


def _codec(section: dict[str, Any], world: Any, bank: Any, folder: Path, base: Path) -> tuple[Any, dict[str, Any]]:
    from examples.world.run import _dotted
    from examples.world.speech import WorldSpeech, write_speech_files
    from omnitok.hub import load_tokenizer

    entry = section["tokenizer"]
    if entry.get("pretrained"):
        return load_tokenizer(str(entry["pretrained"])).eval(), {"pretrained": str(entry["pretrained"])}
    exported = folder / "codec" / "tokenizer"
    if exported.is_dir():
        print(f"reusing the speech codec in {exported}")
        return load_tokenizer(exported).eval(), {"reused": str(exported)}
    from omnitok.config import check_config
    from omnitok.trainers.run import train

    clips = folder / "train"
    if not clips.is_dir():
        utterances = int(section.get("utterances", 1024))
        write_speech_files(WorldSpeech(world, "train", utterances, bank), clips)
    recipe = load_yaml_config(base / entry["recipe"])
    for key, value in _dotted(entry.get("overrides") or {}):
        set_by_path(recipe, key, value)
    check_config(recipe.get("model"), key="model")
    check_config(recipe.get("data"), key="data")
    set_by_path(recipe, "data.init_args.root", str(clips))
    result = train(recipe, folder / "codec")
    if result.tokenizer is None:
        raise ConfigError("the speech codec run exported no tokenizer")
    return load_tokenizer(result.tokenizer).eval(), {"steps": result.step, "recipe": str(entry["recipe"])}


def _judge(section: dict[str, Any], world: Any, bank: Any, folder: Path, seed: int) -> tuple[Any, dict[str, Any]]:
    from safetensors.torch import load_file, save_file

    from examples.world.speech import SpeechJudge, train_speech_judge
    from omnitok.utils import atomic_path

    arguments = dict(section.get("judge") or {})
    path = folder / "judge.safetensors"
    if path.is_file():
        judge = SpeechJudge(int(arguments.get("width", 32)), bank.sample_rate)
        judge.load_state_dict(load_file(path))
        print(f"reusing the speech judge in {path}")
        return judge.eval(), {"reused": str(path)}
    result = train_speech_judge(world, bank, seed=seed, **arguments)
    with atomic_path(path) as tmp:
        save_file(result.judge.state_dict(), str(tmp))
    info = {
        "heldout_accuracy": result.heldout_accuracy,
        "train_utterances": result.train_utterances,
        "heldout_utterances": result.heldout_utterances,
        "steps": result.steps,
        "seconds": result.seconds,
    }
    return result.judge, info
