"""Every tokenizer family cast to bf16 / fp16 on the GPU (marker ``gpu``; ``benchmarks/gpu_check.sh`` runs it): the
checks of ``tests/models/test_precision.py`` on CUDA, and ``omnitok encode --device cuda --dtype bf16``."""

from __future__ import annotations

import pytest
import torch

from tests.models.families import FAMILIES
from tests.models.test_precision import BOUNDS, compare

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", list(BOUNDS), ids=str)
@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_codes_cast_on_the_gpu(name, dtype):
    lowest, latent_bound, decode_bound = BOUNDS[dtype]
    for part, row in compare(name, dtype, device="cuda").items():
        print(f"{name} {part} {dtype}: {row}")
        assert row.get("agreement", 1.0) >= lowest, (part, row)
        assert row.get("latent_error", 0.0) <= latent_bound, (part, row)
        assert row.get("decode_error", 0.0) <= decode_bound, (part, row)


def test_encode_on_the_gpu_in_bf16_from_the_command_line(tmp_path):
    from torchvision.io import write_png

    from omnitok.cli.main import main
    from omnitok.resolve import load_tokenizer
    from omnitok.tokens import load_tokens
    from tests.models.families import tiny_image_tokenizers

    tiny_image_tokenizers()["vq"].save_pretrained(tmp_path / "tok")
    (tmp_path / "images").mkdir()
    image = (torch.rand(3, 64, 64) * 255).to(torch.uint8)
    write_png(image, str(tmp_path / "images" / "a.png"))
    argv = ["--tokenizer", str(tmp_path / "tok"), "--device", "cuda", "--dtype", "bf16"]
    assert main(["encode", str(tmp_path / "images"), *argv, "--out", str(tmp_path / "t")]) == 0
    tokens, _ = load_tokens(tmp_path / "t" / "a.png.safetensors")
    tokenizer = load_tokenizer(tmp_path / "tok", device="cuda", dtype="bf16")
    assert tokenizer.device.type == "cuda" and tokenizer.quantizer.codebook.dtype == torch.float32
    full = load_tokenizer(tmp_path / "tok", device="cuda").encode(image.float().unsqueeze(0).cuda() / 127.5 - 1)
    assert tokens.shape == full.shape and (tokens == full.cpu()).float().mean() > 0.9  # bf16 encoder rounding
    assert main(["decode", str(tmp_path / "t"), *argv, "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "a.png").is_file()
