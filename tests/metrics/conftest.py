"""Real photographs (scikit-image's bundled data) and realistic distortions of them, as [N, 3, H, W] in [0, 1]."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch


def photo_crops(size: int, per_photo: int, seed: int = 0) -> torch.Tensor:
    """``per_photo`` random ``size`` x ``size`` crops of each of astronaut, coffee and chelsea: [N, 3, size, size]."""
    from skimage import data

    rng = np.random.default_rng(seed)
    crops = []
    for photo in (data.astronaut(), data.coffee(), data.chelsea()):
        height, width = photo.shape[:2]
        for _ in range(per_photo):
            top, left = rng.integers(0, height - size), rng.integers(0, width - size)
            crops.append(photo[top : top + size, left : left + size])
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255


def add_noise(x: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=generator)).clamp(0, 1)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur

    return gaussian_blur(x, kernel_size=2 * round(3 * sigma) + 1, sigma=sigma).clamp(0, 1)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Each image through a real JPEG encode/decode at ``quality`` (Pillow)."""
    from PIL import Image

    out = []
    for image in x:
        array = (image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
        out.append(torch.from_numpy(np.asarray(Image.open(buffer).convert("RGB")).copy()))
    return torch.stack(out).permute(0, 3, 1, 2).float() / 255


DISTORTIONS = {
    "noise": lambda x: add_noise(x, 0.05),
    "blur": lambda x: blur(x, 1.5),
    "jpeg": lambda x: jpeg(x, 20),
    "noise+blur": lambda x: add_noise(blur(x, 1.0), 0.02),
}


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    """12 crops of 96 x 96 from three real photos: [12, 3, 96, 96] in [0, 1]."""
    return photo_crops(96, 4)
