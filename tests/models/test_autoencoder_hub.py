"""Autoencoder composition, save_pretrained / load_tokenizer, and every way loading can fail."""

import json
from pathlib import Path

import pytest
import torch

import omnitok
from omnitok import ConfigError, IndexRangeError, ShapeError, WeightsError
from omnitok.config import instantiate
from omnitok.protocol import Tokenizer

CONFIG = {
    "class_path": "omnitok.models.Autoencoder",
    "init_args": {
        "encoder": {"class_path": "torch.nn.Conv2d", "init_args": {"in_channels": 3, "out_channels": 8, "kernel_size": 4, "stride": 4}},
        "quantizer": {"class_path": "omnitok.quantizers.FiniteScalarQuantizer", "init_args": {"dim": 8, "levels": [8, 5, 5, 5]}},
        "decoder": {"class_path": "torch.nn.ConvTranspose2d", "init_args": {"in_channels": 8, "out_channels": 3, "kernel_size": 4, "stride": 4}},
        "modality": "image",
        "downsample": [4, 4],
    },
}


@pytest.fixture
def model():
    return instantiate(CONFIG).eval()


def test_autoencoder_is_a_tokenizer(model):
    assert isinstance(model, Tokenizer)
    assert model.spec.codebook_sizes == (1000,) and model.spec.grid((32, 16)) == (8, 4)
    x = torch.rand(2, 3, 32, 16) * 2 - 1
    tokens = model.encode(x)
    assert tokens.shape == (2, 8, 4)
    assert model.decode(tokens).shape == x.shape
    out = model(x)
    assert torch.equal(model.decode(tokens), out.reconstruction)


def test_save_and_load_round_trip(model, tmp_path):
    x = torch.rand(1, 3, 16, 16)
    model.save_pretrained(tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == ["config.json", "model.safetensors"]
    loaded = omnitok.load_tokenizer(tmp_path / "tok")
    assert not loaded.training
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert torch.equal(loaded.decode(model.encode(x)), model.decode(model.encode(x)))


def put_in_hub_cache(model, repo_id: str) -> Path:
    """Place a saved tokenizer in huggingface_hub's cache as a download of ``repo_id`` at revision main would."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    folder = model.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return folder


def test_hub_ids_resolve_through_huggingface_hub(model, tmp_path):
    """With the hub offline, a hub id resolves from huggingface_hub's cache: the same path real users take."""
    put_in_hub_cache(model, "someone/tiny-fsq")
    loaded = omnitok.load_tokenizer("someone/tiny-fsq")
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(loaded.encode(x), model.encode(x))
    with pytest.raises(WeightsError, match="someone/missing"):
        omnitok.load_tokenizer("someone/missing")


def test_zoo_names_resolve_and_checksums_are_enforced(model, monkeypatch):
    import hashlib

    from omnitok.zoo import ZOO, ZooEntry

    folder = put_in_hub_cache(model, "omnitok/zoo-fsq")
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    monkeypatch.setitem(ZOO, "fsq-tiny", ZooEntry("omnitok/zoo-fsq", "main", digest))
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(omnitok.load_tokenizer("fsq-tiny").encode(x), model.encode(x))
    monkeypatch.setitem(ZOO, "fsq-tampered", ZooEntry("omnitok/zoo-fsq", "main", "0" * 64))
    with pytest.raises(WeightsError, match="SHA-256"):
        omnitok.load_tokenizer("fsq-tampered")


def test_missing_folder_and_files(model, tmp_path):
    with pytest.raises(WeightsError, match="no tokenizer folder"):
        omnitok.load_tokenizer(tmp_path / "nowhere" / "tok")
    model.save_pretrained(tmp_path / "tok")
    (tmp_path / "tok" / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match="weights file missing"):
        omnitok.load_tokenizer(tmp_path / "tok")
    (tmp_path / "tok" / "config.json").unlink()
    with pytest.raises(WeightsError, match="config.json"):
        omnitok.load_tokenizer(tmp_path / "tok")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_weights(model, tmp_path, damage):
    model.save_pretrained(tmp_path / "tok")
    weights = tmp_path / "tok" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00" * 64)
    with pytest.raises(WeightsError, match="cannot read weights"):
        omnitok.load_tokenizer(tmp_path / "tok")


def test_weights_that_do_not_match_the_config(model, tmp_path):
    model.save_pretrained(tmp_path / "tok")
    config_path = tmp_path / "tok" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["init_args"]["encoder"]["init_args"]["out_channels"] = 4
    config["model"]["init_args"]["quantizer"]["init_args"]["dim"] = 4
    config["model"]["init_args"]["decoder"]["init_args"]["in_channels"] = 4
    config_path.write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="do not match"):
        omnitok.load_tokenizer(tmp_path / "tok")


def test_config_naming_an_unknown_or_unsafe_class(model, tmp_path):
    model.save_pretrained(tmp_path / "tok")
    config_path = tmp_path / "tok" / "config.json"
    original = config_path.read_text()
    config_path.write_text(original.replace("omnitok.quantizers.fsq.FiniteScalarQuantizer", "omnitok.quantizers.Nope"))
    with pytest.raises(ConfigError, match="omnitok.quantizers.Nope"):
        omnitok.load_tokenizer(tmp_path / "tok")
    config_path.write_text(original.replace("torch.nn.modules.conv.Conv2d", "os.system"))
    with pytest.raises(ConfigError, match="trust_remote_code"):
        omnitok.load_tokenizer(tmp_path / "tok")
    config_path.write_text("{not json")
    with pytest.raises(WeightsError, match="not a valid omnitok config"):
        omnitok.load_tokenizer(tmp_path / "tok")


def test_saving_over_a_folder_keeps_a_complete_copy_on_failure(model, tmp_path, monkeypatch):
    model.save_pretrained(tmp_path / "tok")
    before = (tmp_path / "tok" / "model.safetensors").read_bytes()

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", fail)
    with pytest.raises(RuntimeError):
        model.save_pretrained(tmp_path / "tok")
    assert (tmp_path / "tok" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == ["config.json", "model.safetensors"]


def test_bad_media_and_tokens_at_the_tokenizer_boundary(model):
    with pytest.raises(ShapeError, match="channels"):
        model.encode(torch.rand(1, 1, 16, 16))
    with pytest.raises(ShapeError, match="multiple of 4"):
        model.encode(torch.rand(1, 3, 10, 16))
    with pytest.raises(IndexRangeError):
        model.decode(torch.full((1, 4, 4), 1000))
