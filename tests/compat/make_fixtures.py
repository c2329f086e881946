"""Write the compatibility fixtures: files as a given omnitok version writes them, kept in the repository so that
later versions are tested against them (``test_old_files.py``).

    .venv/bin/python -m tests.compat.make_fixtures tests/compat/v0_1

Run it only to add a fixture set for a new file format; a set once committed is never rewritten. Each set holds:
``recipe.yaml`` (a tiny GAN recipe with EMA, discriminator from step 1), ``train_step2.ckpt`` (its checkpoint
after 2 steps), ``image_tokenizer/`` (that run's export), ``audio_tokenizer/`` and ``video_tokenizer/`` (random
weights), one token file per modality with the inputs they encode (``inputs/``), and ``expected.safetensors``:
what decoding each token file gave, and the live weights after resuming the checkpoint for one more step.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch
import yaml

from omnitok.cli.main import main
from omnitok.config import load_yaml_config, set_by_path
from omnitok.hub import load_tokenizer
from omnitok.tokens import read_token_file

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "image"
TINY = {
    "model.tokenizer.encoder.base_channels": 4,
    "model.tokenizer.encoder.channel_multipliers": [1, 2, 2],
    "model.tokenizer.encoder.norm_groups": 4,
    "model.tokenizer.encoder.out_channels": 8,
    "model.tokenizer.decoder.base_channels": 4,
    "model.tokenizer.decoder.channel_multipliers": [1, 2, 2],
    "model.tokenizer.decoder.norm_groups": 4,
    "model.tokenizer.decoder.in_channels": 8,
    "model.tokenizer.quantizer.dim": 8,
    "model.tokenizer.quantizer.codebook_size": 64,
    "model.tokenizer.quantizer.codebook_dim": 4,
    "model.tokenizer.quantizer.dead_code_threshold": 0.0,
    "model.adversarial.discriminator.base_channels": 4,
    "model.adversarial.start_step": 1,
    "model.warmup_steps": 1,
    "data.size": 16,
    "data.batch_size": 2,
    "data.num_workers": 0,
    "data.max_val_samples": 2,
    "trainer.max_steps": 2,
    "trainer.val_every": 2,
    "trainer.checkpoint_every": 2,
    "trainer.log_every": 1,
    "trainer.progress_bar": False,
    "trainer.heldout_samples": 2,
}


def fixture_recipe() -> dict:
    config = load_yaml_config(CONFIGS / "quickstart_vq.yaml")
    for key, value in TINY.items():
        set_by_path(config, key, value)
    return config


def write_inputs(folder: Path) -> None:
    """The media the token files encode: a 16x16 PNG, 0.1 s of 16 kHz audio, a 5-frame 16x16 clip."""
    from torchvision.io import write_png

    from omnitok.data import harmonic_chirp, write_moving_shapes

    folder.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    write_png(torch.randint(0, 256, (3, 16, 16), generator=generator, dtype=torch.uint8), str(folder / "image.png"))
    soundfile.write(str(folder / "audio.wav"), harmonic_chirp(0.1, 16_000, seed=1)[0].numpy(), 16_000)
    write_moving_shapes(folder / "video", count=1, frames=5, size=16, fps=8)


def main_(out: Path) -> None:
    from safetensors.torch import save_file

    from tests.nn.audio_models import QUANTIZERS, tiny_codec
    from tests.nn.video_models import tiny_causal_video_tokenizer

    if out.exists():
        raise SystemExit(f"{out} exists; fixture sets are never rewritten")
    out.mkdir(parents=True)
    (out / "recipe.yaml").write_text(yaml.safe_dump(fixture_recipe(), sort_keys=False))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        assert main(["train", "--config", str(out / "recipe.yaml"), "--out", str(run)]) == 0
        shutil.copy(run / "checkpoints" / "last.ckpt", out / "train_step2.ckpt")
        shutil.copytree(run / "tokenizer", out / "image_tokenizer")
        assert main(["train", "--resume", str(run), "--set", "trainer.max_steps=3"]) == 0
        from omnitok.trainers.export import tokenizer_from_checkpoint

        resumed = tokenizer_from_checkpoint(run / "checkpoints" / "last.ckpt", weights="live").state_dict()
    torch.manual_seed(0)
    tiny_codec(QUANTIZERS["rvq_dropout"]()).eval().save_pretrained(out / "audio_tokenizer")
    torch.manual_seed(0)
    tiny_causal_video_tokenizer(base_channels=4).save_pretrained(out / "video_tokenizer")
    write_inputs(out / "inputs")
    expected = {f"resumed_step3.{k}": v.contiguous() for k, v in resumed.items()}
    for modality, source in (("image", "image.png"), ("audio", "audio.wav"), ("video", "video")):
        tokenizer = out / f"{modality}_tokenizer"
        assert (
            main(["encode", str(out / "inputs" / source), "--tokenizer", str(tokenizer), "--out", str(out / "tokens")])
            == 0
        )
    for token_file in sorted((out / "tokens").rglob("*.safetensors")):
        file = read_token_file(token_file)
        tokenizer = load_tokenizer(out / f"{file.spec.modality}_tokenizer")
        with torch.no_grad():
            expected[f"decoded.{file.spec.modality}"] = tokenizer.decode(file.tokens).contiguous()
    save_file(
        expected, str(out / "expected.safetensors"), metadata={"torch": torch.__version__, "numpy": np.__version__}
    )


if __name__ == "__main__":
    main_(Path(sys.argv[1]))
