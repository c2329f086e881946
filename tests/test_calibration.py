"""``omnitok calibrate``: latent_scale / latent_shift measured on data (Stable Diffusion's VAE convention)."""

import hashlib
import json

import numpy as np
import pytest
import torch

from omnitok.cli.main import main
from omnitok.evaluation import load_eval_images
from omnitok.hub import load_pretrained
from omnitok.models import Autoencoder
from omnitok.nn import ConvDecoder2d, ConvEncoder2d
from omnitok.quantizers import GaussianQuantizer, VectorQuantizer

CONV = {
    "base_channels": 8,
    "channel_multipliers": [1, 2],
    "num_res_blocks": 1,
    "mid_attention": False,
    "norm_groups": 4,
}


def tiny(quantizer) -> Autoencoder:
    torch.manual_seed(0)
    encoder = ConvEncoder2d(out_channels=quantizer.input_dim, **CONV)
    return Autoencoder(encoder, quantizer, ConvDecoder2d(in_channels=quantizer.dim, **CONV), modality="image").eval()


@pytest.fixture
def kl_folder(tmp_path):
    return tiny(GaussianQuantizer(4)).save_pretrained(tmp_path / "kl")


def calibration_images() -> torch.Tensor:
    """What ``--data builtin --size 32 --max-samples 12`` reads, in the tokenizer's [-1, 1]."""
    return load_eval_images("builtin", resolution=32, max_samples=12).batch(0, 12) * 2 - 1


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("shift", ["mean", "zero"])
def test_calibrated_latents_have_unit_variance_and_round_trips_stay(kl_folder, shift, capsys):
    x = calibration_images()
    before = load_pretrained(kl_folder)
    weights = sha256(kl_folder / "model.safetensors")
    raw = before.encode(x).double().numpy()
    assert abs(raw.std() - 1) > 0.05  # an untrained encoder's latents are not unit-variance to begin with
    argv = ["calibrate", str(kl_folder), "--data", "builtin", "--size", "32", "--max-samples", "12", "--shift", shift]
    assert main(argv) == 0
    after = load_pretrained(kl_folder)
    spec = after.spec
    z = after.encode(x).double().numpy()
    normalized = (z - spec.latent_shift) * spec.latent_scale
    assert np.var(normalized) == pytest.approx(1.0, abs=1e-6)  # numpy's population variance as the reference
    if shift == "mean":
        assert spec.latent_shift == pytest.approx(raw.mean(), rel=1e-9) and abs(normalized.mean()) < 1e-6
    else:
        assert spec.latent_shift == 0.0
    assert spec.latent_scale == pytest.approx(1 / raw.std(), rel=1e-9)
    assert torch.equal(after.decode(after.encode(x)), before.decode(before.encode(x)))  # encode/decode unchanged
    assert sha256(kl_folder / "model.safetensors") == weights  # and so is the weights fingerprint
    record = json.loads((kl_folder / "calibration.json").read_text())
    assert record["shift"] == shift and record["samples"] == 12 and "scaling_factor" in record["convention"]
    assert f"{spec.latent_scale:.6g}" in capsys.readouterr().out


def test_calibrate_refuses_discrete_tokenizers_and_missing_folders(tmp_path, capsys):
    folder = tiny(VectorQuantizer(4, 16)).save_pretrained(tmp_path / "vq")
    config = (folder / "config.json").read_text()
    assert main(["calibrate", str(folder), "--data", "builtin", "--size", "32", "--max-samples", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omnitok: error:") and str(folder) in err and "discrete" in err
    assert (folder / "config.json").read_text() == config and not (folder / "calibration.json").exists()
    assert main(["calibrate", str(tmp_path / "nope"), "--data", "builtin"]) == 2
    assert str(tmp_path / "nope") in capsys.readouterr().err
