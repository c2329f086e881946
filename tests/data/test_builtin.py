"""The built-in dataset: offline photos, whole-photo test split, disjoint val tiles, determinism, build time."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import torch

from omnitok.data import TEST_PHOTOS, TRAIN_PHOTOS, BuiltinImages, render_scene, scene_seed
from omnitok.data.builtin import DEFAULT_SCENES, VAL_TILES_PER_PHOTO, load_photo


@pytest.fixture(scope="module")
def splits() -> dict[str, BuiltinImages]:
    return {split: BuiltinImages(split) for split in ("train", "val", "test")}


def _photos(dataset: BuiltinImages) -> set[str]:
    return {p.split("/")[2] for p in dataset.paths if p.startswith("builtin/photo/")}


def test_photos_load_offline(monkeypatch: pytest.MonkeyPatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    load_photo.cache_clear()
    for name in TRAIN_PHOTOS + TEST_PHOTOS:
        photo = load_photo(name)
        assert photo.dtype == torch.uint8 and photo.ndim == 3 and photo.shape[0] == 3, name
        assert min(photo.shape[1:]) >= 300, name


def test_test_photos_are_held_out_whole(splits):
    assert not set(TRAIN_PHOTOS) & set(TEST_PHOTOS)
    assert _photos(splits["train"]) == set(TRAIN_PHOTOS)
    assert _photos(splits["val"]) == set(TRAIN_PHOTOS)
    assert _photos(splits["test"]) == set(TEST_PHOTOS)


def test_val_tiles_are_disjoint_from_train_tiles(splits):
    train, val = set(splits["train"].paths), set(splits["val"].paths)
    assert not train & val
    assert sum(p.startswith("builtin/photo/") for p in val) == VAL_TILES_PER_PHOTO * len(TRAIN_PHOTOS)
    for split in ("train", "val", "test"):
        assert len(set(splits[split].paths)) == len(splits[split])  # no duplicates
    tiles = {split: {p for p in splits[split].paths if p.startswith("builtin/photo/")} for split in splits}
    for path in tiles["val"]:  # the pixels differ too, not just the names
        i = splits["val"].paths.index(path)
        assert not (splits["train"].images == splits["val"].images[i]).flatten(1).all(1).any()


def test_scene_seeds_are_disjoint_across_splits(splits):
    seeds = {split: set(splits[split].scene_seeds) for split in splits}
    assert len(seeds["train"]) == DEFAULT_SCENES["train"]
    assert not seeds["train"] & seeds["val"] and not seeds["train"] & seeds["test"] and not seeds["val"] & seeds["test"]
    assert scene_seed("test", 0, seed=1) not in {
        scene_seed(s, i, seed=0) for s in ("train", "val", "test") for i in (0, 999_999)
    }


def test_shapes_ranges_and_description(splits):
    for split, dataset in splits.items():
        assert dataset.images.dtype == torch.uint8 and dataset.images.shape[1:] == (3, 64, 64)
        sample = dataset[len(dataset) - 1]
        assert set(sample) == {"image", "path"} and sample["path"] == dataset.paths[-1]
        assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, 64, 64)
        assert -1 <= sample["image"].min() and sample["image"].max() <= 1
        text = dataset.describe()
        assert f"{len(dataset)} images" in text and split in text
    train = splits["train"]
    assert len(train) == sum(train.photo_counts.values()) + DEFAULT_SCENES["train"]
    assert all(0 < n <= 32 for n in train.photo_counts.values())
    assert train.images.float().std(dim=(1, 2, 3)).min() > 3  # no flat tiles, no blank scenes


def test_everything_is_deterministic(splits):
    again = BuiltinImages("test")
    assert again.paths == splits["test"].paths and torch.equal(again.images, splits["test"].images)
    small = BuiltinImages("train", size=32, scale=0.25, scenes=10, tiles_per_photo=3, seed=5)
    assert torch.equal(small.images, BuiltinImages("train", 32, 0.25, 10, 3, 5).images)
    assert len(small) == 3 * len(TRAIN_PHOTOS) + 10
    assert BuiltinImages("train", 32, 0.25, 10, 3, seed=6).paths != small.paths
    assert torch.equal(render_scene(7, 48), render_scene(7, 48))
    assert torch.equal(render_scene(np.random.default_rng(7), 48), render_scene(7, 48))
    assert not torch.equal(render_scene(7, 48), render_scene(8, 48))
    assert render_scene(3, 17, texture=False).shape == (3, 17, 17)


def test_scenes_hold_shapes_over_a_gradient():
    flat = render_scene(11, 64, texture=False).float()
    assert flat.std() > 5  # not one colour
    distinct = torch.unique(flat.flatten(1).T, dim=0).shape[0]
    assert distinct > 50  # the gradient alone gives many colours


def test_too_large_tiles_warn_and_keep_scenes():
    with pytest.warns(UserWarning) as record:
        dataset = BuiltinImages("test", size=128, scale=0.25, scenes=3)
    assert sorted(str(w.message).split("'")[1] for w in record) == ["chelsea", "coffee"]
    assert dataset.photo_counts["chelsea"] == 0 and len(dataset) == sum(dataset.photo_counts.values()) + 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        BuiltinImages("validation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        BuiltinImages("val", size=0)


def test_default_train_split_builds_in_under_3_seconds():
    load_photo.cache_clear()  # include reading the photos
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    dataset = BuiltinImages("train")
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    assert len(dataset) > 1000
    assert cpu < 3.0, f"building the default train split took {cpu:.2f} s of CPU ({wall:.2f} s wall)"


def test_omnitok_data_builtin_writes_the_builtin_pixels_as_png_folders(tmp_path, capsys):
    from torchvision.io import read_image

    from omnitok.cli.main import main
    from omnitok.data.builtin import BuiltinImages

    out = tmp_path / "builtin"
    assert main(["data", "builtin", str(out), "--size", "16"]) == 0
    for split in ("train", "val", "test"):
        images = BuiltinImages(split, size=16)
        files = sorted((out / split).rglob("*.png"))
        assert len(files) == len(images.paths)
        for index in (0, len(images.paths) // 2, len(images.paths) - 1):
            path = out / split / (images.paths[index].removeprefix("builtin/") + ".png")
            assert torch.equal(read_image(str(path)), images.images[index])
    assert main(["data", "builtin", str(out)]) == 2  # an existing, non-empty folder is refused
    assert "not an empty folder" in capsys.readouterr().err
