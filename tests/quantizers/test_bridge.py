"""The vector-quantize-pytorch bridge: each class gives what the library itself gives on the same input (outputs,
indices, losses, state), the index layouts map onto our spec, unbridgeable classes are refused with a reason, and a
bridged quantizer trains inside an omnitok Autoencoder from a recipe. (The contract checks run in
test_conformance.py through the ``vqp_*`` factories.)"""

import copy
import importlib

import pytest
import torch
import vector_quantize_pytorch as vqp

from omnitok.config import instantiate, to_config
from omnitok.errors import ConfigError
from omnitok.quantizers import VQPytorchQuantizer

CLASSES = {  # name -> (options, layout of indices)
    "VectorQuantize": ({"codebook_size": 32, "decay": 0.8}, "single"),
    "ResidualVQ": ({"codebook_size": 32, "num_quantizers": 3}, "residual"),
    "FSQ": ({"levels": [8, 5, 5]}, "single"),
    "LFQ": ({"codebook_size": 256, "entropy_loss_weight": 0.1}, "single"),
    "SimVQ": ({"codebook_size": 32}, "single"),
    "ResidualSimVQ": ({"codebook_size": 32, "num_quantizers": 2}, "residual"),
    "LatentQuantize": ({"levels": [5, 5, 5]}, "single"),
    "ResidualFSQ": ({"levels": [5, 5, 5], "num_quantizers": 2}, "residual"),
    "ResidualLFQ": ({"codebook_size": 64, "num_quantizers": 2}, "residual"),
}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_bridge_gives_what_the_library_gives(name):
    options, kind = CLASSES[name]
    torch.manual_seed(0)
    bridge = VQPytorchQuantizer(name, 12, options).train()
    library = copy.deepcopy(bridge.module).train()  # the same weights, driven directly
    z = torch.randn(2, 12, 3, 4)
    tokens = z.permute(0, 2, 3, 1).reshape(1, -1, 12)  # [1, N, D], our token order
    out = bridge(z)
    direct = tuple(library(tokens.transpose(1, 2) if bridge.channels_first else tokens))
    expected = direct[0].transpose(1, 2) if bridge.channels_first else direct[0]
    assert bridge.kind == kind
    assert torch.equal(out.indices.reshape(direct[1].shape).long(), direct[1].long())
    torch.testing.assert_close(out.quantized.permute(0, 2, 3, 1).reshape(expected.shape), expected)
    if len(direct) > 2:
        torch.testing.assert_close(out.loss, direct[2].sum())
    for key, value in library.state_dict().items():  # the same EMA / codebook step
        torch.testing.assert_close(bridge.module.state_dict()[key], value, msg=key)


def test_residual_leading_levels_decode_to_the_sum_of_their_codes():
    torch.manual_seed(0)
    bridge = VQPytorchQuantizer("ResidualVQ", 8, {"codebook_size": 16, "num_quantizers": 3}).eval()
    indices = bridge.encode(torch.randn(2, 8, 5))  # [2, 5, 3]
    codes = bridge.module.get_codes_from_indices(indices.reshape(1, -1, 3))  # [3, 1, N, D]
    for q in (1, 2, 3):
        expected = codes[:q].sum(0)[0].reshape(2, 5, 8).permute(0, 2, 1)
        torch.testing.assert_close(bridge.decode(indices[..., :q]), expected)


@pytest.mark.parametrize(
    ("name", "options", "reason"),
    [
        ("RandomProjectionQuantizer", {"codebook_size": 16, "codebook_dim": 4}, "no way back from indices"),
        ("GroupedResidualVQ", {"codebook_size": 16, "num_quantizers": 2, "groups": 2}, "maps only"),
        ("NoSuchQuantizer", {}, "no quantizer class"),
        ("VectorQuantize", {"codebook_size": 16, "channel_first": True}, "sets .* itself"),
        ("VectorQuantize", {"codebook_sizes": 16}, "failed"),
    ],
)
def test_unbridgeable_classes_are_refused_with_the_reason(name, options, reason):
    with pytest.raises(ConfigError, match=reason):
        VQPytorchQuantizer(name, 8, options)


def test_missing_library_gives_the_install_line(monkeypatch):
    real = importlib.import_module

    def without_vqp(name, *args):
        if name == "vector_quantize_pytorch":
            raise ModuleNotFoundError("No module named 'vector_quantize_pytorch'", name="vector_quantize_pytorch")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_vqp)
    with pytest.raises(ImportError, match=r"pip install 'omnitok\[train\]'"):
        VQPytorchQuantizer("FSQ", 8, {"levels": [5, 5]})


def test_recipe_round_trip_and_state():
    config = {
        "class_path": "omnitok.quantizers.VQPytorchQuantizer",
        "init_args": {"name": "SimVQ", "dim": 8, "options": {"codebook_size": 32}},
    }
    first = instantiate(config)  # trusted: the class path is omnitok's
    assert to_config(first) == {**config, "class_path": "omnitok.quantizers.bridge.VQPytorchQuantizer"}
    second = instantiate(to_config(first))
    second.load_state_dict(first.state_dict())
    z = torch.randn(2, 8, 4)
    assert torch.equal(first.eval().encode(z), second.eval().encode(z))
    assert isinstance(first.module, vqp.SimVQ)


def test_ema_statistics_sync_when_a_process_group_exists_after_construction():
    bridge = VQPytorchQuantizer("VectorQuantize", 8, {"codebook_size": 16})
    codebook = bridge.module._codebook
    assert not codebook.use_ddp  # built outside a process group, as Lightning builds models
    assert codebook.all_reduce_fn.__name__ == "_all_reduce_when_distributed"


def test_a_bridged_quantizer_trains_in_an_autoencoder_from_a_recipe(tmp_path):
    from omnitok.hub import load_tokenizer
    from omnitok.trainers import train
    from tests.trainers.recipes import tiny_recipe

    quantizer = {
        "class_path": "omnitok.quantizers.VQPytorchQuantizer",
        "init_args": {"name": "SimVQ", "dim": 32, "options": {"codebook_size": 64}},
    }
    config = tiny_recipe(model__tokenizer__quantizer=quantizer, trainer__max_steps=3, trainer__val_every=3)
    result = train(config, tmp_path)
    tokenizer = load_tokenizer(result.tokenizer)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    tokens = tokenizer.encode(x)
    assert tokens.shape == (2, 8, 8) and int(tokens.max()) < 64
    assert tokenizer.spec.codebook_sizes == (64,)
    assert tokenizer.decode(tokens).shape == x.shape


def test_inside_our_residual_stack_with_dropout_inactive_rows_leave_the_codebook_alone():
    from omnitok.quantizers import ResidualQuantizer

    torch.manual_seed(0)
    level = VQPytorchQuantizer("VectorQuantize", 8, {"codebook_size": 16, "decay": 0.5})
    stack = ResidualQuantizer(level, num_levels=2, dropout=1.0, min_levels=1).train()
    z = torch.randn(4, 8, 3)
    out = stack(z)
    assert out.indices.shape == (4, 3, 2)
    stack.eval()
    assert torch.equal(stack.decode(stack.encode(z)), stack(z).quantized)
