"""A modality defined entirely under tests/ (``tests.modalities.voxels``: 3-D voxel volumes [B, 1, D, H, W] in
[0, 1], no time axis) gets training, ``omnitok encode``/``decode``/``eval`` run as subprocesses, and packing into
a shared vocabulary, with no change to omnitok/, trainers/ or cli/."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from omnitok.modalities import get_modality
from omnitok.protocol import TokenizerSpec
from omnitok.unified import ByteTextVocabulary, MediaSpan, SharedVocabulary
from tests.modalities.voxels import NAME, make_volumes

ROOT = Path(__file__).resolve().parents[2]
RECIPE = {
    "seed": 0,
    "model": {
        "class_path": "omnitok.trainers.TokenizerTrainer",
        "init_args": {
            "tokenizer": {
                "class_path": "omnitok.models.Autoencoder",
                "init_args": {
                    "modality": NAME,
                    "encoder": {"class_path": "tests.modalities.voxels.VoxelEncoder", "init_args": {"width": 8}},
                    "quantizer": {
                        "class_path": "omnitok.quantizers.VectorQuantizer",
                        "init_args": {"dim": 4, "codebook_size": 16},
                    },
                    "decoder": {"class_path": "tests.modalities.voxels.VoxelDecoder", "init_args": {"width": 8}},
                    "downsample": [2, 2, 2],
                    "channels": 1,
                    "value_range": [0.0, 1.0],
                },
            },
            "losses": [{"class_path": "omnitok.trainers.ReconstructionLoss", "init_args": {"kind": "l2"}}],
            "media_key": "volume",
            "learning_rate": 3.0e-3,
            "warmup_steps": 0,
        },
    },
    "data": {"class_path": "tests.modalities.voxels.VoxelData", "init_args": {"train": 32, "test": 8}},
    "trainer": {
        "max_steps": 30,
        "accelerator": "cpu",
        "devices": 1,
        "val_every": 15,
        "checkpoint_every": 15,
        "loggers": ["csv"],
        "progress_bar": False,
        "heldout_samples": 8,
    },
}


def omnitok(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "omnitok.cli.main", *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )


@pytest.mark.xdist_group("subprocess-cli")
def test_a_modality_defined_in_tests_trains_encodes_decodes_and_evaluates(tmp_path):
    recipe = tmp_path / "voxel.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    run = omnitok("train", "--config", str(recipe), "--out", str(tmp_path / "run"), "--trust-remote-code")
    assert run.returncode == 0, run.stderr[-3000:]
    tokenizer = tmp_path / "run" / "tokenizer"
    heldout = json.loads((tmp_path / "run" / "heldout.json").read_text())
    assert heldout["modality"] == NAME and heldout["voxel_mse_after"] < heldout["voxel_mse_before"]
    assert json.loads((tokenizer / "config.json").read_text())["modality"] == "tests.modalities.voxels.VoxelModality"

    volumes = tmp_path / "volumes"
    volumes.mkdir()
    originals = make_volumes(3, seed=5)[:, 0].numpy()
    for i, volume in enumerate(originals):
        np.save(volumes / f"v{i}.npy", volume)

    refused = omnitok("encode", str(volumes), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "tokens"))
    assert refused.returncode == 2 and "trust" in refused.stderr and "Traceback" not in refused.stderr

    encoded = omnitok(
        "encode", str(volumes), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "tokens"), "--trust-remote-code"
    )
    assert encoded.returncode == 0, encoded.stderr[-3000:]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "tokens" / "v0.npy.safetensors"), "pt") as tokens:
        assert tuple(tokens.get_tensor("indices").shape) == (1, 4, 4, 4)  # 8^3 voxels / 2 per axis

    decoded = omnitok(
        "decode", str(tmp_path / "tokens"), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "decoded"),
        "--trust-remote-code",
    )  # fmt: skip
    assert decoded.returncode == 0, decoded.stderr[-3000:]
    back = np.stack([np.load(tmp_path / "decoded" / f"v{i}.npy") for i in range(3)])
    assert back.shape == originals.shape and back.min() >= 0 and back.max() <= 1
    mse = float(((back - originals) ** 2).mean())
    assert mse < float(((originals - originals.mean()) ** 2).mean())  # better than the mean voxel value

    report = tmp_path / "report"
    evaluated = omnitok(
        "eval", "--tokenizer", str(tokenizer), "--data", str(volumes), "--out", str(report), "--trust-remote-code",
        "--show", "0", "--worst", "0",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads((report / "metrics.json").read_text())
    text = json.dumps(metrics)
    assert "voxel_mse" in text and "bits_per_voxel" in text and (report / "report.html").is_file()


def test_voxel_spans_pack_and_unpack_in_a_shared_vocabulary():
    import tests.modalities.voxels  # noqa: F401 (registers the modality)

    spec = TokenizerSpec(NAME, True, codebook_sizes=(16,), latent_dim=4, downsample=(2, 2, 2), channels=1)
    vocab = SharedVocabulary(ByteTextVocabulary(), {"vox": spec}, separators=True)
    grid = torch.randint(0, 16, (2, 3, 4), generator=torch.Generator().manual_seed(0))
    packed = vocab.pack(["a ball", MediaSpan("vox", grid)])
    begin, end = packed.ids.tolist().index(vocab.begin_id("vox")), packed.ids.tolist().index(vocab.end_id("vox"))
    cells = packed.ids[begin + 1 : end].tolist()
    assert cells.count(vocab.row_sep_id) == 2 * 3 and cells.count(vocab.frame_sep_id) == 2  # rows, then slices
    assert len(cells) == 2 * 3 * 4 + 6 + 2
    (span,) = [s for s in vocab.unpack(packed.ids) if isinstance(s, MediaSpan)]
    assert span.name == "vox" and torch.equal(span.tokens[0], grid)
    assert get_modality(NAME).layout == "[B, C, D, H, W]"
