"""``omnitok data pack``: media folders into litdata optimized shards, checked by reading them back with litdata."""

from __future__ import annotations

import json
from pathlib import Path

import litdata
import torch
from torchvision.io import write_png

from omnitok.cli.main import main


def write_images(folder: Path, count: int = 6, size: tuple[int, int] = (40, 48)) -> list[Path]:
    """``count`` random PNGs, some in a subfolder."""
    paths = []
    for i in range(count):
        path = folder / ("sub" if i % 2 else "") / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png((torch.rand(3, *size) * 255).to(torch.uint8), str(path))
        paths.append(path)
    return paths


def stored(out: Path) -> dict[str, bytes]:
    """Every packed sample, ``key -> bytes``, read back with litdata; a key stored twice fails."""
    dataset = litdata.StreamingDataset(str(out))
    samples: dict[str, bytes] = {}
    for item in dataset:
        assert item["key"] not in samples, f"{item['key']} stored twice"
        samples[item["key"]] = bytes(item["data"])
    return samples


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


def test_packing_images_round_trips_bytes_and_lists_corrupt_files(tmp_path, capsys):
    src = tmp_path / "images"
    good = write_images(src)
    (src / "broken.png").write_bytes(good[0].read_bytes()[:60])  # a truncated PNG
    out = tmp_path / "packed"
    assert run(["data", "pack", str(src), str(out), "--workers", "2", "--chunk-bytes", "20000"]) == 0
    printed = capsys.readouterr().out
    assert stored(out) == {p.relative_to(src).as_posix(): p.read_bytes() for p in good}  # every readable file once
    manifest = json.loads((out / "pack.json").read_text())
    assert manifest["modality"] == "image" and manifest["samples"] == len(good)
    assert [s["path"] for s in manifest["skipped"]] == ["broken.png"] and manifest["skipped"][0]["error"]
    assert "broken.png" in printed and "skipped 1" in printed
    assert len(json.loads((out / "index.json").read_text())["chunks"]) > 1  # several chunks, as with real data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "packed"]  # no temporary folder left


def test_packing_audio_and_video_infers_the_modality(tmp_path):
    from omnitok.data import write_audio, write_moving_shapes

    audio = tmp_path / "audio"
    audio.mkdir()
    t = torch.arange(8000) / 8000
    for i in range(3):
        write_audio(audio / f"tone{i}.wav", 0.3 * torch.sin(2 * torch.pi * (200 + 50 * i) * t)[None], 8000)
    (audio / "noise.flac").write_bytes(b"fLaC not really")
    assert run(["data", "pack", str(audio), str(tmp_path / "packed-audio"), "--workers", "2"]) == 0
    assert stored(tmp_path / "packed-audio") == {
        f"tone{i}.wav": (audio / f"tone{i}.wav").read_bytes() for i in range(3)
    }
    manifest = json.loads((tmp_path / "packed-audio" / "pack.json").read_text())
    assert manifest["modality"] == "audio" and [s["path"] for s in manifest["skipped"]] == ["noise.flac"]

    clips = write_moving_shapes(tmp_path / "video", count=2, frames=5, size=16)
    assert run(["data", "pack", str(tmp_path / "video"), str(tmp_path / "packed-video"), "--workers", "1"]) == 0
    assert stored(tmp_path / "packed-video") == {c.name: c.read_bytes() for c in clips}
    assert json.loads((tmp_path / "packed-video" / "pack.json").read_text())["modality"] == "video"


def test_bad_input_is_refused_without_partial_output(tmp_path, capsys):
    src = tmp_path / "images"
    write_images(src, count=2)

    def refused(argv: list[str], named: str) -> None:
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        assert run(argv) == 2
        err = capsys.readouterr().err
        assert any(line.startswith("omnitok: error:") and named in line for line in err.splitlines()), err
        assert "Traceback" not in err
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written or removed

    refused(["data", "pack", str(tmp_path / "missing"), str(tmp_path / "out")], "missing")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    refused(["data", "pack", str(src), str(tmp_path / "out")], "not empty")
    (src / "clip.wav").write_bytes(b"RIFF")
    refused(["data", "pack", str(src), str(tmp_path / "out2")], "--modality")  # images and audio: which one?
    refused(["data", "pack", str(src), str(tmp_path / "out2"), "--modality", "nothing"], "nothing")
    refused(["data", "pack", str(tmp_path / "empty-does-not-exist"), str(tmp_path / "out2")], "not found")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("no media")
    refused(["data", "pack", str(tmp_path / "texts"), str(tmp_path / "out2")], "no media files")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"\x89PNG not really")
    refused(["data", "pack", str(broken), str(tmp_path / "out2")], "no readable image file")


def test_overwrite_replaces_an_earlier_pack(tmp_path):
    src = tmp_path / "images"
    first = write_images(src, count=2)
    out = tmp_path / "packed"
    assert run(["data", "pack", str(src), str(out), "--workers", "1"]) == 0
    more = write_images(tmp_path / "more", count=3)
    assert run(["data", "pack", str(tmp_path / "more"), str(out), "--workers", "1"]) == 2  # not without --overwrite
    assert set(stored(out)) == {p.relative_to(src).as_posix() for p in first}
    assert run(["data", "pack", str(tmp_path / "more"), str(out), "--workers", "1", "--overwrite"]) == 0
    assert set(stored(out)) == {p.relative_to(tmp_path / "more").as_posix() for p in more}
