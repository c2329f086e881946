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
    assert (
        main(["decode", str(tmp_path / "tok"), "--tokenizer", str(codec_folder), "--out", str(tmp_path / "dec")]) == 0
    )
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
    code = main(
        [
            "encode",
            str(tmp_path / "in"),
            "--tokenizer",
            str(folder),
            "--out",
            str(tmp_path / "t"),
            "--chunk-seconds",
            "1",
        ]
    )
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


def test_token_files_record_the_input_length_and_decoding_trims_to_it(codec_folder, tmp_path):
    from omnitok import ShapeError
    from omnitok.modalities.audio_files import trim_to_input, write_decoded_audio
    from omnitok.tokens import read_token_file

    _write(tmp_path / "in")
    assert main(["encode", str(tmp_path / "in"), "--tokenizer", str(codec_folder), "--out", str(tmp_path / "tok")]) == 0
    streamed = tmp_path / "streamed"
    assert (
        main(
            [
                "encode",
                str(tmp_path / "in" / "a.wav"),
                "--tokenizer",
                str(codec_folder),
                "--out",
                str(streamed),
                "--chunk-seconds",
                "0.07",
            ]
        )
        == 0
    )
    tokenizer = load_tokenizer(codec_folder)
    for name in ("a.wav", "sub/b.flac", "sub/c.ogg"):
        x = read_audio(tmp_path / "in" / name, 16_000, 1)
        file = read_token_file(tmp_path / "tok" / f"{name}.safetensors")
        assert file.media["samples"] == x.shape[-1] and file.spec == tokenizer.spec
    assert read_token_file(tmp_path / "tok" / "sub" / "b.flac.safetensors").media["source_sample_rate"] == 22_050
    assert read_token_file(streamed / "a.wav.safetensors").media["samples"] == 4800  # counted block by block
    soundfile.write(str(tmp_path / "odd.wav"), harmonic_chirp(0.2003, 16_000, seed=4)[0].numpy(), 16_000)
    assert main(["encode", str(tmp_path / "odd.wav"), "--tokenizer", str(codec_folder), "--out", str(tmp_path)]) == 0
    odd = read_token_file(tmp_path / "odd.wav.safetensors")
    decoded = tokenizer.decode(odd.tokens)
    assert odd.media["samples"] == 3204 and decoded.shape[-1] == 401 * 8  # whole frames, longer than the input
    write_decoded_audio(tmp_path / "odd_decoded.wav", decoded, tokenizer.spec, odd.media)
    assert soundfile.info(str(tmp_path / "odd_decoded.wav")).frames == 3204
    args = [str(tmp_path / "odd.wav.safetensors"), "--tokenizer", str(codec_folder), "--out", str(tmp_path / "dec")]
    assert main(["decode", *args]) == 0  # omnitok decode gives back the input's length
    assert soundfile.info(str(tmp_path / "dec" / "odd.wav")).frames == 3204
    assert torch.equal(trim_to_input(decoded, {}), decoded)  # older files: whole frames
    with pytest.raises(ShapeError, match="fewer than the 99999"):
        trim_to_input(decoded, {"samples": 99_999})


def test_token_file_media_record_errors(tmp_path):
    from omnitok import ConfigError, TokenizerSpec, WeightsError
    from omnitok.tokens import read_token_file, save_tokens

    spec = TokenizerSpec(
        modality="audio", discrete=True, codebook_sizes=(4,), downsample=(2,), channels=1, sample_rate=8000
    )
    with pytest.raises(ConfigError, match="not JSON-serializable"):
        save_tokens(tmp_path / "t.safetensors", torch.zeros(1, 3, dtype=torch.long), spec, media={"x": object()})
    save_tokens(tmp_path / "t.safetensors", torch.zeros(1, 3, dtype=torch.long), spec, media={"samples": 6})
    assert read_token_file(tmp_path / "t.safetensors").media == {"samples": 6}
    save_tokens(tmp_path / "plain.safetensors", torch.zeros(1, 3, dtype=torch.long), spec)
    assert read_token_file(tmp_path / "plain.safetensors").media == {}
    with pytest.raises(WeightsError, match="not found"):
        read_token_file(tmp_path / "missing.safetensors")
