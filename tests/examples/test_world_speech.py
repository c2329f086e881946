"""The world's spoken captions: espeak-ng utterances per voice variant, held-out variants for held-out scenes, the
utterance cache, files with caption sidecars, and the speech judge (its accuracy on held-out voices is slow)."""

from __future__ import annotations

import pytest
import soundfile
import torch

from examples.world.scenes import World
from examples.world.speech import (
    HELDOUT_VARIANTS,
    TRAIN_VARIANTS,
    SpeechBank,
    SpeechJudge,
    WorldSpeech,
    speak,
    train_speech_judge,
    write_speech_files,
)
from omnitok.data.speech import espeak_available
from omnitok.errors import ShapeError

pytestmark = pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng")


def test_voices_differ_and_held_out_variants_are_never_trained_on():
    assert not set(TRAIN_VARIANTS) & set(HELDOUT_VARIANTS)
    fast, slow = (speak("a red circle at the top left", TRAIN_VARIANTS[i]) for i in (0, 2))  # speeds 165 and 190
    assert fast.shape[0] == 1 and fast.abs().max() <= 1.0
    assert slow.shape[-1] < fast.shape[-1]  # faster speech is shorter
    assert torch.equal(fast, speak("a red circle at the top left", TRAIN_VARIANTS[0]))  # deterministic


def test_world_speech_uses_the_split_variants_and_the_cache(tmp_path):
    world = World(16)
    bank = SpeechBank(seconds=2.56, cache=tmp_path / "bank.safetensors")
    train, held = WorldSpeech(world, "train", 6, bank), WorldSpeech(world, "val", 4, bank)
    assert train.waves.shape == (6, 1, 40960) and held.waves.shape == (4, 1, 40960)
    assert set(train.voices) <= set(TRAIN_VARIANTS) and set(held.voices) <= set(HELDOUT_VARIANTS)
    assert train.captions == [world.scene("train", i).caption for i in range(6)]
    assert torch.equal(train.labels[0], world.scene("train", 0).labels())
    bank.save()
    again = WorldSpeech(world, "train", 6, SpeechBank(seconds=2.56, cache=tmp_path / "bank.safetensors"))
    assert torch.equal(again.waves, train.waves)
    folder = write_speech_files(train, tmp_path / "speech")
    audio, rate = soundfile.read(str(folder / "000002.wav"), dtype="float32")
    assert rate == 16_000 and torch.allclose(torch.from_numpy(audio), train.waves[2, 0], atol=1 / 32768)
    assert (folder / "000002.txt").read_text().strip() == train.captions[2]


def test_speech_judge_reads_waveforms_only():
    judge = SpeechJudge(width=8)
    logits = judge(torch.zeros(2, 1, 16000))
    assert {k: v.shape for k, v in logits.items()} == {"shape": (2, 3), "colour": (2, 4), "cell": (2, 4)}
    assert judge.read(torch.zeros(3, 1, 16000)).shape == (3, 3)
    with pytest.raises(ShapeError, match=r"\[B, 1, S\]"):
        judge(torch.zeros(2, 16000))


@pytest.mark.slow
def test_speech_judge_hears_held_out_voices_far_above_chance(tmp_path):
    result = train_speech_judge(World(16), SpeechBank(), train_utterances=1024, heldout_utterances=256, steps=400)
    assert result.heldout_accuracy["colour"] > 0.75 and result.heldout_accuracy["mean_attribute"] > 0.6  # chance .28


def test_speech_codec_recipe_codes_a_caption_in_32_frames_of_2_levels():
    from pathlib import Path

    from omnitok.config import instantiate, load_yaml_config

    recipe = load_yaml_config(Path(__file__).resolve().parents[2] / "examples" / "world" / "world_speech_tokenizer.yaml")
    tokenizer = instantiate(recipe["model"]["init_args"]["tokenizer"]).eval()
    assert tokenizer.spec.token_rate == 12.5 and tokenizer.spec.downsample == (1280,)
    codes = tokenizer.encode(torch.zeros(1, 1, round(2.56 * 16000)))
    assert codes.shape == (1, 32, 2)  # 64 tokens per caption
