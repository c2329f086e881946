"""A tokenizer assembled in Python from torch.nn layers saves and loads; a part whose arguments cannot be read back
is refused by name before anything is written."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from omnitok.errors import ConfigError
from omnitok.hub import load_tokenizer
from omnitok.models import Autoencoder
from omnitok.quantizers import FiniteScalarQuantizer, VectorQuantizer


def test_a_tokenizer_of_torch_nn_layers_round_trips_through_save_pretrained(tmp_path):
    torch.manual_seed(0)
    model = Autoencoder(
        nn.Conv2d(3, 8, kernel_size=4, stride=4, padding=0, bias=False),
        VectorQuantizer(8, 32),
        nn.ConvTranspose2d(8, 3, kernel_size=4, stride=4),
        modality="image",
        downsample=[4, 4],
    ).eval()
    loaded = load_tokenizer(model.save_pretrained(tmp_path / "tok"))
    assert loaded.encoder.bias is None and loaded.decoder.kernel_size == (4, 4)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    tokens = model.encode(x)
    assert torch.equal(loaded.encode(x), tokens) and torch.equal(loaded.decode(tokens), model.decode(tokens))


def test_a_part_taking_its_layers_positionally_is_refused_by_name(tmp_path):
    model = Autoencoder(
        nn.Sequential(nn.Conv2d(3, 4, 4, 4)),
        FiniteScalarQuantizer(4, [5, 5, 5, 5]),
        nn.ConvTranspose2d(4, 3, 4, 4),
        modality="image",
        downsample=[4, 4],
    )
    with pytest.raises(ConfigError, match=r"Autoencoder\.encoder: torch\.nn\.Sequential takes its parts positionally"):
        model.save_pretrained(tmp_path / "tok")
    assert not (tmp_path / "tok").exists()
