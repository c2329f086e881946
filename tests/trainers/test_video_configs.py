"""Every video recipe under configs/video builds the tokenizer it states; quickstarts run on a clip and an image."""

from pathlib import Path

import pytest
import torch

from omnitok.config import instantiate, load_yaml_config
from omnitok.trainers.run import check_recipe

ROOT = Path(__file__).resolve().parents[2] / "configs" / "video"
RECIPES = sorted(p for p in ROOT.glob("*.yaml") if not p.stem.endswith("_base"))

EXPECTED = {  # recipe: (downsample (t, h, w), codebook sizes or latent channels)
    "quickstart_fsq": ((4, 4, 4), (64000,)),
    "quickstart_vq": ((4, 4, 4), (1024,)),
    "quickstart_kl": ((4, 4, 4), 4),
    "quickstart_joint": ((4, 4, 4), (64000,)),
    "ucf101_17x256": ((4, 8, 8), (2**18,)),
    "cosmos_like_4x8x8": ((4, 8, 8), (64000,)),
}


def test_every_video_recipe_is_listed():
    assert {p.stem for p in RECIPES} == set(EXPECTED)


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_video_recipe_builds_a_tokenizer_of_the_stated_kind(path):
    config = load_yaml_config(path)
    settings = check_recipe(config)
    assert config["model"]["init_args"]["media_key"] == "video"
    assert config["data"]["class_path"] == "omnitok.trainers.VideoDataModule"
    tokenizer = instantiate(config["model"]["init_args"]["tokenizer"]).eval()
    downsample, bottleneck = EXPECTED[path.stem]
    spec = tokenizer.spec
    assert spec.modality == "video" and spec.causal_time and spec.downsample == downsample
    if spec.discrete:
        assert spec.codebook_sizes == bottleneck
    else:
        assert spec.latent_dim == bottleneck
    frames, size = config["data"]["init_args"]["frames"], config["data"]["init_args"]["size"]
    t, s = downsample[0], downsample[1]
    assert (frames - 1) % t == 0 and size % s == 0  # training clips fit the causal grid exactly
    assert spec.grid((frames, size, size)) == (1 + (frames - 1) // t, size // s, size // s)
    if path.stem.startswith("quickstart"):
        assert settings.accelerator == "auto" and config["data"]["init_args"]["root"] == "generated"
        clip = torch.rand(1, 3, frames, size, size) * 2 - 1
        tokens = tokenizer.encode(clip)
        assert tokenizer.decode(tokens).shape == clip.shape
        assert tokenizer.decode(tokenizer.encode(clip[:, :, :1])).shape == (1, 3, 1, size, size)  # an image
    else:
        assert settings.precision == "bf16-mixed" and (frames, size) == (17, 256)
        assert any(term["class_path"].endswith("PerceptualLoss") for term in config["model"]["init_args"]["losses"])
        assert config["model"]["init_args"]["adversarial"]["init_args"]["discriminator"]["class_path"].endswith("3d")
