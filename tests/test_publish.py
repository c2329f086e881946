"""``omnitok push`` / ``push_to_hub``: the uploaded folder and its model card, against a mocked ``HfApi``."""

import hashlib
import json
from pathlib import Path
from typing import ClassVar

import pytest

from omnitok.calibration import LatentCalibration, record_calibration
from omnitok.cli.main import main
from omnitok.publish import push_to_hub
from omnitok.quantizers import GaussianQuantizer
from tests.test_calibration import tiny

HELDOUT = """# Held-out reconstruction (8 images, 32x32)

| reconstruction | PSNR (dB) ↑ |
|---|---|
| tokenizer after 10 steps | **21.37** |
| baseline: mean colour | 17.49 |
"""


class FakeApi:
    """Records what ``push_to_hub`` asks of huggingface_hub.HfApi (no network)."""

    calls: ClassVar[list] = []
    uploaded: ClassVar[dict] = {}
    fail = False

    def __init__(self, token=None):
        FakeApi.calls.append(("init", token))

    def create_repo(self, repo_id, **kwargs):
        if FakeApi.fail:
            raise OSError("401 Client Error: Unauthorized")
        FakeApi.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        FakeApi.calls.append(("upload_folder", repo_id, kwargs))
        root = Path(folder_path)
        FakeApi.uploaded = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()


@pytest.fixture
def fake_api(monkeypatch):
    FakeApi.calls, FakeApi.uploaded, FakeApi.fail = [], {}, False
    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    return FakeApi


@pytest.fixture
def run_folder(tmp_path):
    """A training run as ``omnitok train`` leaves it: recipe, held-out figures, report, and the tokenizer."""
    run = tmp_path / "run"
    folder = tiny(GaussianQuantizer(4)).save_pretrained(run / "tokenizer")
    record_calibration(folder, LatentCalibration(0.5, 0.25, 0.25, 2.0, 4096, 12, "mean", "12 images from builtin"))
    (run / "config.yaml").write_text("trainer:\n  max_steps: 10\nmodel:\n  class_path: TokenizerModule\n")
    (run / "heldout.md").write_text(HELDOUT)
    (run / "report" / "figures").mkdir(parents=True)
    metrics = {
        "schema": "omnitok.eval/2",
        "modality": "image",
        "protocol": {"data": "builtin", "fingerprint": "f" * 64, "num_samples": 274, "seed": 0},
        "metrics": {"psnr": {"higher_is_better": True}, "lpips": {"available": False, "reason": "weights not found"}},
        "tokenizers": [{"name": "kl", "reconstruction": {"psnr": 23.456}}],
    }
    (run / "report" / "metrics.json").write_text(json.dumps(metrics))
    (run / "report" / "report.md").write_text("# Reconstruction report\n")
    (run / "report" / "report.html").write_text("<html></html>")
    (run / "report" / "figures" / "rate-distortion.png").write_bytes(b"\x89PNG")
    return run


def test_push_uploads_the_folder_with_a_model_card(run_folder, fake_api, capsys):
    folder = run_folder / "tokenizer"
    assert main(["push", str(folder), "me/tiny-kl", "--private"]) == 0
    assert ("create_repo", "me/tiny-kl", {"private": True, "exist_ok": True, "repo_type": "model"}) in fake_api.calls
    assert set(fake_api.uploaded) == {
        "config.json", "model.safetensors", "calibration.json", "README.md", "training_config.yaml", "heldout.md",
        "report/metrics.json", "report/report.md", "report/report.html", "report/figures/rate-distortion.png",
    }  # fmt: skip
    assert fake_api.uploaded["model.safetensors"] == (folder / "model.safetensors").read_bytes()
    card = fake_api.uploaded["README.md"].decode()
    assert card.startswith("---\n") and "library_name: omnitok" in card and "- image" in card
    assert (
        "omnitok.models.autoencoder.Autoencoder" in card and "omnitok.quantizers.continuous.GaussianQuantizer" in card
    )
    assert "| latent_dim | `4` |" in card and "| discrete | `false` |" in card  # the spec
    assert "`latent_scale` = 0.5, `latent_shift` = 0.25" in card and "12 images from builtin" in card
    assert "max_steps: 10" in card  # the recipe
    assert "| tokenizer after 10 steps | **21.37** |" in card  # measured held-out figures
    assert "| kl | 23.46 |" in card and "report/report.md" in card  # the report's figures and link
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert digest in card
    assert "https://huggingface.co/me/tiny-kl/commit/abc" in capsys.readouterr().out


def test_push_of_a_bare_folder_and_hub_errors(tmp_path, fake_api, capsys):
    folder = tiny(GaussianQuantizer(4)).save_pretrained(tmp_path / "bare")
    url = push_to_hub(folder, "me/bare")
    assert url.endswith("/commit/abc")
    assert set(fake_api.uploaded) == {"config.json", "model.safetensors", "README.md"}
    assert "Not calibrated" in fake_api.uploaded["README.md"].decode()
    fake_api.fail = True
    assert main(["push", str(folder), "me/bare"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omnitok: error:") and "me/bare" in err and "Unauthorized" in err
    assert main(["push", str(tmp_path / "nope"), "me/bare"]) == 2
    assert str(tmp_path / "nope") in capsys.readouterr().err
