"""``omnitok.load_tokenizer`` and ``omnitok inspect`` take every reference form ``omnitok eval`` takes (one
resolver), and a reference that names nothing gets one message listing the forms."""

from __future__ import annotations

import json

import pytest
import torch

import omnitok
from omnitok.cli.main import main
from omnitok.errors import WeightsError
from omnitok.resolve import REFERENCE_FORMS


def test_load_tokenizer_takes_a_diffusers_folder_and_casts_it(tmp_path):
    pytest.importorskip("diffusers")
    from tests.adapters.tiny import build_vqmodel, images

    model = build_vqmodel()
    model.save_pretrained(tmp_path)
    x = images(2, 3, 16, 16, seed=3)
    wrapped = omnitok.load_tokenizer(f"diffusers:{tmp_path}")
    with torch.no_grad():  # the independent reference: diffusers' own encoder and codebook lookup
        expected = model.quantize(model.quant_conv(model.encoder(x)))[2][2].reshape(2, 4, 4)
    assert torch.equal(wrapped.encode(x), expected)
    half = omnitok.load_tokenizer(f"diffusers:{tmp_path}", dtype="bf16", device="cpu")
    assert half.dtype == torch.bfloat16 and (half.encode(x) == expected).float().mean() > 0.9


def test_load_tokenizer_and_inspect_take_a_module_attribute(capsys):
    tokenizer = omnitok.load_tokenizer("tests.evaluation.toy_tokenizers:pooling")
    assert type(tokenizer).__name__ == "PoolingQuantizer"
    assert main(["inspect", "tests.evaluation.toy_tokenizers:pooling"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(tokenizer.spec.to_dict()))


def test_inspect_takes_an_adapter_reference(tmp_path, capsys):
    pytest.importorskip("diffusers")
    from tests.adapters.tiny import build_vqmodel

    build_vqmodel().save_pretrained(tmp_path)
    assert main(["inspect", f"diffusers:{tmp_path}"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["codebook_sizes"] == [16] and spec["modality"] == "image"


def test_a_reference_to_nothing_lists_the_forms(tmp_path, capsys):
    with pytest.raises(WeightsError) as caught:
        omnitok.load_tokenizer(tmp_path / "missing")
    assert "no tokenizer folder" in str(caught.value) and REFERENCE_FORMS in str(caught.value)
    for form in ("save_pretrained folder", "model-zoo name", "'owner/name'", "diffusers:", "transformers:", "module"):
        assert form in REFERENCE_FORMS
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omnitok: error: no tokenizer folder") and "diffusers:<folder or hub id>" in err
