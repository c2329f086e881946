"""Tiny versions of the omni recipes (configs/omni/) for tests: the same classes and code paths, seconds on a CPU."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omnitok.config import load_yaml_config, set_by_path

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "omni"
DIM = 8
BRANCHES = "model.tokenizer.branches"

SPECTRAL_AUDIO = {"channels": 16, "blocks": 1}  # the quickstart's audio branch (MelEncoder / ISTFTDecoder)
SEANET_AUDIO = {"base_channels": 4, "dilations": [1]}  # the GPU recipe's (SEANetEncoder / SEANetDecoder)

# image 16x16 -> 4x4 tokens (2 per step), video 5x16x16 -> 3x8x8 (1 per step), audio 0.2 s -> 10 tokens (2 per step)
TINY = {
    "model.tokenizer.quantizer.dim": DIM,
    "model.tokenizer.quantizer.codebook_size": 32,
    "model.tokenizer.quantizer.codebook_dim": DIM,
    **{f"{BRANCHES}.{m}.encoder.out_channels": DIM for m in ("image", "video")},
    **{f"{BRANCHES}.{m}.decoder.in_channels": DIM for m in ("image", "video", "audio")},
    f"{BRANCHES}.audio.encoder.out_channels": DIM,
    **{
        f"{BRANCHES}.image.{part}.{k}": v
        for part in ("encoder", "decoder")
        for k, v in {
            "base_channels": 8,
            "channel_multipliers": [1, 2, 2],
            "num_res_blocks": 1,
            "mid_attention": False,
            "norm_groups": 4,
        }.items()
    },
    **{
        f"{BRANCHES}.video.{part}.{k}": v
        for part in ("encoder", "decoder")
        for k, v in {
            "base_channels": 8,
            "channel_multipliers": [1, 2],
            "num_res_blocks": 1,
            "temporal_downsample": 2,
            "attention": False,
            "norm_groups": 4,
            "gradient_checkpointing": False,
        }.items()
    },
    **{f"{BRANCHES}.audio.{part}.{k}": v for part in ("encoder", "decoder") for k, v in SPECTRAL_AUDIO.items()},
    "model.warmup_steps": 2,
    "data.image.root": "builtin",
    "data.image.val_root": None,
    "data.image.size": 16,
    "data.image.batch_size": 2,
    "data.image.num_workers": 0,
    "data.image.max_val_samples": 4,
    "data.video.root": "generated",
    "data.video.val_root": None,
    "data.video.stride": 1,
    "data.video.generated_clips": 8,
    "data.video.frames": 5,
    "data.video.size": 16,
    "data.video.batch_size": 1,
    "data.video.num_workers": 0,
    "data.video.max_val_samples": 2,
    "data.audio.root": "generated",
    "data.audio.generated_engine": "chirp",
    "data.audio.generated_clips": 12,
    "data.audio.heldout_clips": 2,
    "data.audio.segment_seconds": 0.2,
    "data.audio.val_segment_seconds": 0.2,
    "data.audio.batch_size": 2,
    "data.audio.num_workers": 0,
    "data.audio.val_fraction": 0.2,
    "data.audio.max_val_samples": 2,
    "trainer.precision": "32-true",
    "trainer.accelerator": "cpu",
    "trainer.devices": 1,
    "trainer.strategy": "auto",
    "trainer.max_steps": 4,
    "trainer.val_every": 2,
    "trainer.checkpoint_every": 2,
    "trainer.keep_checkpoint_every": 0,
    "trainer.log_every": 1,
    "trainer.progress_bar": False,
    "trainer.heldout_samples": 4,
}
TOKENS_PER_STEP = {"image": 2 * 4 * 4, "video": 1 * 3 * 8 * 8, "audio": 2 * 10}


def tiny_omni_recipe(folder: Path, name: str = "quickstart", **overrides: Any) -> dict[str, Any]:
    """configs/omni/<name>.yaml shrunk by TINY (generated speech in ``folder``), then ``overrides`` ('__' for '.')."""
    config = load_yaml_config(CONFIGS / f"{name}.yaml")
    audio = config["model"]["init_args"]["tokenizer"]["init_args"]["branches"]["audio"]["init_args"]["encoder"]
    shrink = SEANET_AUDIO if audio["class_path"] == "omnitok.nn.SEANetEncoder" else SPECTRAL_AUDIO
    settings = {
        **{k: v for k, v in TINY.items() if not k.startswith(f"{BRANCHES}.audio.") or k.endswith("_channels")},
        **{f"{BRANCHES}.audio.{part}.{k}": v for part in ("encoder", "decoder") for k, v in shrink.items()},
        "data.audio.generated_folder": str(folder),
        **{k.replace("__", "."): v for k, v in overrides.items()},
    }
    for key, value in settings.items():
        set_by_path(config, key, copy.deepcopy(value))
    return config


def overrides_as_cli(folder: Path) -> list[str]:
    """TINY as ``omnitok train --set KEY=VALUE`` arguments (YAML values)."""
    import yaml

    settings = {**TINY, "data.audio.generated_folder": str(folder)}
    return [
        arg
        for k, v in settings.items()
        for arg in ("--set", f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}")
    ]


def short_run_recipe(folder: Path, steps: int, **overrides: Any) -> dict[str, Any]:
    """:func:`tiny_omni_recipe` for a multi-process comparison: ``steps`` steps, one validation and checkpoint at the
    end, no held-out scoring."""
    settings = {"trainer__val_every": steps, "trainer__checkpoint_every": steps, "trainer__heldout_samples": 0}
    return tiny_omni_recipe(folder, trainer__max_steps=steps, **settings, **overrides)


def per_process_batches(batch: dict[str, int], processes: int) -> list[str]:
    """``--set`` arguments giving each of ``processes`` processes its share of every modality's per-step batch."""
    return [a for m, b in batch.items() for a in ("--set", f"data.{m}.batch_size={b // processes}")]
