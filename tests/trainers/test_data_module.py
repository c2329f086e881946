"""ImageDataModule and its endless, resumable sampler."""

from __future__ import annotations

import itertools

import pytest
import torch
from torchvision.io import write_png

from omnitok.errors import DataError
from omnitok.trainers.data import EndlessSampler, ImageDataModule


def _take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_batch_s_depends_on_s_alone_so_resuming_sees_the_same_batches():
    full = _take(EndlessSampler(10, 4, seed=3, start=lambda: 0), 40)
    resumed = _take(EndlessSampler(10, 4, seed=3, start=lambda: 5), 20)
    assert resumed == full[20:40]
    epochs = [sorted(i % 10 for i in full[e * 10 : (e + 1) * 10]) for e in range(4)]
    assert all(e == list(range(10)) for e in epochs)  # every item once per epoch
    assert [i // 10 for i in full[:30]] == [0] * 10 + [1] * 10 + [2] * 10  # the epoch rides along for random crops
    assert full[:10] != full[10:20]


def test_ranks_split_each_global_batch():
    single = _take(EndlessSampler(12, 6, seed=0, start=lambda: 0), 24)
    rank0 = _take(EndlessSampler(12, 3, seed=0, start=lambda: 0, rank=0, world=2), 12)
    rank1 = _take(EndlessSampler(12, 3, seed=0, start=lambda: 0, rank=1, world=2), 12)
    for s in range(4):
        assert rank0[3 * s : 3 * s + 3] + rank1[3 * s : 3 * s + 3] == single[6 * s : 6 * s + 6]


def _folder(root, count=10):
    root.mkdir(parents=True)
    for i in range(count):
        write_png((torch.rand(3, 40, 40) * 255).to(torch.uint8), str(root / f"{i:03d}.png"))
    return root


def test_folder_split_and_packed_shards_feed_batches(tmp_path):
    folder = _folder(tmp_path / "images", 20)
    data = ImageDataModule(str(folder), size=32, batch_size=4, num_workers=0, val_fraction=0.3)
    data.setup("fit")
    assert len(data.train_data) + len(data.val_data) == 20 and len(data.val_data) > 0
    assert data.test_data is data.val_data
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32) and -1 <= batch["image"].min() <= batch["image"].max() <= 1

    pytest.importorskip("litdata")
    from omnitok.trainers.packing import pack_media

    pack_media(folder, tmp_path / "packed", workers=2, chunk_bytes=4000, log=lambda line: None)
    packed = ImageDataModule(str(tmp_path / "packed"), size=32, batch_size=5, num_workers=0, val_root=str(folder))
    packed.setup("fit")
    loader = packed.train_dataloader()
    epochs = [[p for b in loader for p in b["path"]] for _ in range(2)]  # litdata starts each epoch anew
    assert all(b["image"].shape == (5, 3, 32, 32) for b in loader)
    assert sorted(epochs[0]) == sorted(epochs[1]) and len(set(epochs[0])) == 20  # each image once per epoch
    assert epochs[0] != epochs[1]  # the next epoch is shuffled anew
    assert next(iter(packed.val_dataloader()))["image"].shape[1:] == (3, 32, 32)


def test_missing_or_empty_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ImageDataModule(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=str(tmp_path / "empty")):
        ImageDataModule(str(tmp_path / "empty")).setup("fit")
    (tmp_path / "half-packed").mkdir()  # chunks without litdata's index.json (written last): not packed shards
    (tmp_path / "half-packed" / "chunk-0-0.bin").write_bytes(b"")
    with pytest.raises(DataError, match="no image files"):
        ImageDataModule(str(tmp_path / "half-packed")).setup("fit")
