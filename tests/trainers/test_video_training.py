"""Video through the generic trainer: a tiny causal recipe with joint image + video batches, 3-D GAN and per-frame
LPIPS; exact resume; step-indexed joint batches; corrupt files in a video folder skipped and counted."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from safetensors.torch import load_file

from omnitok.config import load_yaml_config, set_by_path
from omnitok.data import write_moving_shapes
from omnitok.errors import ConfigError
from omnitok.hub import load_tokenizer
from omnitok.trainers import VideoDataModule, train
from omnitok.trainers.data import EndlessSampler
from omnitok.trainers.video_data import JointBatchSampler

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "video"

TINY = {
    "model.tokenizer.encoder.base_channels": 8,
    "model.tokenizer.encoder.channel_multipliers": [1, 2],
    "model.tokenizer.encoder.temporal_downsample": 2,
    "model.tokenizer.encoder.norm_groups": 4,
    "model.tokenizer.decoder.base_channels": 8,
    "model.tokenizer.decoder.channel_multipliers": [1, 2],
    "model.tokenizer.decoder.temporal_downsample": 2,
    "model.tokenizer.decoder.norm_groups": 4,
    "model.adversarial.discriminator.base_channels": 8,
    "model.adversarial.start_step": 2,
    "model.losses": [
        {"class_path": "omnitok.trainers.ReconstructionLoss", "init_args": {"kind": "l1"}},
        {
            "class_path": "omnitok.trainers.PerceptualLoss",
            "init_args": {"pretrained": False, "weight": 0.1, "max_frames": 2},
        },
    ],
    "model.warmup_steps": 2,
    "data.frames": 5,
    "data.size": 32,
    "data.batch_size": 2,
    "data.generated_clips": 16,
    "data.max_val_samples": 4,
    "data.image_every": 3,
    "data.image_batch_size": 4,
    "trainer.max_steps": 6,
    "trainer.val_every": 3,
    "trainer.checkpoint_every": 3,
    "trainer.log_every": 1,
    "trainer.progress_bar": False,
    "trainer.heldout_samples": 4,
}


def tiny_video_recipe(name: str = "quickstart_fsq", **overrides) -> dict:
    config = load_yaml_config(CONFIGS / f"{name}.yaml")
    for key, value in {**TINY, **overrides}.items():
        set_by_path(config, key, copy.deepcopy(value))
    return config


class Record(pl.Callback):
    """Loss and clip length of every step."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.losses: dict[int, float] = {}
        self.frames: dict[int, int] = {}
        self.crash_at = crash_at

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.frames[module.step] = batch["video"].shape[2]
        if outputs:
            self.losses[module.step] = float(outputs["loss"])
        if module.step == self.crash_at:
            raise RuntimeError("simulated crash")


def image_folder(folder: Path, count: int = 6) -> str:
    """A few procedural scenes as PNG files (the built-in set takes longer to build)."""
    from torchvision.io import write_png

    from omnitok.data import render_scene

    folder.mkdir(parents=True)
    for i in range(count):
        write_png(render_scene(i, 40), str(folder / f"scene_{i}.png"))
    return str(folder)


def test_joint_video_run_trains_exports_and_resumes_exactly(tmp_path):
    config = tiny_video_recipe(**{"data.images": image_folder(tmp_path / "images")})
    straight = Record()
    result = train(config, tmp_path / "straight", callbacks=[straight])
    assert result.step == 6 and result.skipped_files == []
    assert straight.frames == {1: 5, 2: 5, 3: 1, 4: 5, 5: 5, 6: 1}  # every third step is an image batch
    assert all(torch.isfinite(torch.tensor(v)) for v in straight.losses.values())

    tokenizer = load_tokenizer(tmp_path / "straight" / "tokenizer")
    assert tokenizer.spec.modality == "video" and tokenizer.spec.causal_time
    clip = torch.rand(1, 3, 5, 16, 16) * 2 - 1  # fully convolutional: any multiple of the factors
    assert tokenizer.encode(clip).shape == (1, 3, 8, 8)  # 1 + (5 - 1) / 2 latent frames of 16 / 2
    assert tokenizer.decode(tokenizer.encode(clip)).shape == clip.shape
    assert tokenizer.decode(tokenizer.encode(clip[:, :, :1])).shape == (1, 3, 1, 16, 16)  # an image

    first = Record(crash_at=5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "crashed", callbacks=[first])
    resumed = Record()
    train(config, tmp_path / "crashed", resume=tmp_path / "crashed" / "checkpoints" / "last.ckpt", callbacks=[resumed])
    assert sorted(resumed.losses) == [4, 5, 6] and resumed.frames == {4: 5, 5: 5, 6: 1}
    for step in (4, 5, 6):
        assert resumed.losses[step] == straight.losses[step], f"step {step} differs after resume"
    a = load_file(tmp_path / "straight" / "tokenizer" / "model.safetensors")
    b = load_file(tmp_path / "crashed" / "tokenizer" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_joint_batches_are_one_kind_each_and_step_indexed():
    sampler = JointBatchSampler(EndlessSampler(10, 2, seed=0, start=lambda: 0), 7, 3, image_every=3)
    stream = iter(sampler)
    batches = [next(stream) for _ in range(9)]
    kinds = ["".join(sorted({kind[0] for kind, _ in batch})) for batch in batches]
    assert kinds == ["v", "v", "i", "v", "v", "i", "v", "v", "i"]
    assert [len(b) for b in batches] == [2, 2, 3] * 3
    video = [i for b in batches for kind, i in b if kind == "video"]
    assert sorted(video[:10]) == list(range(10))  # the first epoch of clips is a permutation
    for start in (1, 4, 5):  # a run resumed at any step continues with the same batches
        resumed = iter(JointBatchSampler(EndlessSampler(10, 2, seed=0, start=lambda s=start: s), 7, 3, image_every=3))
        assert [next(resumed) for _ in range(9 - start)] == batches[start:]


def test_data_module_batches_and_bad_settings():
    module = VideoDataModule(frames=5, size=16, batch_size=2, generated_clips=8, images="builtin", image_every=2)
    module.setup()
    loader = iter(module.train_dataloader())
    clips, images = next(loader), next(loader)
    assert clips["video"].shape == (2, 3, 5, 16, 16) and images["video"].shape == (10, 3, 1, 16, 16)
    assert images["path"][0].startswith("builtin/")
    assert next(iter(module.val_dataloader()))["video"].shape == (2, 3, 5, 16, 16)
    assert len(module.test_data) == 64 and not set(module.test_data.seeds) & set(module.train_data.seeds)
    with pytest.raises(ConfigError, match="image_every"):
        VideoDataModule(image_every=1, images="builtin")
    with pytest.raises(ConfigError, match="needs images"):
        VideoDataModule(image_every=2)
    with pytest.raises(ConfigError, match="short"):
        VideoDataModule(short="stretch")


def test_corrupt_videos_in_a_folder_are_skipped_and_counted(tmp_path):
    folder = tmp_path / "videos"
    write_moving_shapes(folder, count=3, frames=7, size=32)
    (folder / "broken.mp4").write_bytes(b"\x00" * 300)
    config = tiny_video_recipe(
        **{
            "data.root": str(folder),
            "data.image_every": 0,
            "data.val_fraction": 0.0,
            "data.batch_size": 4,
            "trainer.max_steps": 2,
            "trainer.val_every": 2,
        }
    )
    result = train(config, tmp_path / "run")
    assert result.step == 2
    assert len(result.skipped_files) == 2 and all("broken.mp4" in s for s in result.skipped_files)
