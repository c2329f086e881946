"""Tokenizers, a trained run and media shared by the reliability tests (random weights: faults do not care)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from omnitok.config import instantiate
from tests.trainers.recipes import tiny_recipe


@pytest.fixture(scope="session")
def image_tokenizer(tmp_path_factory) -> Path:
    """A tiny VQ image tokenizer (f4, 1024 codes) saved with save_pretrained."""
    torch.manual_seed(0)
    tokenizer = instantiate(tiny_recipe()["model"]["init_args"]["tokenizer"]).eval()
    return tokenizer.save_pretrained(tmp_path_factory.mktemp("image-tok") / "tokenizer")


@pytest.fixture(scope="session")
def other_image_tokenizer(tmp_path_factory) -> Path:
    """The same recipe and spec as ``image_tokenizer`` with other random weights."""
    torch.manual_seed(1)
    tokenizer = instantiate(tiny_recipe()["model"]["init_args"]["tokenizer"]).eval()
    return tokenizer.save_pretrained(tmp_path_factory.mktemp("other-tok") / "tokenizer")


@pytest.fixture(scope="session")
def audio_tokenizer(tmp_path_factory) -> Path:
    """A tiny causal residual-VQ audio codec at 16 kHz (hop 8)."""
    from tests.nn.audio_models import QUANTIZERS, tiny_codec

    torch.manual_seed(0)
    model = tiny_codec(QUANTIZERS["rvq_dropout"]()).eval()
    return model.save_pretrained(tmp_path_factory.mktemp("audio-tok") / "tokenizer")


@pytest.fixture(scope="session")
def video_tokenizer(tmp_path_factory) -> Path:
    """A tiny causal FSQ video tokenizer, f2x2x2."""
    from tests.nn.video_models import tiny_causal_video_tokenizer

    torch.manual_seed(0)
    return tiny_causal_video_tokenizer().save_pretrained(tmp_path_factory.mktemp("video-tok") / "tokenizer")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A tiny image run trained for 2 steps (checkpoints/last.ckpt, config.yaml, tokenizer/). Tests copy it before
    changing anything."""
    from omnitok.cli.main import main

    root = tmp_path_factory.mktemp("run")
    recipe = root / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(trainer__max_steps=2, trainer__checkpoint_every=2)))
    assert main(["train", "--config", str(recipe), "--out", str(root / "run")]) == 0
    return root / "run"


@pytest.fixture
def images(tmp_path) -> Path:
    """A folder of two good 32x32 PNGs (a.png, sub/b.png)."""
    from torchvision.io import write_png

    root = tmp_path / "images"
    for name in ("a.png", "sub/b.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_png((torch.rand(3, 32, 32) * 255).to(torch.uint8), str(root / name))
    return root
