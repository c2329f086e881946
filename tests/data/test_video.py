"""Video files: PyAV writes, decord reads; clip sampling, short videos, corrupt files, generated clips."""

import itertools
from pathlib import Path

import pytest
import torch

from omnitok.data import (
    MovingShapes,
    VideoFolderDataset,
    clip_indices,
    collate_videos,
    list_video_files,
    moving_shapes_clip,
    read_video,
    resize_and_crop_video,
    video_info,
    write_test_sources,
    write_video,
)
from omnitok.errors import ConfigError, DataError, ShapeError


def counting_video(frames: int, height: int = 16, width: int = 32) -> torch.Tensor:
    """uint8 [3, T, H, W] whose frame k is flat gray 8k + 20: the decoded value says which frame was read."""
    values = (torch.arange(frames) * 8 + 20).to(torch.uint8)
    return values.view(1, frames, 1, 1).expand(3, frames, height, width).contiguous()


def frame_numbers(video: torch.Tensor) -> list[int]:
    """Inverse of counting_video (rounded), from the mean of each frame."""
    return [round((float(v) - 20) / 8) for v in video.float().mean(dim=(0, 2, 3))]


@pytest.fixture(scope="module")
def counting_file(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "count.mp4", counting_video(24), fps=24)


def test_decord_reads_what_pyav_wrote(tmp_path):
    clip = moving_shapes_clip(3, frames=12, size=64)
    path = write_video(tmp_path / "shapes.mp4", clip, fps=12, crf=10, pix_fmt="yuv444p")
    info = video_info(path)
    assert (info.frames, info.fps, info.height, info.width) == (12, 12.0, 64, 64)
    video = read_video(path)
    assert video.shape == (3, 12, 64, 64) and video.dtype == torch.uint8
    error = (video.float() - clip.float()).abs()
    assert error.mean() < 2.0, error.mean()
    # the default yuv420p halves chroma resolution: close, less exact at coloured edges
    video = read_video(write_video(tmp_path / "shapes420.mp4", clip, fps=12, crf=10))
    assert (video.float() - clip.float()).abs().mean() < 6.0
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_float_frames_and_written_values(tmp_path):
    video = counting_video(5, 8, 8).float() / 127.5 - 1.0  # 8 px wide: decord 0.6 fails, the PyAV fallback reads it
    path = write_video(tmp_path / "f.mkv", video, fps=5, value_range=(-1.0, 1.0))
    assert frame_numbers(read_video(path)) == [0, 1, 2, 3, 4]
    webm = write_video(tmp_path / "f.webm", counting_video(5), fps=5)  # VP9: H.264 does not go in webm
    assert frame_numbers(read_video(webm)) == [0, 1, 2, 3, 4] and video_info(webm).fps == 5.0


def test_clip_indices_by_hand():
    assert clip_indices(10, 4, stride=3) == [0, 3, 6, 9]
    assert clip_indices(20, 4, stride=3, position="center") == [5, 8, 11, 14]  # last start 10, centre 5
    assert clip_indices(30, 4, fps=10, source_fps=30) == [0, 3, 6, 9]
    assert clip_indices(30, 3, fps=12, source_fps=30) == [0, 2, 5]  # step 2.5, rounded half to even
    assert clip_indices(5, 4, fps=20, source_fps=10) == [0, 0, 1, 2]  # upsampling repeats frames
    starts = {
        clip_indices(10, 4, stride=2, position="random", generator=torch.Generator().manual_seed(s))[0]
        for s in range(50)
    }
    assert starts == {0, 1, 2, 3}  # span 7 in 10 frames: starts 0..3, all reached
    with pytest.raises(ConfigError, match="Generator"):
        clip_indices(10, 4, position="random")
    with pytest.raises(ConfigError, match="source_fps"):
        clip_indices(10, 4, fps=10)


def test_short_video_policies():
    assert clip_indices(3, 5) == [0, 1, 2, 2, 2]  # repeat_last is the default
    assert clip_indices(3, 5, short="loop") == [0, 1, 2, 0, 1]
    assert clip_indices(4, 3, stride=2, short="loop") == [0, 2, 0]
    with pytest.raises(DataError, match="fewer than the clip"):
        clip_indices(3, 5, short="skip")


def test_read_clips_at_stride_and_fps(counting_file):
    assert frame_numbers(read_video(counting_file)) == list(range(24))
    assert frame_numbers(read_video(counting_file, 4, stride=2)) == [0, 2, 4, 6]
    assert frame_numbers(read_video(counting_file, 4, fps=8)) == [0, 3, 6, 9]  # 24 fps file at 8 fps
    assert frame_numbers(read_video(counting_file, fps=6)) == [0, 4, 8, 12, 16, 20]  # whole file at 6 fps
    clip = read_video(counting_file, 5, stride=3, position="random", generator=torch.Generator().manual_seed(1))
    numbers = frame_numbers(clip)
    assert [b - a for a, b in itertools.pairwise(numbers)] == [3, 3, 3, 3] and 0 <= numbers[0] <= 11


def test_short_files_in_the_dataset(tmp_path):
    path = write_video(tmp_path / "short.mp4", counting_video(3), fps=8)
    for short, expected in (("loop", [0, 1, 2, 0, 1]), ("repeat_last", [0, 1, 2, 2, 2])):
        sample = VideoFolderDataset([path], frames=5, size=16, crop="center", short=short)[0]
        assert sample["video"].shape == (3, 5, 16, 16)
        assert frame_numbers((sample["video"] + 1) * 127.5) == expected
    sample = VideoFolderDataset([path], frames=5, size=16, short="skip")[0]
    assert sample["video"] is None and "fewer than the clip" in sample["error"]


def test_corrupt_files_are_skipped_and_counted(tmp_path, counting_file):
    good = tmp_path / "good.mp4"
    good.write_bytes(counting_file.read_bytes())
    (tmp_path / "garbage.mp4").write_bytes(b"not a video" * 100)
    (tmp_path / "empty.mp4").write_bytes(b"")
    data = counting_file.read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 3])
    files = list_video_files(tmp_path)
    assert [f.name for f in files] == ["empty.mp4", "garbage.mp4", "good.mp4", "truncated.mp4"]
    dataset = VideoFolderDataset(files, frames=4, size=16, seed=0)
    batch = collate_videos([dataset[i] for i in range(len(dataset))])
    assert batch["video"].shape == (1, 3, 4, 16, 16) and batch["path"] == [str(good)]
    assert len(batch["skipped"]) == 3
    assert all(s.startswith(str(tmp_path)) for s in batch["skipped"])
    assert any("empty file" in s for s in batch["skipped"])
    with pytest.raises(DataError, match="garbage.mp4"):
        read_video(tmp_path / "garbage.mp4")
    with pytest.raises(DataError, match="no such video"):
        read_video(tmp_path / "missing.mp4")
    assert collate_videos([dataset[1]])["video"].shape[0] == 0


def test_list_video_files(tmp_path):
    (tmp_path / "a" / ".hidden").mkdir(parents=True)
    for name in ("a/x.MP4", "a/.hidden/y.mp4", "a/z.webm", "b.txt", ".c.mp4"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_video_files(tmp_path)] == ["a/x.MP4", "a/z.webm"]
    with pytest.raises(DataError, match="no video files"):
        (tmp_path / "empty").mkdir()
        list_video_files(tmp_path / "empty")
    with pytest.raises(DataError, match="not found"):
        list_video_files(tmp_path / "nope")


def test_resize_and_crop_video():
    video = torch.randint(0, 256, (3, 4, 48, 64), dtype=torch.uint8)
    out = resize_and_crop_video(video, 32, crop="center", value_range=(0.0, 1.0))
    assert out.shape == (3, 4, 32, 32) and 0 <= out.min() and out.max() <= 1
    same = resize_and_crop_video(video, 48, crop="center")  # shorter side already 48: pure crop, exact values
    assert torch.equal(same, video[..., 8:56].float() / 127.5 - 1.0)
    a = resize_and_crop_video(video, 48, crop="random", generator=torch.Generator().manual_seed(0))
    b = resize_and_crop_video(video, 48, crop="random", generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    with pytest.raises(ShapeError):
        resize_and_crop_video(video[0], 32)


def test_write_video_errors(tmp_path):
    clip = torch.zeros(3, 2, 15, 16, dtype=torch.uint8)
    with pytest.raises(ShapeError, match="even"):
        write_video(tmp_path / "odd.mp4", clip, fps=8)
    write_video(tmp_path / "odd444.mp4", clip, fps=8, pix_fmt="yuv444p")  # odd sides are fine in 4:4:4
    with pytest.raises(ConfigError, match="value_range"):
        write_video(tmp_path / "f.mp4", torch.zeros(3, 2, 16, 16), fps=8)
    with pytest.raises(DataError, match="write one of"):
        write_video(tmp_path / "x.gif", torch.zeros(3, 2, 16, 16, dtype=torch.uint8), fps=8)
    with pytest.raises(ShapeError):
        write_video(tmp_path / "x.mp4", torch.zeros(2, 16, 16, dtype=torch.uint8), fps=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd444.mp4"]


def test_moving_shapes_are_deterministic_and_move():
    clip = moving_shapes_clip(7, frames=6, size=32)
    assert clip.shape == (3, 6, 32, 32) and clip.dtype == torch.uint8
    assert torch.equal(clip, moving_shapes_clip(7, frames=6, size=32))
    assert torch.equal(moving_shapes_clip(7, frames=9, size=32)[:, :6], clip)  # a longer clip extends it
    assert not torch.equal(clip, moving_shapes_clip(8, frames=6, size=32))
    motion = (clip[:, 1:].float() - clip[:, :-1].float()).abs().mean()
    assert motion > 0.5  # frames change
    train, val = MovingShapes("train", 3, 16, clips=8), MovingShapes("val", 3, 16, clips=8)
    assert not set(train.seeds) & set(val.seeds)
    sample = train[0]
    assert sample["video"].shape == (3, 3, 16, 16) and -1 <= sample["video"].min() and sample["video"].max() <= 1


def test_ffmpeg_test_sources_are_readable(tmp_path):
    paths = write_test_sources(tmp_path, frames=6, width=32, height=24, fps=6)
    assert [p.name for p in paths] == ["testsrc.mp4", "testsrc2.mp4", "mandelbrot.mp4"]
    for path in paths:
        info = video_info(path)
        assert (info.frames, info.height, info.width, info.fps) == (6, 24, 32, 6.0)
        assert read_video(path, 3, stride=2).float().std() > 5  # real pictures, not blank frames
