"""``--batch-size`` on encode and decode (files of one shape per forward pass; the same bytes as one at a time) and
the progress report of encode, decode and eval (plain lines without a terminal, tqdm on one; eval's lines are
checked in tests/cli/test_consistency.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from torchvision.io import decode_image, write_png

from omnitok.cli.main import main
from omnitok.data import harmonic_chirp
from omnitok.progress import Progress
from tests.cli.test_image_commands import tokenizer_folder  # noqa: F401  (a fixture)
from tests.nn.audio_models import QUANTIZERS, tiny_codec


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _token_files(root: Path) -> dict[str, tuple[dict, str, tuple, bytes]]:
    """Each token file as (metadata, dtype, shape, tensor bytes): its whole content. (The files' bytes are compared
    this way because safetensors writes the metadata keys in hash-map order, which differs from write to write.)"""
    from safetensors import safe_open

    out = {}
    for path in sorted(root.rglob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            (key,) = f.keys()
            tensor = f.get_tensor(key)
            out[str(path.relative_to(root))] = (
                f.metadata(),
                str(tensor.dtype),
                tuple(tensor.shape),
                tensor.numpy().tobytes(),
            )
    return out


def _images(root: Path) -> None:
    """Seven PNGs of two sizes in two folders: in listing order (s0: 0 2 4 6, s1: 1 3 5) 32 32 32 48 | 48 48 32."""
    sizes = [(32, 32), (48, 64), (32, 32), (48, 64), (32, 32), (32, 32), (48, 64)]
    for i, (h, w) in enumerate(sizes):
        (root / f"s{i % 2}").mkdir(parents=True, exist_ok=True)
        write_png((torch.rand(3, h, w) * 255).to(torch.uint8), str(root / f"s{i % 2}" / f"{i}.png"))


def test_image_files_are_byte_identical_across_batch_sizes(tokenizer_folder, tmp_path, monkeypatch):  # noqa: F811
    from omnitok.modalities import base

    _images(tmp_path / "in")
    calls: list[int] = []
    stack = base.Modality.encode_inputs

    def counted(self, inputs, *args):
        calls.append(len(inputs))
        return stack(self, inputs, *args)

    monkeypatch.setattr(base.Modality, "encode_inputs", counted)
    common = ["--tokenizer", str(tokenizer_folder), "--device", "cpu"]
    tokens, decoded = {}, {}
    for size in (1, 3):
        out = tmp_path / f"tokens{size}"
        assert main(["encode", str(tmp_path / "in"), *common, "--out", str(out), "--batch-size", str(size)]) == 0
        tokens[size] = _token_files(out)
        back = tmp_path / f"decoded{size}"
        assert main(["decode", str(out), *common, "--out", str(back), "--batch-size", str(size)]) == 0
        decoded[size] = {name: decode_image(str(back / name)).int() for name in _files(back)}
    assert len(tokens[1]) == 7 and tokens[3] == tokens[1]  # the same tokens, spec, media record and fingerprint
    assert decoded[3].keys() == decoded[1].keys() and len(decoded[1]) == 7
    # decoding a batch runs the same convolutions with another blocking, so a pixel on a rounding boundary may land
    # one level off: at most 1 of 255, on few pixels
    differences = [(decoded[3][name] - decoded[1][name]).abs() for name in decoded[1]]
    assert max(int(d.max()) for d in differences) <= 1
    assert sum(int((d > 0).sum()) for d in differences) / sum(d.numel() for d in differences) < 0.01
    # batch size 1 never stacks; 3 takes runs of one shape in listing order, across folders
    assert calls == [3, 3, 1]


def test_audio_token_files_are_byte_identical_across_batch_sizes(tmp_path):
    torch.manual_seed(0)
    codec = tiny_codec(QUANTIZERS["rvq_dropout"](), lstm_layers=1).eval().save_pretrained(tmp_path / "codec")
    (tmp_path / "in").mkdir()
    for i, seconds in enumerate((0.25, 0.25, 0.25, 0.3)):
        wave = harmonic_chirp(seconds, 16_000, seed=i)[0].numpy()
        soundfile.write(str(tmp_path / "in" / f"{i}.wav"), wave, 16_000)
    stereo = np.stack([harmonic_chirp(0.25, 22_050, seed=9)[0].numpy()] * 2, 1)
    soundfile.write(str(tmp_path / "in" / "5.flac"), stereo, 22_050)  # resampled and mixed down, then batched
    common = ["--tokenizer", str(codec), "--device", "cpu"]
    found = {}
    for size in (1, 4):
        out = tmp_path / f"t{size}"
        assert main(["encode", str(tmp_path / "in"), *common, "--out", str(out), "--batch-size", str(size)]) == 0
        found[size] = _token_files(out)
    assert len(found[1]) == 5 and found[4] == found[1]


def test_a_bad_file_in_a_batch_fails_alone(tokenizer_folder, tmp_path, capsys):  # noqa: F811
    _images(tmp_path / "in")
    (tmp_path / "in" / "s0" / "2.png").write_bytes(b"not a png")
    argv = ["encode", str(tmp_path / "in"), "--tokenizer", str(tokenizer_folder), "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "t"), "--batch-size", "4"]) == 1
    captured = capsys.readouterr()
    assert "encoded 6 file(s)" in captured.out and "2.png: cannot decode" in captured.err
    assert len(_files(tmp_path / "t")) == 6


def test_progress_prints_plain_lines_in_logs(tokenizer_folder, tmp_path, capsys, monkeypatch):  # noqa: F811
    _images(tmp_path / "in")
    monkeypatch.setenv("OMNITOK_PROGRESS_SECONDS", "0")
    argv = ["encode", str(tmp_path / "in"), "--tokenizer", str(tokenizer_folder), "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "t"), "--batch-size", "2"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("encode: ")]
    assert [line.split(" (")[0] for line in lines] == [f"encode: {n}/7 files" for n in (2, 3, 5, 6, 7)]
    assert "\r" not in err and "\x1b" not in err  # nothing a log file would show as garbage


def test_progress_is_quiet_for_short_work_and_a_bar_on_a_terminal():
    plain = io.StringIO()
    with Progress(3, "decode", "file", stream=plain) as progress:  # default interval: 10 s
        progress.update(3)
    assert plain.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with Progress(4, "eval vq", "sample", stream=terminal, interval=0) as progress:
        progress.update(2)
        assert type(progress._bar).__name__ == "tqdm"
        progress.update(2)
    assert "eval vq" in terminal.getvalue() and "\r" in terminal.getvalue()


@pytest.mark.parametrize("command", ["encode", "decode", "eval"])
def test_batch_size_is_documented(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--batch-size" in capsys.readouterr().out
