"""Training from packed shards: the data modules stream litdata shards (local and s3://), split them across ranks,
and resume exactly mid-epoch, in the data module and in a Lightning run."""

from __future__ import annotations

import socket
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from omnitok.cli.main import main
from omnitok.config import instantiate
from omnitok.trainers import train
from omnitok.trainers.data import ImageDataModule
from omnitok.trainers.packing import pack_media
from tests.trainers.recipes import tiny_recipe
from tests.trainers.test_packing import write_images


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """22 random 40x44 images packed into 3+ chunks by 2 workers."""
    root = tmp_path_factory.mktemp("packed")
    write_images(root / "images", count=22, size=(40, 44))
    pack_media(root / "images", root / "packed", workers=2, chunk_bytes=20000, log=lambda line: None)
    return root / "packed"


def _module(root: str | Path, **kwargs) -> ImageDataModule:
    data = ImageDataModule(str(root), **{"size": 32, "batch_size": 4, "num_workers": 0, "seed": 3, **kwargs})
    data.setup("fit")
    return data


def _epochs(loader, count: int) -> list[list[tuple[list[str], torch.Tensor]]]:
    return [[(batch["path"], batch["image"]) for batch in loader] for _ in range(count)]


def test_packed_images_stream_in_shuffled_epochs(packed):
    data = _module(packed)
    epochs = _epochs(data.train_dataloader(), 2)
    assert [len(e) for e in epochs] == [5, 5]  # 22 images, drop_last: 5 full batches of 4
    for epoch in epochs:
        paths = [p for batch_paths, _ in epoch for p in batch_paths]
        assert len(set(paths)) == 20 and all(p.startswith(f"{packed}/") and p.endswith(".png") for p in paths)
        assert all(image.shape == (4, 3, 32, 32) for _, image in epoch)
        assert all(-1 <= float(image.min()) <= float(image.max()) <= 1 for _, image in epoch)
    assert [p for b, _ in epochs[0] for p in b] != [p for b, _ in epochs[1] for p in b]  # shuffled anew
    # the same file gets another random crop in another epoch, the same crop in the same epoch of another run
    again = _epochs(_module(packed).train_dataloader(), 1)[0]
    assert all(a[0] == b[0] and torch.equal(a[1], b[1]) for a, b in zip(epochs[0], again))


def test_two_ranks_read_disjoint_halves(packed, monkeypatch):
    seen = []
    for rank in range(2):
        monkeypatch.setenv("WORLD_SIZE", "2")  # litdata's distributed environment, as torch.distributed reports it
        monkeypatch.setenv("GLOBAL_RANK", str(rank))
        loader = _module(packed, batch_size=2).train_dataloader()
        seen.append([p for batch in loader for p in batch["path"]])
    assert len(seen[0]) == len(seen[1]) == 10  # the same number of batches on each rank: no rank waits for another
    assert not set(seen[0]) & set(seen[1]) and len(set(seen[0]) | set(seen[1])) == 20


@pytest.mark.parametrize("workers", [0, 2])
def test_restored_loader_continues_with_the_same_batches(packed, workers):
    straight = [b for e in _epochs(_module(packed, num_workers=workers).train_dataloader(), 3) for b in e]
    for stop in (3, 5, 7):  # inside the first epoch, at its end, inside the second
        data = _module(packed, num_workers=workers)
        loader, taken = data.train_dataloader(), 0
        while taken < stop:
            for _ in loader:
                taken += 1
                if taken == stop:
                    break
        state = data.state_dict()
        resumed = _module(packed, num_workers=workers)
        resumed.load_state_dict(state)
        rest = [b for e in _epochs(resumed.train_dataloader(), 3) for b in e][: len(straight) - stop]
        assert [p for p, _ in rest] == [p for p, _ in straight[stop:]], f"stop {stop}"
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(rest, straight[stop:]))


def test_packed_validation_is_center_cropped_and_capped(packed, tmp_path):
    folder = tmp_path / "val"
    write_images(folder, count=3, size=(40, 44))
    data = _module(folder, val_root=str(packed), max_val_samples=6, val_fraction=0.0)
    batches = list(data.val_dataloader())
    paths = [p for b in batches for p in b["path"]]
    assert len(paths) == 6 and paths == sorted(paths)  # the first samples, in stored order
    assert torch.equal(batches[0]["image"], next(iter(data.val_dataloader()))["image"])  # deterministic


def test_packed_video_and_audio_feed_their_modules(tmp_path):
    from omnitok.data import write_audio, write_moving_shapes
    from omnitok.trainers.audio_data import AudioDataModule
    from omnitok.trainers.video_data import VideoDataModule

    write_moving_shapes(tmp_path / "video", count=4, frames=6, size=24)
    pack_media(tmp_path / "video", tmp_path / "packed-video", workers=1, log=lambda line: None)
    videos = VideoDataModule(str(tmp_path / "packed-video"), frames=3, size=16, batch_size=2, num_workers=0)
    videos.setup("fit")
    batch = next(iter(videos.train_dataloader()))
    assert batch["video"].shape == (2, 3, 3, 16, 16) and batch["skipped"] == []

    (tmp_path / "audio").mkdir()
    t = torch.arange(16000) / 16000
    for i in range(4):
        write_audio(tmp_path / "audio" / f"{i}.wav", 0.3 * torch.sin(2 * torch.pi * (150 + 40 * i) * t)[None], 16000)
    pack_media(tmp_path / "audio", tmp_path / "packed-audio", workers=1, log=lambda line: None)
    audio = AudioDataModule(
        str(tmp_path / "packed-audio"),
        segment_seconds=0.25,
        batch_size=2,
        num_workers=0,
        val_root=str(tmp_path / "packed-audio"),
    )
    audio.setup("fit")
    batch = next(iter(audio.train_dataloader()))
    assert batch["audio"].shape == (2, 1, 4000) and float(batch["audio"].abs().max()) <= 1
    held_out = next(iter(audio.val_dataloader()))
    assert held_out["audio"].shape == (2, 1, 32000) and held_out["path"][0].endswith("0.wav")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server(monkeypatch, tmp_path):
    """A local S3-compatible server (moto) and the environment boto3 (inside litdata) reads: endpoint, keys, region.

    litdata 0.2.76 downloads chunks with obstore, which it builds without ``allow_http`` (and obstore reads client
    options from no environment variable), so it cannot reach an http:// endpoint; the test turns obstore off and
    litdata downloads with its boto3 client instead (its path for ``index.json`` and without obstore installed)."""
    from moto import server as moto_server
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("litdata.streaming.downloader._OBSTORE_AVAILABLE", False)
    monkeypatch.setattr("litdata.utilities.dataset_utilities._LITDATA_CACHE_DIR", str(tmp_path / "litdata-cache"))
    yield
    server.stop()


def test_s3_root_streams_through_litdatas_downloader(packed, s3_server, tmp_path):
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket="data")
    for file in packed.iterdir():
        client.upload_file(str(file), "data", f"images/{file.name}")
    data = _module("s3://data/images", num_workers=2, val_root="s3://data/images", max_val_samples=4)
    remote = _epochs(data.train_dataloader(), 1)[0]
    local = _epochs(_module(packed, num_workers=2).train_dataloader(), 1)[0]
    keys = [[p.removeprefix("s3://data/images/") for p in b] for b, _ in remote]
    assert keys == [[p.removeprefix(f"{packed}/") for p in b] for b, _ in local]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(remote, local))  # the same bytes, order and crops
    assert any((tmp_path / "litdata-cache").rglob("chunk-*.bin"))  # the chunks came through litdata's cache
    assert next(iter(data.val_dataloader()))["image"].shape == (4, 3, 32, 32)


class RecordPaths(pl.Callback):
    def __init__(self) -> None:
        self.paths: dict[int, list[str]] = {}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.paths[module.step] = list(batch["path"])


def test_omnitok_train_reads_packed_shards_and_resumes_with_the_uninterrupted_batches(packed, tmp_path, capsys):
    config = tiny_recipe(data__root=str(packed), trainer__heldout_samples=0, trainer__checkpoint_every=3)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    code = main(["train", "--config", str(recipe), "--out", str(run), "--set", "trainer.max_steps=3"])
    assert code == 0, capsys.readouterr().err
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "tokenizer").is_dir()

    resumed = RecordPaths()  # from the checkpoint at step 3, mid-epoch (5 batches an epoch), across the epoch end
    train(
        {**config, "trainer": {**config["trainer"], "max_steps": 7}},
        run,
        resume=run / "checkpoints" / "last.ckpt",
        callbacks=[resumed],
    )
    reference = instantiate(config["data"])  # the batches an uninterrupted run reads
    reference.setup("fit")
    loader = reference.train_dataloader()
    straight = [batch["path"] for _ in range(2) for batch in loader]
    assert sorted(resumed.paths) == [4, 5, 6, 7]
    assert [resumed.paths[s] for s in (4, 5, 6, 7)] == straight[3:7]
