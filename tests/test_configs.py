"""Every shipped YAML recipe builds, and what it builds runs."""

from pathlib import Path

import pytest
import torch

from omnitok.config import instantiate, load_yaml_config

ROOT = Path(__file__).parents[1] / "configs"
QUANTIZERS = sorted((ROOT / "quantizers").glob("*.yaml"))
IMAGE_RECIPES = sorted(p for p in (ROOT / "image").glob("*.yaml") if not p.stem.endswith("_base"))


@pytest.mark.parametrize("path", QUANTIZERS, ids=[p.stem for p in QUANTIZERS])
def test_quantizer_config_builds_and_runs(path):
    quantizer = instantiate(load_yaml_config(path)["quantizer"]).eval()
    z = torch.randn(1, quantizer.input_dim, 4, 4)
    out = quantizer(z)
    assert out.quantized.shape == (1, quantizer.dim, 4, 4)
    assert torch.equal(quantizer.decode(quantizer.encode(z)), out.quantized)


EXPECTED = {  # recipe: (downsample, codebook sizes or latent channels)
    "quickstart_vq": (4, (1024,)),
    "quickstart_fsq": (4, (64000,)),
    "quickstart_lfq": (4, (4096,)),
    "quickstart_kl": (4, 4),
    "vq_f16_llamagen": (16, (16384,)),
    "fsq_f16_cosmos": (16, (64000,)),
    "lfq_f16_open_magvit2": (16, (2**18,)),
    "kl_f8_sd": (8, 4),
    "kl_f8_16ch": (8, 16),
}


def test_every_image_recipe_is_listed():
    assert {p.stem for p in IMAGE_RECIPES} == set(EXPECTED)


@pytest.mark.parametrize("path", IMAGE_RECIPES, ids=[p.stem for p in IMAGE_RECIPES])
def test_image_recipe_builds_a_tokenizer_of_the_stated_kind(path):
    from omnitok.trainers.run import check_recipe

    config = load_yaml_config(path)
    settings = check_recipe(config)
    tokenizer_config = config["model"]["init_args"]["tokenizer"]
    tokenizer = instantiate(tokenizer_config).eval()
    factor, bottleneck = EXPECTED[path.stem]
    spec = tokenizer.spec
    assert spec.downsample == (factor, factor) and spec.modality == "image"
    if spec.discrete:
        assert spec.codebook_sizes == bottleneck
    else:
        assert spec.latent_dim == bottleneck
    if path.stem.startswith("quickstart"):
        assert settings.accelerator == "auto" and config["data"]["init_args"]["root"] == "builtin"
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        tokens = tokenizer.encode(x)
        assert tokens.shape[-2:] == (64 // factor, 64 // factor)
        assert tokenizer.decode(tokens).shape == x.shape
    else:
        assert settings.precision == "bf16-mixed" and config["data"]["init_args"]["size"] == 256
