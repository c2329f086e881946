"""Configs that name classes: round trips, and clear refusals."""

import pytest

from omnitok.config import instantiate, load_yaml_config, to_config
from omnitok.errors import ConfigError
from omnitok.quantizers import FiniteScalarQuantizer, ResidualQuantizer, VectorQuantizer


def test_round_trip_of_a_nested_config():
    rvq = ResidualQuantizer(VectorQuantizer(8, 32, metric="cosine"), num_levels=3, dropout=0.25)
    config = to_config(rvq)
    assert config["class_path"] == "omnitok.quantizers.residual.ResidualQuantizer"
    assert config["init_args"]["levels"]["init_args"]["metric"] == "cosine"
    rebuilt = instantiate(config)
    assert isinstance(rebuilt, ResidualQuantizer) and rebuilt.num_codebooks == 3 and rebuilt.dropout == 0.25
    assert to_config(rebuilt) == config


def test_torch_modules_built_from_configs_remember_their_arguments():
    conv = instantiate({"class_path": "torch.nn.Conv2d", "init_args": {"in_channels": 3, "out_channels": 4, "kernel_size": 2}})
    assert to_config(conv)["init_args"] == {"in_channels": 3, "out_channels": 4, "kernel_size": 2}


def test_unknown_class_is_named():
    with pytest.raises(ConfigError, match="omnitok.quantizers.NoSuchQuantizer"):
        instantiate({"class_path": "omnitok.quantizers.NoSuchQuantizer"})


@pytest.mark.parametrize("path", ["os.system", "builtins.eval", "torch.hub.load", "subprocess.Popen"])
def test_classes_outside_omnitok_and_torch_nn_are_refused(path):
    with pytest.raises(ConfigError, match="trust_remote_code"):
        instantiate({"class_path": path, "init_args": {"command": "echo pwned"}})


def test_functions_are_refused_even_inside_trusted_packages():
    with pytest.raises(ConfigError, match="not a class"):
        instantiate({"class_path": "torch.nn.functional.relu"})


def test_unknown_argument_is_named():
    with pytest.raises(ConfigError, match="codebook_sise"):
        instantiate({"class_path": "omnitok.quantizers.VectorQuantizer", "init_args": {"dim": 4, "codebook_sise": 8}})


def test_unknown_top_level_key_is_refused():
    with pytest.raises(ConfigError, match="init_arg"):
        instantiate({"class_path": "omnitok.quantizers.VectorQuantizer", "init_arg": {"dim": 4}})


def test_objects_not_built_from_configs_cannot_be_written():
    import torch

    config = to_config(torch.nn.Conv2d(3, 4, 2))  # torch.nn layers are read back (see test_torch_parts.py)
    assert config["class_path"] == "torch.nn.Conv2d" and config["init_args"]["kernel_size"] == [2, 2]

    class Handmade(torch.nn.Module):
        pass

    with pytest.raises(ConfigError, match="Handmade"):
        to_config(Handmade())


def test_yaml_files_compose_left_to_right(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("quantizer:\n  class_path: omnitok.quantizers.FiniteScalarQuantizer\n  init_args: {dim: 4, levels: [5, 5, 5, 5]}\n")
    override = tmp_path / "override.yaml"
    override.write_text("quantizer:\n  init_args: {levels: [8, 5, 5, 5]}\n")
    config = load_yaml_config(base, override)
    fsq = instantiate(config["quantizer"])
    assert isinstance(fsq, FiniteScalarQuantizer) and fsq.codebook_size == 1000
    with pytest.raises(ConfigError, match="not found"):
        load_yaml_config(tmp_path / "missing.yaml")


def test_set_by_path_reaches_into_class_entries():
    from omnitok.config import set_by_path

    config = {"model": {"class_path": "x.Y", "init_args": None}, "trainer": {}}
    set_by_path(config, "model.learning_rate", 0.1)
    set_by_path(config, "model.tokenizer.encoder.base_channels", 8)
    set_by_path(config, "trainer.max_steps", 5)
    assert config["model"]["init_args"] == {"learning_rate": 0.1, "tokenizer": {"encoder": {"base_channels": 8}}}
    assert config["trainer"] == {"max_steps": 5}
