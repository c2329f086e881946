"""The 16384-code image arms of the codebook study (examples/codebook_study/image_16k/*.yaml) build the tokenizer
they say, differing from each other only in the quantizer."""

from pathlib import Path

import pytest
import torch

from omnitok.config import instantiate, load_yaml_config

RECIPES = Path(__file__).resolve().parents[2] / "examples" / "codebook_study" / "image_16k"
CLASSES = {
    "vq": "VectorQuantizer",
    "vq_rotation": "VectorQuantizer",
    "simvq": "SimVQQuantizer",
    "ibq": "IndexBackpropQuantizer",
    "ibq_init1": "IndexBackpropQuantizer",
}


def test_every_arm_is_listed_and_only_the_quantizer_differs():
    from examples.codebook_study.image_16k import ARMS

    assert {p.stem for p in RECIPES.glob("*.yaml")} == set(CLASSES) == set(ARMS)
    configs = [load_yaml_config(RECIPES / f"{arm}.yaml") for arm in ARMS]
    for config in configs:
        config["model"]["init_args"]["tokenizer"]["init_args"].pop("quantizer")
    assert all(config == configs[0] for config in configs)


@pytest.mark.parametrize("arm", sorted(CLASSES))
def test_arm_builds_a_16k_tokenizer(arm):
    config = load_yaml_config(RECIPES / f"{arm}.yaml")
    tokenizer = instantiate(config["model"]["init_args"]["tokenizer"]).eval()
    assert type(tokenizer.quantizer).__name__ == CLASSES[arm]
    assert tokenizer.spec.codebook_sizes == (16384,)
    assert getattr(tokenizer.quantizer, "rotation_trick", False) == (arm in ("vq_rotation", "simvq"))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert tokenizer.decode(tokenizer.encode(x)).shape == x.shape
