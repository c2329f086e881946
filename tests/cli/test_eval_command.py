"""``omnitok eval`` end to end, the shared tokenizer resolver, and the command's error messages."""

import json

import pytest
import torch
from torchvision.io import write_png

from omnitok import ConfigError
from omnitok.cli.main import main
from omnitok.config import instantiate
from omnitok.resolve import resolve_tokenizer
from tests.evaluation.toy_tokenizers import PoolingQuantizer
from tests.models.test_autoencoder_hub import CONFIG


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    for i in range(5):
        (folder / f"set{i % 2}").mkdir(parents=True, exist_ok=True)
        write_png(torch.randint(0, 256, (3, 36 + 4 * i, 40), dtype=torch.uint8), str(folder / f"set{i % 2}" / f"{i}.png"))
    return folder


def test_eval_compares_a_saved_tokenizer_with_a_users_own_object(photos, tmp_path, capsys):
    saved = instantiate(CONFIG).eval().save_pretrained(tmp_path / "runs" / "fsq" / "tokenizer")
    out = tmp_path / "report"
    code = main(["eval", "--tokenizer", str(saved), "--tokenizer", "tests.evaluation.toy_tokenizers:pooling",
                 "--data", str(photos), "--out", str(out), "--resolution", "32", "--show", "2", "--worst", "1"])
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert [t["name"] for t in doc["tokenizers"]] == ["fsq", "pooling"]
    assert doc["samples"] == ["set0/0.png", "set0/2.png", "set0/4.png", "set1/1.png", "set1/3.png"]
    for name in ("lpips", "rfid"):  # no pretrained weights offline: said so, never a number from a random network
        assert doc["metrics"][name]["available"] is False and "weights" in doc["metrics"][name]["reason"]
        assert all(name not in t["reconstruction"] for t in doc["tokenizers"])
    assert {"psnr", "ssim"} <= set(doc["tokenizers"][0]["reconstruction"])
    assert (out / "report.html").is_file() and "report:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "no image files"),
        ("missing_module", "cannot import"),
        ("not_a_tokenizer", "not a tokenizer"),
        ("odd_resolution", "cannot take 30x30"),
        ("existing_report", "not empty"),
    ],
)
def test_eval_errors_are_clear_messages(setup, message, photos, tmp_path, capsys):
    data, ref, out, extra = str(photos), "tests.evaluation.toy_tokenizers:pooling", tmp_path / "report", []
    if setup == "empty":
        (tmp_path / "empty").mkdir()
        data = str(tmp_path / "empty")
    elif setup == "missing_module":
        ref = "no_such_module_here:tokenizer"
    elif setup == "not_a_tokenizer":
        ref = "tests.evaluation.toy_tokenizers:not_a_tokenizer"
    elif setup == "odd_resolution":
        extra = ["--resolution", "30"]
    elif setup == "existing_report":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    code = main(["eval", "--tokenizer", ref, "--data", data, "--out", str(out), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    if setup != "existing_report":
        assert not out.exists()


def test_resolver_forms():
    assert isinstance(resolve_tokenizer("tests.evaluation.toy_tokenizers:PoolingQuantizer"), PoolingQuantizer)
    assert resolve_tokenizer("tests.evaluation.toy_tokenizers:pooling").spec.codebook_sizes == (64,)
    with pytest.raises(ConfigError, match="no attribute"):
        resolve_tokenizer("tests.evaluation.toy_tokenizers:missing")
