"""The audio quickstart recipe from start to finish (slow: 6-10 minutes on one CPU core shared with other jobs).

Measured (2000 steps, 8 held-out espeak clips): SI-SDR -4.48 / -2.51 / -1.95 / -1.74 dB at 1..4 levels (untrained
-48.8, 8-bit resampling at 1.6 kbps -23.2), mel distance 0.996 / 0.968 / 0.971 / 0.970 (untrained 2.46).
"""

from __future__ import annotations

import pytest
import torch

import omnitok
from omnitok.config import instantiate, load_yaml_config
from omnitok.data import generate_speech, normalize_loudness, read_audio
from omnitok.metrics.audio_ladder import bitrate_ladder
from omnitok.trainers.run import train
from tests.trainers.audio_recipes import CONFIGS


@pytest.mark.slow
def test_full_audio_quickstart_beats_untrained_and_resampling(tmp_path):
    config = load_yaml_config(CONFIGS / "quickstart_rvq.yaml")
    config["trainer"]["progress_bar"] = False
    config["data"]["init_args"]["generated_folder"] = str(tmp_path / "clips")
    result = train(config, tmp_path / "run")
    assert result.step == config["trainer"]["max_steps"] and not result.skipped_files
    paths, _ = generate_speech(tmp_path / "heldout", 8, 16_000, seed=1234)  # other sentences, voices, speeds
    clips = [normalize_loudness(read_audio(p, 16_000, 1)) for p in paths]
    trained = bitrate_ladder(omnitok.load_tokenizer(result.tokenizer), clips)
    torch.manual_seed(0)
    untrained = instantiate(config["model"]["init_args"]["tokenizer"]).eval()
    start = bitrate_ladder(untrained, clips, levels=[4])[0]
    top = trained[-1]
    assert top["mel_distance"] < 0.8 * start["mel_distance"] and top["stft_distance"] < 0.8 * start["stft_distance"]
    assert top["mel_distance"] < top["baseline_mel_distance"] and top["stft_distance"] < top["baseline_stft_distance"]
    assert [r["levels"] for r in trained] == [1, 2, 3, 4]
    assert top["si_sdr"] > -8.0 and top["si_sdr"] > top["baseline_si_sdr"] + 10  # the waveform, not only the spectrum
    assert top["si_sdr"] > trained[0]["si_sdr"] + 1.0  # the ladder: more levels, a better waveform
