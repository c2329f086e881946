"""Image files: listing, decoding (gray/RGBA/palette/WebP), failures reported not raised, crops, splits."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.io import encode_jpeg, encode_png

from omnitok import DataError, DTypeError, OmnitokError
from omnitok.data import (
    ImageFolderDataset,
    collate_images,
    list_image_files,
    read_image,
    resize_and_crop,
    split_files,
)

GOOD = ["a/b/photo.PNG", "a/red.jpg", "c/pic.webp", "gray.png", "palette.png", "rgba.png"]
BROKEN = ["broken/notes.png", "broken/truncated.jpg"]


def smooth_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A smooth uint8 [3, H, W] image (JPEG keeps it close), different per seed."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    image = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
    return (image * 255).round().to(torch.uint8)


def _save_pil(path: Path, image: Image.Image, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)


def make_image_folder(root: Path, height: int = 48, width: int = 72) -> dict[str, torch.Tensor]:
    """Write GOOD and BROKEN files (plus ignored ones) under root; return the expected RGB pixels of lossless files."""
    expected: dict[str, torch.Tensor] = {}
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    (root / "broken").mkdir()
    jpeg = encode_jpeg(smooth_image(height, width, 1), quality=95).numpy().tobytes()
    (root / "a/red.jpg").write_bytes(jpeg)
    rgb = smooth_image(height, width, 2)
    (root / "a/b/photo.PNG").write_bytes(encode_png(rgb).numpy().tobytes())
    expected["a/b/photo.PNG"] = rgb
    gray = smooth_image(height, width, 3)[:1]
    (root / "gray.png").write_bytes(encode_png(gray).numpy().tobytes())
    expected["gray.png"] = gray.expand(3, -1, -1)
    rgba = torch.cat([smooth_image(height, width, 4), torch.full((1, height, width), 128, dtype=torch.uint8)])
    _save_pil(root / "rgba.png", Image.fromarray(rgba.permute(1, 2, 0).numpy(), "RGBA"))
    expected["rgba.png"] = rgba[:3]
    palette = Image.fromarray(smooth_image(height, width, 5).permute(1, 2, 0).numpy()).quantize(16)
    _save_pil(root / "palette.png", palette)
    expected["palette.png"] = torch.from_numpy(np.array(palette.convert("RGB"))).permute(2, 0, 1)
    webp = smooth_image(height, width, 6)
    _save_pil(root / "c/pic.webp", Image.fromarray(webp.permute(1, 2, 0).numpy()), lossless=True)
    expected["c/pic.webp"] = webp
    (root / "broken/truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "broken/notes.png").write_text("not an image at all\n")
    (root / "readme.txt").write_text("ignored: not an image extension\n")
    (root / "c/._pic.webp").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")  # hidden: ignored
    return expected


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    root = tmp_path / "images"
    return root, make_image_folder(root)


def test_list_image_files_recursive_sorted_case_insensitive(folder):
    root, _ = folder
    files = list_image_files(root)
    assert [f.relative_to(root).as_posix() for f in files] == sorted(GOOD + BROKEN)
    assert all(f.is_absolute() == root.is_absolute() for f in files)


@pytest.mark.parametrize("case", ["missing", "file", "empty"])
def test_list_image_files_errors_name_the_path(tmp_path: Path, case: str):
    target = tmp_path / "target"
    if case == "file":
        target.write_text("x")
    elif case == "empty":
        (target / "sub").mkdir(parents=True)
        (target / "sub/readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="target") as info:
        list_image_files(target)
    assert isinstance(info.value, OmnitokError) and isinstance(info.value, OSError)


def test_read_image_converts_every_mode_to_rgb(folder):
    root, expected = folder
    for name, pixels in expected.items():
        image = read_image(root / name)
        assert image.dtype == torch.uint8 and image.shape == (3, 48, 72), name
        assert torch.equal(image, pixels), name
    jpeg = read_image(root / "a/red.jpg")
    assert (jpeg.int() - smooth_image(48, 72, 1).int()).abs().float().mean() < 3


@pytest.mark.parametrize("name", BROKEN + ["does/not/exist.jpg"])
def test_read_image_failures_raise_data_error_naming_the_file(folder, name: str):
    root, _ = folder
    with pytest.raises(DataError, match=Path(name).name):
        read_image(root / name)


def test_truncated_jpeg_says_truncated(folder):
    root, _ = folder
    with pytest.raises(DataError, match="truncated"):
        read_image(root / "broken/truncated.jpg")


@pytest.mark.parametrize("num_workers", [0, 2])
def test_failures_are_skipped_and_reported_through_a_dataloader(folder, num_workers: int):
    root, _ = folder
    files = list_image_files(root)
    dataset = ImageFolderDataset(files, size=32, crop="center")
    loader = DataLoader(dataset, batch_size=3, num_workers=num_workers, collate_fn=collate_images)
    images, paths, skipped = [], [], []
    for batch in loader:
        assert batch["image"].dtype == torch.float32 and batch["image"].shape[1:] == (3, 32, 32)
        images.append(batch["image"])
        paths += batch["path"]
        skipped += batch["skipped"]
    assert sum(len(i) for i in images) == len(GOOD)
    assert sorted(Path(p).relative_to(root).as_posix() for p in paths) == sorted(GOOD)
    assert len(skipped) == 2
    by_name = {Path(s.split(": ", 1)[0]).name: s.split(": ", 1)[1] for s in skipped}
    assert set(by_name) == {"notes.png", "truncated.jpg"}
    assert "truncated" in by_name["truncated.jpg"]
    assert "notes.png" not in by_name["notes.png"]  # the path is not repeated inside the reason
    batch = torch.cat(images)
    assert batch.min() >= -1 and batch.max() <= 1


def test_collate_all_failed_gives_an_empty_batch():
    batch = collate_images([{"image": None, "path": "x.jpg", "error": "boom"}])
    assert batch["image"].shape == (0, 3, 0, 0) and batch["path"] == [] and batch["skipped"] == ["x.jpg: boom"]
    assert collate_images([])["image"].shape == (0, 3, 0, 0)


def test_center_crop_keeps_exact_values_without_resampling():
    image = torch.arange(3 * 8 * 12, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(3, 8, 12)
    out = resize_and_crop(image, 8, "center")
    assert out.dtype == torch.float32 and out.shape == (3, 8, 8)
    assert torch.equal(out, image[:, :, 2:10].float() / 127.5 - 1)
    tall = image.transpose(1, 2).contiguous()  # [3, 12, 8]: crop rows 2..10
    assert torch.equal(resize_and_crop(tall, 8, "center"), tall[:, 2:10, :].float() / 127.5 - 1)
    assert resize_and_crop(torch.zeros(3, 5, 5, dtype=torch.uint8), 5).eq(-1).all()
    assert resize_and_crop(torch.full((3, 5, 5), 255, dtype=torch.uint8), 5).eq(1).all()


def test_resize_then_crop_shorter_side_and_constant_colour():
    colour = torch.tensor([10, 100, 200], dtype=torch.uint8)
    image = colour[:, None, None].expand(3, 30, 50).contiguous()
    out = resize_and_crop(image, 16, "center")
    assert out.shape == (3, 16, 16)
    assert torch.equal(out, (colour.float() / 127.5 - 1)[:, None, None].expand(3, 16, 16))
    assert resize_and_crop(image, 64, "center").shape == (3, 64, 64)  # upsampling works too


def test_random_crop_is_a_crop_of_the_resized_image_drawn_from_the_generator():
    image = torch.arange(3 * 16 * 40).remainder(251).to(torch.uint8).reshape(3, 16, 40)
    offsets = set()
    for seed in range(20):
        out = resize_and_crop(image, 16, "random", torch.Generator().manual_seed(seed))
        again = resize_and_crop(image, 16, "random", torch.Generator().manual_seed(seed))
        assert torch.equal(out, again)
        matches = [x for x in range(25) if torch.equal(out, image[:, :, x : x + 16].float() / 127.5 - 1)]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 5
    with pytest.raises(ValueError, match="Generator"):
        resize_and_crop(image, 16, "random")
    with pytest.raises(DTypeError):
        resize_and_crop(image.float(), 16)


def _crops(dataset: ImageFolderDataset, num_workers: int) -> torch.Tensor:
    loader = DataLoader(dataset, batch_size=2, num_workers=num_workers, collate_fn=collate_images)
    return torch.cat([b["image"] for b in loader])


def test_random_crops_depend_on_seed_epoch_and_index_only(tmp_path: Path):
    files = []
    for i in range(6):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(encode_png(smooth_image(40, 90, i)).numpy().tobytes())
    dataset = ImageFolderDataset(files, size=24, crop="random", seed=3)
    serial = _crops(dataset, 0)
    assert torch.equal(serial, _crops(dataset, 2))
    assert torch.equal(serial[4], dataset[4]["image"])  # random access gives the same crop
    dataset.set_epoch(1)
    epoch1 = _crops(dataset, 2)
    assert not torch.equal(serial, epoch1)
    assert torch.equal(epoch1, _crops(dataset, 0))
    dataset.set_epoch(0)
    assert torch.equal(serial, _crops(dataset, 0))
    other_seed = ImageFolderDataset(files, size=24, crop="random", seed=4)
    assert not torch.equal(serial, _crops(other_seed, 0))


def test_split_is_stable_when_files_are_added(tmp_path: Path):
    root = tmp_path / "data"
    files = [root / f"class{i % 7}" / f"img{i:04d}.jpg" for i in range(400)]
    train, val = split_files(files, 0.2, root=root)
    assert sorted(train + val) == sorted(files) and not set(train) & set(val)
    assert 40 <= len(val) <= 120
    more = files + [root / "new" / f"extra{i}.png" for i in range(100)]
    train2, val2 = split_files(more, 0.2, root=root)
    assert set(val) == set(val2) & set(files) and set(train) == set(train2) & set(files)
    moved = [tmp_path / "elsewhere" / f.relative_to(root) for f in files]  # relative paths decide
    _, val_moved = split_files(moved, 0.2, root=tmp_path / "elsewhere")
    assert [f.relative_to(tmp_path / "elsewhere") for f in val_moved] == [f.relative_to(root) for f in val]
    assert split_files(files, 0.2, seed=1, root=root)[1] != val
    assert split_files(files, 0.0, root=root) == (files, [])
    with pytest.raises(ValueError):
        split_files(files, 1.0)


def test_palette_png_bytes_round_trip_through_pil():
    """Guard for the fixture itself: PIL writes a real palette PNG (mode P), which the reader must convert."""
    buffer = io.BytesIO()
    Image.fromarray(smooth_image(8, 8).permute(1, 2, 0).numpy()).quantize(4).save(buffer, format="PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "P"
