"""``omnitok encode`` / ``omnitok decode`` on audio files: layout, resampling, chunked encoding, written files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from omnitok.cli.main import main
from omnitok.data import harmonic_chirp, read_audio
from omnitok.hub import load_tokenizer
from omnitok.tokens import load_tokens
from tests.nn.audio_models import QUANTIZERS, tiny_codec


@pytest.fixture(scope="module")
def codec_folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = tiny_codec(QUANTIZERS["rvq_dropout"](), lstm_layers=1).eval()
    return model.save_pretrained(tmp_path_factory.mktemp("codec") / "tokenizer")


def _write(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    soundfile.write(str(root / "a.wav"), harmonic_chirp(0.3, 16_000, seed=1)[0].numpy(), 16_000)
    stereo = np.stack([harmonic_chirp(0.25, 22_050, seed=2)[0].numpy()] * 2, 1)
    soundfile.write(str(root / "sub" / "b.flac"), stereo, 22_050)  # resampled and mixed down
    soundfile.write(str(root / "sub" / "c.ogg"), harmonic_chirp(0.2, 16_000, seed=3)[0].numpy(), 16_000)


def test_audio_encode_decode_round_trip(codec_folder, tmp_path, capsys):
    _write(tmp_path / "in")
    assert main(["encode", str(tmp_path / "in"), "--tokenizer", str(codec_folder), "--out", str(tmp_path / "tok")]) == 0
    tokenizer = load_tokenizer(codec_folder)
    for name in ("a.wav", "sub/b.flac", "sub/c.ogg"):
        tokens, spec = load_tokens(tmp_path / "tok" / f"{name}.safetensors")
        x = read_audio(tmp_path / "in" / name, 16_000, 1).unsqueeze(0)
        assert spec == tokenizer.spec and torch.equal(tokens, tokenizer.encode(x))
        assert tokens.shape == (1, -(-x.shape[-1] // 8), 4)
    assert main(["decode", str(tmp_path / "tok"), "--tokenizer", str(codec_folder), "--out", str(tmp_path / "dec")]) == 0
    for name, written in (("a.wav", "a.wav"), ("sub/b.flac", "sub/b.flac"), ("sub/c.ogg", "sub/c.ogg.wav")):
        info = soundfile.info(str(tmp_path / "dec" / written))
        tokens, _ = load_tokens(tmp_path / "tok" / f"{name}.safetensors")
        expected = tokenizer.decode(tokens)[0].clamp(-1, 1)
        assert info.samplerate == 16_000 and info.channels == 1 and info.frames == expected.shape[-1]
        assert (read_audio(tmp_path / "dec" / written) - expected).abs().max() <= 1 / 32767 + 1e-4  # 16-bit rounding
    out = capsys.readouterr().out
    assert "encoded 3 file(s)" in out and "decoded 3 file(s)" in out
    assert not list((tmp_path / "dec").rglob(".*tmp*"))  # atomic writes leave no temporary files


def test_chunked_encode_gives_the_same_tokens(codec_folder, tmp_path):
    _write(tmp_path / "in")
    args = ["encode", str(tmp_path / "in" / "a.wav"), "--tokenizer", str(codec_folder)]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    assert main([*args, "--out", str(tmp_path / "chunked"), "--chunk-seconds", "0.01"]) == 0
    whole, _ = load_tokens(tmp_path / "whole" / "a.wav.safetensors")
    chunked, _ = load_tokens(tmp_path / "chunked" / "a.wav.safetensors")
    assert torch.equal(whole, chunked)


def test_non_causal_codec_refuses_chunks_and_bad_files_are_reported(tmp_path, capsys):
    folder = tiny_codec(causal=False).eval().save_pretrained(tmp_path / "noncausal")
    _write(tmp_path / "in")
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 30)
    code = main(["encode", str(tmp_path / "in"), "--tokenizer", str(folder), "--out", str(tmp_path / "t"), "--chunk-seconds", "1"])
    assert code != 0 and "needs a causal" in capsys.readouterr().err
    assert main(["encode", str(tmp_path / "in"), "--tokenizer", str(folder), "--out", str(tmp_path / "t2")]) == 1
    assert "broken.wav" in capsys.readouterr().out


def test_long_file_streams_off_the_disk_with_the_offline_tokens(codec_folder, tmp_path):
    from omnitok.data.audio import stream_audio

    long = torch.cat([harmonic_chirp(0.5, 16_000, seed=s) for s in range(6)], dim=-1)  # 3 s at the codec's rate
    soundfile.write(str(tmp_path / "long.wav"), long[0].numpy(), 16_000)
    blocks = list(stream_audio(tmp_path / "long.wav", 4001))
    assert [b.shape[-1] for b in blocks][:2] == [4001, 4001] and torch.allclose(torch.cat(blocks, -1), long, atol=1e-4)
    args = ["encode", str(tmp_path / "long.wav"), "--tokenizer", str(codec_folder)]
    assert main([*args, "--out", str(tmp_path / "streamed"), "--chunk-seconds", "0.25"]) == 0
    streamed, _ = load_tokens(tmp_path / "streamed" / "long.wav.safetensors")
    x = read_audio(tmp_path / "long.wav").unsqueeze(0)
    assert torch.equal(streamed, load_tokenizer(codec_folder).encode(x))
