"""The generic trainer on audio: tiny quickstart recipes with spectral losses, MPD + MS-STFT and feature matching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

import omnitok
from omnitok.data import harmonic_chirp
from omnitok.trainers.run import train
from tests.trainers.audio_recipes import tiny_audio_recipe


@pytest.mark.parametrize("name", ["quickstart_rvq", "quickstart_rfsq"])
def test_tiny_audio_run_trains_with_the_gan_and_exports(name, tmp_path):
    result = train(tiny_audio_recipe(name, tmp_path / "clips"), tmp_path / "run")
    assert result.step == 6 and not result.skipped_files
    log = (tmp_path / "run" / "logs" / "version_0" / "metrics.csv").read_text()
    for column in ("train/loss_mel", "train/loss_l1", "train/loss_generator", "train/loss_discriminator", "val/psnr"):
        assert column in log
    tokenizer = omnitok.load_tokenizer(result.tokenizer)
    spec = tokenizer.spec
    assert spec.modality == "audio" and spec.sample_rate == 16_000 and spec.downsample == (320,)
    x = harmonic_chirp(0.5, 16_000, seed=9).unsqueeze(0)
    tokens = tokenizer.encode(x)
    assert tokens.shape[:2] == (1, 25)
    assert tokenizer.decode(tokens).shape == (1, 1, 8000)
    assert torch.isfinite(tokenizer.decode(tokens[..., :1])).all()  # the lowest rung of the ladder decodes
    heldout = json.loads((tmp_path / "run" / "heldout.json").read_text())  # generated clips of their own seed
    assert heldout["samples"] == 4 and {"si_sdr_before", "si_sdr_after", "mel_distance_after"} <= heldout.keys()
    assert (tmp_path / "clips-heldout").is_dir() and "SI-SDR" in (tmp_path / "run" / "heldout.md").read_text()


def test_audio_folder_with_broken_files_is_counted(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for i in range(6):
        soundfile.write(str(folder / f"clip{i}.flac"), harmonic_chirp(0.6, 22_050, seed=i)[0].numpy(), 22_050)
    soundfile.write(str(folder / "silence.wav"), np.zeros(16_000, np.float32), 16_000)
    (folder / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 40)
    config = tiny_audio_recipe(
        "quickstart_rvq", tmp_path / "unused", data__root=str(folder), data__val_fraction=0.0, data__batch_size=8,
        model__adversarial__start_step=100,
    )
    result = train(config, tmp_path / "run")
    assert result.step == 6
    assert {s.split(":")[0].rsplit("/", 1)[-1] for s in result.skipped_files} == {"silence.wav", "broken.wav"}


def test_audio_run_resumes_exactly(tmp_path):
    """Random segments, k-means, dropout and the GAN all continue where they stopped (same losses, same weights)."""
    from safetensors.torch import load_file

    from tests.trainers.test_training import Crash, RecordLosses

    config = tiny_audio_recipe("quickstart_rvq", tmp_path / "clips")
    straight = RecordLosses()
    train(config, tmp_path / "straight", callbacks=[straight])
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "crashed", callbacks=[Crash(at=4)])
    resumed = RecordLosses()
    train(config, tmp_path / "crashed", resume=tmp_path / "crashed" / "checkpoints" / "last.ckpt", callbacks=[resumed])
    assert sorted(resumed.losses) == [4, 5, 6]
    assert all(resumed.losses[s] == straight.losses[s] for s in (4, 5, 6))
    a = load_file(tmp_path / "straight" / "tokenizer" / "model.safetensors")
    b = load_file(tmp_path / "crashed" / "tokenizer" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
