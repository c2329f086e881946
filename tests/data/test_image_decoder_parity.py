"""The image decoder (Pillow) gives the pixels torchvision's decoder gives, on valid files of every mode it reads;
the decoder was swapped because torchvision's libpng path crashes the process on a corrupt stream."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as samples
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from omnitok.data import decode_image_bytes

PHOTO = samples.astronaut()[100:164, 150:230]  # 64 x 80 RGB crop of a real photo


def _encoded(mode: str, fmt: str, **options) -> bytes:
    image = Image.fromarray(PHOTO)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    elif mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


CASES = {
    "png-rgb": ("RGB", "PNG", {}),
    "png-rgba": ("RGBA", "PNG", {}),
    "png-gray-alpha": ("LA", "PNG", {}),
    "png-palette": ("P", "PNG", {}),
    "png-1bit": ("1", "PNG", {}),
    "png-16bit-gray": ("I;16", "PNG", {}),
    "jpeg-q50": ("RGB", "JPEG", {"quality": 50}),
    "jpeg-q95-444": ("RGB", "JPEG", {"quality": 95, "subsampling": 0}),
    "jpeg-gray": ("L", "JPEG", {"quality": 90}),
    "gif": ("P", "GIF", {}),
    "webp-lossless": ("RGB", "WEBP", {"lossless": True}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_pixels_as_torchvision(case):
    data = _encoded(*CASES[case][:2], **CASES[case][2])
    reference = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    if reference.ndim == 4:  # GIF: the first frame
        reference = reference[0]
    if reference.dtype != torch.uint8:  # 16-bit PNG
        reference = TF.to_dtype(reference, torch.uint8, scale=True)
    assert torch.equal(decode_image_bytes(data, case), reference)
