"""load_adapter refs and wrap: save_pretrained -> load_adapter round trips, picking the adapter from config.json,
full multimodal checkpoints, and clear errors for unknown classes, missing folders and unreachable hub ids."""

import json
import types

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from omnitok.adapters import (
    AutoencoderKLAdapter,
    ChameleonVQVAEAdapter,
    Emu3VQVAEAdapter,
    JanusVQVAEAdapter,
    VQModelAdapter,
    load_adapter,
    wrap,
)
from omnitok.errors import ConfigError, WeightsError
from tests.adapters.tiny import build_autoencoder_kl, build_full, build_vq, build_vqmodel, images

TRANSFORMERS = {"chameleon": ChameleonVQVAEAdapter, "emu3": Emu3VQVAEAdapter, "janus": JanusVQVAEAdapter}


def _same_outputs(a, b, x):
    tokens = a.encode(x)
    assert torch.equal(tokens, b.encode(x))
    if a.can_decode:
        assert torch.equal(a.decode(tokens), b.decode(tokens))


@pytest.mark.parametrize(("builder", "adapter_class"), [(build_vqmodel, VQModelAdapter),
                                                         (build_autoencoder_kl, AutoencoderKLAdapter)])
def test_diffusers_round_trip(tmp_path, builder, adapter_class):
    model = builder()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["_class_name"] == model.__class__.__name__
    loaded = load_adapter(f"diffusers:{tmp_path}")
    assert type(loaded) is adapter_class and loaded.spec == adapter_class(model).spec
    _same_outputs(loaded, adapter_class(model), images(2, 3, 16, 24))
    # the adapter's own from_pretrained is the same loading path
    _same_outputs(adapter_class.from_pretrained(tmp_path), loaded, images(1, 3, 8, 8))


def test_diffusers_pipeline_folder_finds_its_vae(tmp_path):
    model = build_autoencoder_kl()
    model.save_pretrained(tmp_path / "vae")
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    loaded = load_adapter(f"diffusers:{tmp_path}", value_range=(0, 1))
    assert isinstance(loaded, AutoencoderKLAdapter) and loaded.spec.value_range == (0.0, 1.0)
    _same_outputs(loaded, AutoencoderKLAdapter(model, value_range=(0, 1)), images(1, 3, 8, 8) / 2 + 0.5)
    assert isinstance(load_adapter(f"diffusers:{tmp_path}", subfolder="vae"), AutoencoderKLAdapter)


@pytest.mark.parametrize("name", list(TRANSFORMERS))
@pytest.mark.parametrize("whole", [False, True], ids=["vq-alone", "full-model"])
def test_transformers_round_trip(tmp_path, name, whole):
    model = build_full(name) if whole else build_vq(name)
    vq = model.model.vqmodel if whole else model
    model.save_pretrained(tmp_path)
    model_type = json.loads((tmp_path / "config.json").read_text())["model_type"]
    assert model_type == (name if whole else f"{name}_vqgan")
    loaded = load_adapter(f"transformers:{tmp_path}")
    assert type(loaded) is TRANSFORMERS[name]
    for (key, theirs), ours in zip(vq.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(theirs, ours), key
    _same_outputs(loaded, TRANSFORMERS[name](vq), images(2, 3, 16, 24))


def test_transformers_checkpoint_of_another_model(tmp_path):
    build_full("janus").save_pretrained(tmp_path)
    # Chameleon's VQ would load Janus' VQ weights (same names): the config's model_type refuses it first
    with pytest.raises(ConfigError, match="model_type 'janus'"):
        ChameleonVQVAEAdapter.from_pretrained(tmp_path)


def test_transformers_checkpoint_without_the_vq_weights(tmp_path):
    from safetensors.torch import load_file, save_file

    build_full("chameleon").save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    save_file({k: v for k, v in load_file(weights).items() if "vqmodel" not in k}, weights, metadata={"format": "pt"})
    # transformers itself would only warn and leave the VQ random
    with pytest.raises(WeightsError, match="lacks ChameleonVQVAE weights"):
        load_adapter(f"transformers:{tmp_path}")


@pytest.mark.parametrize(("library", "config", "match"), [
    ("diffusers", {"_class_name": "UNet2DModel"}, "no omnitok adapter for diffusers _class_name 'UNet2DModel'"),
    ("transformers", {"model_type": "llama"}, "no omnitok adapter for transformers model_type 'llama'"),
    ("diffusers", {"model_type": "janus"}, "no '_class_name'"),
])
def test_unknown_class_in_config(tmp_path, library, config, match):
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=match):
        load_adapter(f"{library}:{tmp_path}")


def test_missing_or_unreadable_things(tmp_path):
    with pytest.raises(WeightsError, match="no folder at"):
        load_adapter(f"diffusers:{tmp_path / 'missing'}")
    with pytest.raises(WeightsError, match="no config.json"):
        load_adapter(f"transformers:{tmp_path}")
    with pytest.raises(WeightsError, match="no config.json"):
        load_adapter(f"diffusers:{tmp_path}", subfolder="vae")
    (tmp_path / "file.json").write_text("{}")
    with pytest.raises(WeightsError, match="is a file"):
        load_adapter(f"diffusers:{tmp_path / 'file.json'}")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read"):
        load_adapter(f"diffusers:{tmp_path}")
    build_vq("janus").save_pretrained(tmp_path / "no-weights")
    (tmp_path / "no-weights" / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match="JanusVQVAE"):
        load_adapter(f"transformers:{tmp_path / 'no-weights'}")


@pytest.mark.parametrize("ref", ["diffusers:omnitok-tests/no-such-repo", "transformers:omnitok-tests/no-such-repo",
                                 "diffusers:omnitok-tests/no-such-repo/vae"])
def test_unreachable_hub_id(ref):
    with pytest.raises(WeightsError, match="cannot fetch config.json of 'omnitok-tests/no-such-repo'"):  # offline
        load_adapter(ref)


@pytest.mark.parametrize("ref", ["timm:resnet", "diffusers:", "some/folder", "transformers"])
def test_bad_ref_forms(ref):
    with pytest.raises(ConfigError, match="diffusers:<folder or hub id>"):
        load_adapter(ref)


def test_wrap_picks_the_adapter():
    vq, kl = build_vqmodel(), build_autoencoder_kl()
    assert type(wrap(vq)) is VQModelAdapter and type(wrap(kl)) is AutoencoderKLAdapter
    for name, adapter_class in TRANSFORMERS.items():
        assert type(wrap(build_vq(name))) is adapter_class
    full = build_full("janus")
    assert wrap(full).model is full.model.vqmodel
    assert wrap(full.model).model is full.model.vqmodel
    pipeline = types.SimpleNamespace(vae=kl, unet=None)  # what a diffusers pipeline looks like to wrap
    assert wrap(pipeline).model is kl
    adapter = wrap(vq, value_range=(0, 1))
    assert adapter.spec.value_range == (0.0, 1.0) and wrap(adapter) is adapter
    with pytest.raises(ConfigError, match="no omnitok adapter wraps torch.nn.modules.linear.Linear"):
        wrap(torch.nn.Linear(2, 2))


def test_hub_pipeline_repo_finds_its_vae(tmp_path, monkeypatch):
    """A hub pipeline repo has no top-level config.json: the ref falls through to vae/ and loads from there."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    build_autoencoder_kl().save_pretrained(tmp_path / "vae")
    fetched, loaded = [], []

    def fake_download(repo_id, filename, subfolder=None, revision=None):
        fetched.append((repo_id, subfolder, revision))
        if subfolder != "vae":
            raise EntryNotFoundError(f"{repo_id} has no {filename} in {subfolder}")  # what the hub answers
        return str(tmp_path / "vae" / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    record = classmethod(lambda cls, ref, **kw: loaded.append((ref, kw)))
    monkeypatch.setattr(AutoencoderKLAdapter, "from_pretrained", record)
    load_adapter("diffusers:owner/pipeline", revision="v1")
    assert fetched == [("owner/pipeline", None, "v1"), ("owner/pipeline", "vae", "v1")]
    assert loaded == [("owner/pipeline", {"revision": "v1", "subfolder": "vae"})]
