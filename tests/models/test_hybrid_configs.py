"""Every recipe under configs/hybrid builds its tokenizer; real-scale recipes name real, pretrained teachers whose
width matches the semantic head (the teachers themselves are swapped for random tiny ones here: no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omnitok.config import instantiate, load_yaml_config

ROOT = Path(__file__).resolve().parents[2] / "configs" / "hybrid"
RECIPES = sorted(p for p in ROOT.glob("*.yaml"))
TEACHER_WIDTH = {  # published widths of the named towers
    "vit_base_patch16_siglip_224.v2_webli": 768,
    "vit_so400m_patch14_siglip_384.webli": 1152,
    "HUBERT_BASE": 768,
}


def _teachers(node, found):
    if isinstance(node, dict):
        if str(node.get("class_path", "")).startswith("omnitok.semantic."):
            found.append(node)
        for value in node.values():
            _teachers(value, found)
    elif isinstance(node, list):
        for value in node:
            _teachers(value, found)
    return found


def test_every_design_has_a_quickstart_and_a_real_recipe():
    names = {p.stem for p in RECIPES}
    for design in ("distilled_vq", "dual_codebook", "decoupled", "speech_distilled_rvq"):
        assert f"quickstart_{design}" in names
    assert {
        "distilled_vq_f16_siglip2",
        "dual_codebook_f16_siglip2",
        "decoupled_siglip_vq_f16",
        "speech_rvq_hubert",
    } <= names


@pytest.mark.parametrize(
    "path",
    [p if p.stem.startswith("quickstart") else pytest.param(p, marks=pytest.mark.slow) for p in RECIPES],
    ids=[p.stem for p in RECIPES],
)  # real-scale networks take minutes to build on a busy 2-core machine
def test_hybrid_recipe_builds(path):
    from omnitok.trainers.run import check_recipe

    config = load_yaml_config(path)
    settings = check_recipe(config)
    teachers = _teachers(config["model"], [])
    assert teachers, "a hybrid recipe names a teacher"
    quickstart = path.stem.startswith("quickstart")
    tokenizer_config = config["model"]["init_args"]["tokenizer"]
    head = tokenizer_config["init_args"].get("semantic_head")
    for teacher in teachers:
        args = teacher["init_args"]
        if teacher["class_path"].endswith("SceneTeacher"):
            assert quickstart and args["train_if_missing"]
            if head is not None:
                assert head["init_args"]["out_channels"] == args["channels"]
            teacher["init_args"] = {"weights": None, "channels": args["channels"]}
        elif not quickstart:
            assert args["pretrained"] is True  # the real path
            name = args.get("model_name") or args.get("bundle")
            if head is not None:
                assert head["init_args"]["out_channels"] == TEACHER_WIDTH[name]
            teacher["init_args"] = {"model_name": "vit_tiny_patch16_224", "pretrained": False, "image_size": 32}
            if "bundle" in args:
                teacher["class_path"] = (
                    "omnitok.semantic.VisionTeacher"  # never built: the speech head is checked above
                )
    if quickstart:
        assert settings.accelerator == "auto"
    if not quickstart and "audio" not in str(tokenizer_config):
        assert settings.precision == "bf16-mixed"
    tokenizer = instantiate(tokenizer_config).eval()
    audio = tokenizer.spec.modality == "audio"
    x = torch.rand(1, 1, 1280) * 0.2 - 0.1 if audio else torch.rand(1, 3, 32, 32) * 2 - 1
    generation = getattr(tokenizer, "generation", tokenizer)
    tokens = generation.encode(x)
    assert generation.decode(tokens).shape == x.shape
    if hasattr(tokenizer, "decode_semantic"):
        assert tokenizer.decode_semantic(tokens).shape[1] == head["init_args"]["out_channels"]
