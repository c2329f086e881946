"""``omnitok encode / decode / eval / inspect`` with an omni tokenizer folder: ``--modality`` picks the view."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from omnitok.cli.main import main
from omnitok.data import harmonic_chirp, read_audio
from omnitok.resolve import load_tokenizer
from omnitok.tokens import load_tokens
from tests.models.omni_models import tiny_omni


@pytest.fixture(scope="module")
def omni_folder(tmp_path_factory) -> Path:
    return tiny_omni(("image", "audio")).save_pretrained(tmp_path_factory.mktemp("omni") / "tokenizer")


def _media(root: Path) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / name)
    soundfile.write(str(root / "c.wav"), harmonic_chirp(0.01, 16_000, seed=1)[0].numpy(), 16_000)  # 160 samples


def test_encode_decode_per_modality(omni_folder, tmp_path, capsys):
    _media(tmp_path / "in")

    def run(command: str, source: Path, modality: str, out: str, *extra: str) -> int:
        args = [str(source), "--tokenizer", str(omni_folder), "--device", "cpu", "--modality", modality]
        return main([command, *args, "--out", str(tmp_path / out), *extra])

    assert run("encode", tmp_path / "in" / "c.wav", "audio", "tok") == 0
    assert run("encode", tmp_path / "in", "image", "tok", "--overwrite") == 0  # the .png files; .wav is no image
    audio = load_tokenizer(omni_folder, modality="audio")
    tokens, spec = load_tokens(tmp_path / "tok" / "c.wav.safetensors")
    x = read_audio(tmp_path / "in" / "c.wav", 16_000, 1).unsqueeze(0)
    assert spec == audio.spec and torch.equal(tokens, audio.encode(x)) and tokens.shape == (1, 20)
    image_tokens, image_spec = load_tokens(tmp_path / "tok" / "a.png.safetensors")
    assert image_spec.modality == "image" and image_tokens.shape == (1, 4, 4)
    assert int(image_tokens.max()) < 32 and int(tokens.max()) < 32  # one id space
    assert run("encode", tmp_path / "in" / "c.wav", "audio", "chunked", "--chunk-seconds", "0.004") == 0
    assert torch.equal(load_tokens(tmp_path / "chunked" / "c.wav.safetensors")[0], tokens)  # streams via the view
    assert run("decode", tmp_path / "tok" / "c.wav.safetensors", "audio", "dec") == 0
    expected = audio.decode(tokens)[0].clamp(-1, 1)
    assert (read_audio(tmp_path / "dec" / "c.wav") - expected).abs().max() <= 1 / 32767 + 1e-4
    assert run("decode", tmp_path / "tok" / "a.png.safetensors", "image", "dec") == 0
    assert Image.open(tmp_path / "dec" / "a.png").size == (16, 16)
    capsys.readouterr()
    assert run("decode", tmp_path / "tok" / "a.png.safetensors", "audio", "dec2") == 1  # its spec says image
    assert "written by a different tokenizer" in capsys.readouterr().err


@pytest.mark.parametrize(
    "modality, message",
    [
        (None, "holds several modalities (image, audio); choose one with --modality"),
        ("video", "has no 'video' modality; it holds image, audio"),
    ],
)
def test_missing_or_absent_modality_is_a_clear_error(omni_folder, tmp_path, capsys, modality, message):
    _media(tmp_path / "in")
    args = ["encode", str(tmp_path / "in"), "--tokenizer", str(omni_folder), "--out", str(tmp_path / "tok")]
    assert main([*args, *(["--modality", modality] if modality else [])]) == 2
    err = capsys.readouterr().err
    assert f"omnitok: error: {omni_folder} {message}" in err and "Traceback" not in err
    assert not (tmp_path / "tok").exists()


def test_inspect_prints_every_modality_or_the_chosen_one(omni_folder, capsys):
    assert main(["inspect", str(omni_folder)]) == 0
    specs = json.loads(capsys.readouterr().out)
    assert set(specs) == {"image", "audio"} and specs["audio"]["sample_rate"] == 16_000
    assert main(["inspect", str(omni_folder), "--modality", "image"]) == 0
    assert json.loads(capsys.readouterr().out)["modality"] == "image"


def test_eval_one_modality(omni_folder, tmp_path):
    _media(tmp_path / "in")
    out = tmp_path / "report"
    args = ["--tokenizer", str(omni_folder), "--modality", "image", "--data", str(tmp_path / "in"), "--size", "16"]
    assert main(["eval", *args, "--out", str(out), "--device", "cpu", "--show", "1", "--worst", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["modality"] == "image" and metrics["protocol"]["num_samples"] == 2
