"""FSDP's units (omnitok.trainers.sharding.shard_units) for each tokenizer family, and the quantizers FSDP refuses,
checked on the modules alone (no process group; tests/trainers/test_distributed_fsdp.py and
test_distributed_omni.py train under FSDP)."""

from __future__ import annotations

import pytest
from torch import nn

from omnitok.errors import ConfigError
from omnitok.models import Autoencoder, OmniTokenizer
from omnitok.nn import ConvDecoder2d, ConvEncoder2d
from omnitok.quantizers import VectorQuantizer
from omnitok.trainers.sharding import check_shardable, shard_units
from tests.models.omni_models import CONV, DIM, tiny_branches, tiny_omni


def _owners(model: nn.Module, units: list[nn.Module]) -> dict[str, int]:
    """parameter name -> how many units hold it."""
    return {name: sum(any(p is q for q in u.parameters()) for u in units) for name, p in model.named_parameters()}


def test_an_autoencoder_shards_each_encoder_and_decoder_block():
    model = Autoencoder(
        ConvEncoder2d(out_channels=DIM, **CONV), VectorQuantizer(DIM, 32, codebook_dim=2), ConvDecoder2d(DIM, **CONV),
        modality="image",
    )  # fmt: skip
    units = shard_units(model)
    expected = [*model.encoder.children(), *model.decoder.children()]
    expected = [b for child in expected for b in (child if isinstance(child, nn.ModuleList) else [child])]
    assert [id(u) for u in units] == [id(b) for b in expected if any(True for _ in b.parameters())]
    owners = _owners(model, units)
    assert {n for n, count in owners.items() if count == 0} == {n for n in owners if n.startswith("quantizer.")}
    assert max(owners.values()) == 1


def test_an_omni_tokenizer_shards_every_branch_block_and_the_bottleneck():
    """Every weight of every branch's encoder and decoder and of the bottleneck lies in exactly one unit; the shared
    quantizer's (here its projections) in none: they stay in the root unit, as an Autoencoder's do."""
    quantizer = VectorQuantizer(DIM, 32, codebook_dim=2, kmeans_init=True, dead_code_threshold=0.5)  # EMA codebook
    omni = OmniTokenizer(quantizer, tiny_branches(), bottleneck=tiny_omni(("image",), bottleneck=True).bottleneck)
    units = shard_units(omni)
    assert any(u is omni.bottleneck for u in units)
    for modality in ("image", "video", "audio"):
        for part in ("encoder", "decoder"):
            coder = omni.get_submodule(f"branches.{modality}.{part}")
            assert sum(any(u is m for m in coder.modules()) for u in units) > 1, f"{modality} {part}: one block?"
    owners = _owners(omni, units)
    assert {n for n, count in owners.items() if count == 0} == {
        "quantizer.project_in.weight", "quantizer.project_in.bias", "quantizer.project_out.weight",
        "quantizer.project_out.bias",
    }  # fmt: skip
    assert max(owners.values()) == 1
    check_shardable(omni)  # EMA codebooks (buffers) with k-means and restarts shard


def test_fsdp_refuses_a_shared_codebook_learned_as_a_parameter_with_kmeans_or_restarts():
    for settings in ({"kmeans_init": True}, {"dead_code_threshold": 0.5}):
        omni = OmniTokenizer(VectorQuantizer(DIM, 32, update="learned", **settings), tiny_branches(("image",)))
        with pytest.raises(ConfigError, match=r"quantizer learns its codebook as a parameter .* update: ema"):
            check_shardable(omni)
    check_shardable(OmniTokenizer(VectorQuantizer(DIM, 32, update="learned"), tiny_branches(("image",))))
