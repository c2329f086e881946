"""A modality defined entirely here, not derived from a shipped one: 3-D voxel volumes ``[B, 1, D, H, W]`` with
values in [0, 1] (no time axis, unlike video), stored as ``.npy`` files. It registers itself on import, so a
recipe or a saved tokenizer that names a class of this module brings the modality with it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from omnitok.config import Configurable
from omnitok.errors import ConfigError, DataError, ShapeError
from omnitok.metrics.registry import register_metric
from omnitok.modalities import Modality, register_modality
from omnitok.utils import atomic_path

NAME = "voxel"
SIDE = 8


def make_volumes(count: int, seed: int, side: int = SIDE) -> Tensor:
    """Float [count, 1, side, side, side] in [0, 1]: one solid ball per volume, random centre and radius."""
    generator = torch.Generator().manual_seed(seed)
    axis = torch.arange(side, dtype=torch.float32)
    d, h, w = torch.meshgrid(axis, axis, axis, indexing="ij")
    volumes = []
    for _ in range(count):
        centre = torch.rand(3, generator=generator) * (side - 3) + 1.5
        radius = float(torch.rand((), generator=generator)) * 1.5 + 1.5
        distance = ((d - centre[0]) ** 2 + (h - centre[1]) ** 2 + (w - centre[2]) ** 2).sqrt()
        volumes.append((radius - distance).clamp(0, 1))
    return torch.stack(volumes).unsqueeze(1)


def read_volume(path: Path) -> Tensor:
    """A ``.npy`` volume [D, H, W] as float [1, D, H, W]; DataError naming the file when it is not one."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a .npy volume ({err})") from None
    if array.ndim != 3:
        raise ShapeError(f"{path}: a volume is [D, H, W], got shape {array.shape}")
    return torch.from_numpy(np.asarray(array, dtype=np.float32)).unsqueeze(0)


class VoxelMSE:
    """Mean squared error per volume, on [0, 1] values."""

    name, higher_is_better, implementation = "voxel_mse", False, "mean squared error over voxels (tests)"

    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        return (original - reconstruction).pow(2).flatten(1).mean(1)


@register_metric(NAME, "voxel_mse")
def _voxel_mse(device: torch.device) -> VoxelMSE:
    return VoxelMSE()


class VoxelSet:
    """The evaluation set: every ``.npy`` volume of a folder, float32 [N, 1, D, H, W] in [0, 1]."""

    modality = NAME

    def __init__(self, root: str, volumes: Tensor, names: list[str]):
        self.root, self.volumes, self.names, self.skipped = root, volumes, names, []
        self.fingerprint = hashlib.sha256(volumes.numpy().tobytes()).hexdigest()

    unit = "volumes"
    scale = (0.0, 1.0)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.volumes.shape[2:])

    def __len__(self) -> int:
        return len(self.volumes)

    def batch(self, start: int, stop: int) -> Tensor:
        return self.volumes[start:stop]

    def select(self, indices: list[int]) -> Tensor:
        return self.volumes[indices]

    def stored(self, indices: list[int]) -> Tensor:
        return self.volumes[indices]

    def store(self, x: Tensor) -> Tensor:
        return x.float().cpu()

    def describe(self) -> str:
        return f"{len(self)} voxel volumes from {self.root}"

    def check(self, spec: Any, name: str) -> None:
        if spec.modality != NAME:
            raise ConfigError(f"{name} is a {spec.modality} tokenizer; this evaluation set holds voxel volumes")
        spec.grid(self.sample_shape)

    def protocol_fields(self) -> dict[str, Any]:
        return {"resolution": self.sample_shape[0], "policy": "volumes as stored", "details": {}}


class VoxelModality(Modality):
    name = NAME
    axes = ("depth", "height", "width")
    letters = ("D", "H", "W")
    plural = "volumes"
    file_suffixes = frozenset({".npy"})
    conventions = ("voxel values in [0, 1]; MSE per volume",)
    value_unit = "voxel"

    def encode_file(self, path: Path, tokenizer: Any, options: dict[str, Any], device: Any) -> tuple[Tensor, dict]:
        low, high = tokenizer.spec.value_range
        x = read_volume(path) * (high - low) + low
        return tokenizer.encode(x.unsqueeze(0).to(device)), {}

    def output_name(self, token_file: Path) -> Path:
        name = token_file.name.removesuffix(".safetensors")
        return token_file.with_name(name if name.endswith(".npy") else f"{name}.npy")

    def write(self, target: Path, media: Tensor, spec: Any, record: dict | None = None) -> None:
        low, high = spec.value_range
        volume = ((media[0, 0] - low) / (high - low)).clamp(0, 1).numpy()
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.save(handle, volume)

    def eval_set(self, source: str, spec: Any, options: dict[str, Any]) -> VoxelSet:
        files = self.list_files(Path(source))
        volumes = torch.stack([read_volume(f) for f in files])
        return VoxelSet(source, volumes, [f.name for f in files])

    def heldout_metrics(self) -> tuple[str, ...]:
        return ("voxel_mse",)

    def heldout_baselines(self, spec: Any, x: Tensor) -> tuple[dict[str, Tensor], str]:
        return {"mean_volume": x.float().mean(0, keepdim=True).expand_as(x)}, "Baseline: the mean held-out volume."


register_modality(VoxelModality())


class VoxelData(pl.LightningDataModule):
    """Generated volumes as batches ``{"volume": [B, 1, D, H, W] in [0, 1]}``: train, val and test draws differ."""

    def __init__(self, train: int = 64, test: int = 8, batch_size: int = 8, seed: int = 0):
        super().__init__()
        self.batch_size = batch_size
        self.train_data = [{"volume": v} for v in make_volumes(train, seed)]
        self.val_data = [{"volume": v} for v in make_volumes(test, seed + 1)]
        self.test_data = [{"volume": v} for v in make_volumes(test, seed + 2)]

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_data, batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_data, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_data, batch_size=self.batch_size)


class VoxelEncoder(nn.Sequential, Configurable):
    """[B, 1, D, H, W] -> [B, 4, D/2, H/2, W/2]."""

    def __init__(self, width: int = 16):
        super().__init__(nn.Conv3d(1, width, 3, padding=1), nn.GELU(), nn.Conv3d(width, 4, 2, stride=2))
        self.width = width


class VoxelDecoder(nn.Sequential, Configurable):
    """[B, 4, D/2, H/2, W/2] -> [B, 1, D, H, W]."""

    def __init__(self, width: int = 16):
        super().__init__(nn.ConvTranspose3d(4, width, 2, stride=2), nn.GELU(), nn.Conv3d(width, 1, 3, padding=1))
        self.width = width
