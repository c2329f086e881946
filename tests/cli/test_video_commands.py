"""``omnitok encode`` / ``decode`` on video files: generated mp4 round trips, grid padding and the media record,
--frames / --fps / --size / --chunk-frames, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from omnitok.cli.main import main
from omnitok.data import read_video, video_info, write_moving_shapes, write_test_sources, write_video
from omnitok.hub import load_tokenizer
from omnitok.tokens import read_token_file
from tests.nn.video_models import tiny_causal_video_tokenizer


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory) -> Path:
    """A random-init causal FSQ video tokenizer, f2x2x2 (encode/decode do not care about training)."""
    torch.manual_seed(0)
    return tiny_causal_video_tokenizer().save_pretrained(tmp_path_factory.mktemp("tok") / "tokenizer")


def encode(*args: str) -> int:
    return main(["encode", *args])


def test_round_trip_keeps_layout_records_the_clip_and_matches_the_library(tokenizer_folder, tmp_path):
    videos = tmp_path / "videos"
    write_moving_shapes(videos, count=1, frames=6, size=32, fps=8)  # 6 frames: padded to 7 = 1 + 3 * 2
    write_moving_shapes(videos / "sub", count=1, frames=5, size=32, fps=8, seed=1)  # 5 = 1 + 2 * 2: no padding
    tok, out = tmp_path / "tok", tmp_path / "out"
    assert encode(str(videos), "--tokenizer", str(tokenizer_folder), "--out", str(tok)) == 0
    tokenizer = load_tokenizer(tokenizer_folder)
    for name, frames in (("shapes_0000.mp4", 6), ("sub/shapes_0000.mp4", 5)):
        file = read_token_file(tok / f"{name}.safetensors")
        assert file.media == {"frames": frames, "height": 32, "width": 32, "fps": 8.0}
        clip = read_video(videos / name).float() / 127.5 - 1  # what decord decodes, in [-1, 1]
        grid_frames = 1 + -(-(frames - 1) // 2) * 2  # 1 + ceil((T - 1) / 2) * 2
        padded = torch.cat([clip, clip[:, -1:].expand(-1, grid_frames - frames, -1, -1)], dim=1)  # last frame repeated
        assert torch.equal(file.tokens, tokenizer.encode(padded.unsqueeze(0)))
        assert file.tokens.shape == (1, (grid_frames + 1) // 2, 16, 16)

    assert main(["decode", str(tok), "--tokenizer", str(tokenizer_folder), "--out", str(out)]) == 0
    for name, frames in (("shapes_0000.mp4", 6), ("sub/shapes_0000.mp4", 5)):
        info = video_info(out / name)
        assert (info.frames, info.height, info.width, info.fps) == (frames, 32, 32, 8.0)
        tokens = read_token_file(tok / f"{name}.safetensors").tokens
        expected = (tokenizer.decode(tokens)[0, :, :frames].clamp(-1, 1) + 1) * 127.5
        written = read_video(out / name).float()
        # H.264 (4:2:0) of the decoded frames; random weights give noisy pictures, so compare frame means and the
        # correlation of the pixels rather than exact values
        assert (written.mean(dim=(0, 2, 3)) - expected.mean(dim=(0, 2, 3))).abs().max() < 3
        assert torch.corrcoef(torch.stack([written.flatten(), expected.flatten()]))[0, 1] > 0.8
    assert not list(out.rglob(".*.tmp"))


def test_frames_fps_size_and_chunks(tokenizer_folder, tmp_path):
    videos = tmp_path / "videos"
    write_test_sources(videos, frames=12, width=48, height=40, fps=8, sources=("testsrc2",))
    tok = tmp_path / "tok"
    source = str(videos / "testsrc2.mp4")
    assert encode(source, "--tokenizer", str(tokenizer_folder), "--out", str(tok), "--fps", "4", "--size", "32") == 0
    file = read_token_file(tok / "testsrc2.mp4.safetensors")
    assert file.media == {"frames": 6, "height": 32, "width": 32, "fps": 4.0}  # every 2nd of 12 frames

    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert encode(source, "--tokenizer", str(tokenizer_folder), "--out", str(whole), "--frames", "9") == 0
    assert (
        encode(
            source, "--tokenizer", str(tokenizer_folder), "--out", str(chunked), "--frames", "9", "--chunk-frames", "3"
        )
        == 0
    )
    a, b = (read_token_file(d / "testsrc2.mp4.safetensors") for d in (whole, chunked))
    assert a.media == {"frames": 9, "height": 40, "width": 48, "fps": 8.0}
    assert torch.equal(a.tokens, b.tokens) and a.tokens.shape == (1, 5, 20, 24)

    plain, streamed = tmp_path / "plain", tmp_path / "streamed"
    assert main(["decode", str(whole), "--tokenizer", str(tokenizer_folder), "--out", str(plain)]) == 0
    assert (
        main(
            ["decode", str(whole), "--tokenizer", str(tokenizer_folder), "--out", str(streamed), "--chunk-frames", "4"]
        )
        == 0
    )
    x, y = (read_video(d / "testsrc2.mp4") for d in (plain, streamed))
    assert x.shape == (3, 9, 40, 48) and (x.float() - y.float()).abs().max() <= 2  # same frames, up to the codec


def test_non_multiple_sizes_are_padded_and_cropped_back(tokenizer_folder, tmp_path):
    clip = F.interpolate(torch.rand(1, 3, 4, 9, 11), size=(4, 18, 22)).squeeze(0)  # smooth, even sides 18 x 22
    clip = (clip * 255).to(torch.uint8)[..., :17, :21]  # odd sides: not multiples of 2
    write_video(tmp_path / "in" / "odd.mkv", clip, fps=5, pix_fmt="yuv444p")
    assert encode(str(tmp_path / "in"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "tok")) == 0
    file = read_token_file(tmp_path / "tok" / "odd.mkv.safetensors")
    assert file.media == {"frames": 4, "height": 17, "width": 21, "fps": 5.0}
    assert file.tokens.shape == (1, 3, 9, 11)  # padded to 5 x 18 x 22
    assert (
        main(["decode", str(tmp_path / "tok"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "out")])
        == 0
    )
    info = video_info(tmp_path / "out" / "odd.mkv.mp4")
    assert (info.frames, info.height, info.width, info.fps) == (4, 17, 21, 5.0)


def test_clear_errors(tokenizer_folder, tmp_path, capsys):
    videos = tmp_path / "videos"
    write_moving_shapes(videos, count=1, frames=5, size=32)
    (videos / "broken.mp4").write_bytes(b"\x00" * 200)
    tok = tmp_path / "tok"
    assert encode(str(videos), "--tokenizer", str(tokenizer_folder), "--out", str(tok)) == 1  # the good one is encoded
    report = capsys.readouterr().out
    assert "encoded 1 file(s)" in report and "broken.mp4: cannot decode video" in report
    assert encode(str(videos / "shapes_0000.mp4"), "--tokenizer", str(tokenizer_folder), "--out", str(tok)) == 2
    assert "already exist" in capsys.readouterr().err
    assert encode(str(tmp_path / "missing.mp4"), "--tokenizer", str(tokenizer_folder), "--out", str(tok)) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        encode(str(videos), "--tokenizer", str(tokenizer_folder), "--out", str(tok), "--fps", "0")
    (tok / "junk.safetensors").write_bytes(b"not safetensors")
    assert main(["decode", str(tok), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "out")]) == 1
    assert "junk.safetensors" in capsys.readouterr().out
