"""Each hybrid design trains a few steps from its quickstart config (shrunk), through the generic trainer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omnitok.config import load_yaml_config, set_by_path

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "hybrid"
RUN = {
    "model.warmup_steps": 1,
    "trainer.max_steps": 3,
    "trainer.val_every": 3,
    "trainer.checkpoint_every": 3,
    "trainer.log_every": 1,
    "trainer.progress_bar": False,
}
IMAGE = {"data.size": 16, "data.batch_size": 4, "data.max_val_samples": 4, "trainer.heldout_samples": 4}
AUDIO = {"data.generated_clips": 6, "data.batch_size": 2, "data.segment_seconds": 0.2, "data.max_val_samples": 2}


def _random_teachers(node):
    """Random-init scene teachers (no weights file) everywhere in a config, so tests never train one."""
    if isinstance(node, dict):
        if node.get("class_path") == "omnitok.semantic.SceneTeacher":
            node["init_args"] = {"weights": None, "channels": 16}
        for value in node.values():
            _random_teachers(value)
    elif isinstance(node, list):
        for value in node:
            _random_teachers(value)


def _shrink_conv(node):
    """Narrow every conv encoder/decoder of a config (8 base channels, 4 norm groups)."""
    if isinstance(node, dict):
        if node.get("class_path") in ("omnitok.nn.ConvEncoder2d", "omnitok.nn.ConvDecoder2d"):
            node["init_args"].update(base_channels=8, norm_groups=4)
        for value in node.values():
            _shrink_conv(value)
    elif isinstance(node, list):
        for value in node:
            _shrink_conv(value)


def tiny_hybrid(name: str) -> dict:
    config = load_yaml_config(CONFIGS / f"{name}.yaml")
    _random_teachers(config)
    _shrink_conv(config)
    for key, value in {**RUN, **(AUDIO if "speech" in name else IMAGE)}.items():
        set_by_path(config, key, value)
    for term in config["model"]["init_args"]["losses"]:  # keep the heads the size of the random teacher
        if term["class_path"].endswith("SemanticDistillationLoss") and "SceneTeacher" in str(term):
            config["model"]["init_args"]["tokenizer"]["init_args"]["semantic_head"]["init_args"]["out_channels"] = 16
    if "adversarial" in config["model"]["init_args"]:
        config["model"]["init_args"]["adversarial"] = None
    return config


@pytest.mark.parametrize(
    "name",
    ["quickstart_distilled_vq", "quickstart_dual_codebook", "quickstart_decoupled", "quickstart_speech_distilled_rvq"],
)
def test_hybrid_quickstart_trains_and_exports(name, tmp_path):
    import omnitok
    from omnitok.trainers import train

    result = train(tiny_hybrid(name), tmp_path)
    assert result.step == 3
    tokenizer = omnitok.load_tokenizer(result.tokenizer)
    if name == "quickstart_decoupled":
        assert set(tokenizer.spans) == {"understanding", "generation"}
        x = torch.rand(1, 3, 16, 16) * 2 - 1
        assert tokenizer.generation.decode(tokenizer.generation.encode(x)).shape == x.shape
        return
    if name.startswith("quickstart_speech"):
        x = torch.rand(1, 1, 3200) * 0.2 - 0.1
    else:
        x = torch.rand(1, 3, 16, 16) * 2 - 1
    tokens = tokenizer.encode(x)
    assert tokenizer.decode(tokens).shape == x.shape
    assert tokenizer.decode_semantic(tokens).shape[2:] == tokens.shape[1 : 1 + x.ndim - 2]


@pytest.mark.slow  # 30 steps: ~30 s on an idle 2-core machine, minutes on a shared one
def test_distillation_term_is_logged_and_lowers(tmp_path):
    """A longer tiny run: the distillation loss is logged each step and falls from its start."""
    import csv

    from omnitok.trainers import train

    config = tiny_hybrid("quickstart_distilled_vq")
    for key, value in {"trainer.max_steps": 30, "trainer.val_every": 30, "trainer.checkpoint_every": 30,
                       "model.learning_rate": 3e-3, "model.tokenizer.quantizer.kmeans_init": False}.items():  # fmt: skip
        set_by_path(config, key, value)
    train(config, tmp_path)
    rows = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    values = [float(r["train/loss_distill"]) for r in rows if r.get("train/loss_distill")]
    assert len(values) >= 20
    assert sum(values[-5:]) / 5 < sum(values[:5]) / 5
