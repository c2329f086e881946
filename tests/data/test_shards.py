"""Tar shards: pattern expansion, writing, reading (same samples as the folder reader), sharding, corruption."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from omnitok import DataError
from omnitok.data import (
    ImageFolderDataset,
    ImageShardDataset,
    collate_images,
    expand_shards,
    list_image_files,
    write_image_shards,
)
from omnitok.data.shards import read_shard
from tests.data.test_images import BROKEN, GOOD, make_image_folder


@pytest.fixture
def folder_files(tmp_path: Path) -> list[Path]:
    make_image_folder(tmp_path / "images")
    return list_image_files(tmp_path / "images")


def _samples(dataset, num_workers: int = 0) -> list[dict]:
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers, collate_fn=lambda s: s)
    return list(loader)


def test_expand_shards_braces_and_globs(tmp_path: Path):
    for i in range(5):
        (tmp_path / f"data-{i:03d}.tar").touch()
    (tmp_path / "a").mkdir()
    (tmp_path / "a/x.tar").touch()
    names = [f"data-{i:03d}.tar" for i in range(5)]
    assert expand_shards(str(tmp_path / "data-{000..004}.tar")) == [str(tmp_path / n) for n in names]
    assert expand_shards(tmp_path / "data-{001..002}.tar") == [str(tmp_path / n) for n in names[1:3]]
    assert expand_shards(str(tmp_path / "*.tar")) == [str(tmp_path / n) for n in names]
    assert expand_shards(str(tmp_path / "{a/x,data-000}.tar")) == [str(tmp_path / "a/x.tar"), str(tmp_path / names[0])]
    both = expand_shards([str(tmp_path / "a/*.tar"), str(tmp_path / "data-00{3..4}.tar"), str(tmp_path / "a/x.tar")])
    assert both == [str(tmp_path / "a/x.tar"), str(tmp_path / names[3]), str(tmp_path / names[4])]  # no duplicates
    with pytest.raises(DataError, match="data-005.tar"):
        expand_shards(str(tmp_path / "data-{000..005}.tar"))
    with pytest.raises(DataError, match="no shard files match"):
        expand_shards(str(tmp_path / "*.tgz"))
    with pytest.raises(DataError, match="empty brace range"):
        expand_shards(str(tmp_path / "data-{004..001}.tar"))


def test_write_shards_is_deterministic_and_atomic(tmp_path: Path, folder_files: list[Path]):
    shards = write_image_shards(folder_files, tmp_path / "shards", samples_per_shard=3)
    assert [s.name for s in shards] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [s.name for s in shards]  # no temp files left
    first = [s.read_bytes() for s in shards]
    again = write_image_shards(folder_files, tmp_path / "shards", samples_per_shard=3)
    assert again == shards and [s.read_bytes() for s in again] == first
    with tarfile.open(shards[0]) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("000000.json").read())  # type: ignore[union-attr]
    assert names[:2] == ["000000.png", "000000.json"]  # extension kept, lower-cased ("photo.PNG")
    assert meta == {"source": str(folder_files[0])}
    with tarfile.open(shards[0]) as tar:
        assert tar.extractfile("000000.png").read() == folder_files[0].read_bytes()  # type: ignore[union-attr]
    with pytest.raises(DataError):
        write_image_shards([], tmp_path / "none")
    with pytest.raises(DataError, match="missing.jpg"):
        write_image_shards([tmp_path / "missing.jpg"], tmp_path / "none")


def test_shards_give_the_same_samples_as_the_folder_reader(tmp_path: Path, folder_files: list[Path]):
    shards = write_image_shards(folder_files, tmp_path / "shards", samples_per_shard=3)
    from_shards = _samples(ImageShardDataset(str(tmp_path / "shards/shard-{000000..000002}.tar"), 32, "center", 0, 0))
    from_folder = [ImageFolderDataset(folder_files, 32, "center")[i] for i in range(len(folder_files))]
    assert len(from_shards) == len(from_folder) == len(GOOD + BROKEN)
    for k, (a, b) in enumerate(zip(from_shards, from_folder)):
        assert a["path"].startswith(str(shards[k // 3]) + "/")
        assert Path(a["path"]).suffix == Path(b["path"]).suffix.lower()
        if b["image"] is None:
            assert a["image"] is None and a["error"] == b["error"]
        else:
            assert torch.equal(a["image"], b["image"])
    batch = collate_images(from_shards)
    assert batch["image"].shape == (len(GOOD), 3, 32, 32) and len(batch["skipped"]) == len(BROKEN)


def _write_numbered_shards(tmp_path: Path, folder_files: list[Path], copies: int = 4) -> list[Path]:
    good = [f for f in folder_files if "broken" not in f.parts]
    return write_image_shards(good * copies, tmp_path / "shards", samples_per_shard=5)


@pytest.mark.parametrize("shuffle_buffer", [0, 4])
def test_two_workers_read_each_sample_exactly_once(tmp_path: Path, folder_files: list[Path], shuffle_buffer: int):
    shards = _write_numbered_shards(tmp_path, folder_files)  # 24 samples in 5 shards
    dataset = ImageShardDataset([str(s) for s in shards], 24, "random", seed=1, shuffle_buffer=shuffle_buffer)
    serial = {s["path"]: s["image"] for s in _samples(dataset, 0)}
    parallel = _samples(dataset, 2)
    assert len(serial) == len(parallel) == 24
    assert sorted(s["path"] for s in parallel) == sorted(serial)
    for sample in parallel:  # crops depend on (seed, epoch, shard, position) only, not on the worker count
        assert torch.equal(sample["image"], serial[sample["path"]])
    if shuffle_buffer:
        assert [s["path"] for s in _samples(dataset, 0)] == list(serial)  # same epoch, same order
        dataset.set_epoch(1)
        epoch1 = _samples(dataset, 0)
        assert [s["path"] for s in epoch1] != list(serial)
        assert any(not torch.equal(s["image"], serial[s["path"]]) for s in epoch1)


def test_shards_are_dealt_to_ranks_and_workers_without_overlap(tmp_path: Path, folder_files: list[Path]):
    shards = _write_numbered_shards(tmp_path, folder_files)
    dataset = ImageShardDataset([str(s) for s in shards], 24)
    for readers in (1, 2, 3, 4, 8):  # e.g. 2 ranks x 2 workers = 4 readers
        dealt = [s for r in range(readers) for s in dataset.shards_for(r, readers)]
        assert sorted(dealt) == sorted(str(s) for s in shards)


def _tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_corrupt_members_and_truncated_shards_are_reported_and_reading_goes_on(tmp_path: Path, folder_files):
    png = folder_files[0].read_bytes()
    members = [("000000.png", png), ("000000.json", b"{}"), ("000001.jpg", b"not a jpeg"), ("000002.json", b"{}")]
    members += [("000003.png", png), ("000004.png", png)]
    whole = _tar_bytes(members)
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        offsets = {m.name: (m.offset, m.offset_data) for m in tar.getmembers()}
    (tmp_path / "0-good.tar").write_bytes(whole)
    (tmp_path / "1-cut-in-data.tar").write_bytes(whole[: offsets["000003.png"][1] + 100])
    (tmp_path / "2-cut-at-member.tar").write_bytes(whole[: offsets["000004.png"][0]])
    (tmp_path / "3-cut-in-header.tar").write_bytes(whole[: offsets["000004.png"][0] + 200])
    (tmp_path / "4-garbage.tar").write_bytes(b"this is not a tar file" * 100)
    (tmp_path / "5-empty.tar").write_bytes(b"")
    (tmp_path / "6-good.tar").write_bytes(whole)

    def good(shard: str, last: int = 4) -> list[tuple[str, str | None]]:
        rows = [("000000.png", None), ("000001.jpg", "cannot decode"), ("000002", "no image member")]
        rows += [("000003.png", None), ("000004.png", None)]
        return [(f"{shard}/{name}", error) for name, error in rows[: last + 1]]

    expected = good("0-good.tar") + good("1-cut-in-data.tar", last=2) + [("1-cut-in-data.tar", "truncated")]
    expected += good("2-cut-at-member.tar", last=3) + [("2-cut-at-member.tar", "truncated")]
    expected += good("3-cut-in-header.tar", last=3) + [("3-cut-in-header.tar", "truncated")]
    expected += [("4-garbage.tar", "corrupt"), ("5-empty.tar", "corrupt")] + good("6-good.tar")

    samples = _samples(ImageShardDataset(str(tmp_path / "*.tar"), 16, "center", shuffle_buffer=0))
    assert [Path(s["path"]).relative_to(tmp_path).as_posix() for s in samples] == [p for p, _ in expected]
    for sample, (path, error) in zip(samples, expected):
        if error is None:
            assert sample["image"].shape == (3, 16, 16) and "error" not in sample, path
        else:
            assert sample["image"] is None and error in sample["error"], (path, sample["error"])


def test_read_shard_reads_gzipped_tars(tmp_path: Path, folder_files):
    png = folder_files[0].read_bytes()
    with tarfile.open(tmp_path / "x.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("k.png")
        info.size = len(png)
        tar.addfile(info, io.BytesIO(png))
    records = list(read_shard(str(tmp_path / "x.tar.gz")))
    assert [(r[0], r[1] == png, r[2]) for r in records] == [(f"{tmp_path / 'x.tar.gz'}/k.png", True, None)]
    truncated = (tmp_path / "x.tar.gz").read_bytes()
    (tmp_path / "y.tar.gz").write_bytes(truncated[: len(truncated) // 2])
    records = list(read_shard(str(tmp_path / "y.tar.gz")))
    assert records[-1][0] == str(tmp_path / "y.tar.gz") and records[-1][1] is None
