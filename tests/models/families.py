"""One tiny random-init image tokenizer per family, for checks that must cover them all (VQ, FSQ, LFQ, residual VQ,
KL), built from the quickstart recipes shrunk by ``tests.trainers.recipes.TINY``."""

from __future__ import annotations

import torch
from torch import nn

from omnitok.config import instantiate
from tests.trainers.recipes import tiny_recipe


def tiny_image_tokenizers() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    built = {
        name: instantiate(tiny_recipe(f"quickstart_{name}")["model"]["init_args"]["tokenizer"])
        for name in ("vq", "fsq", "lfq", "kl")
    }
    residual = tiny_recipe("quickstart_vq")["model"]["init_args"]["tokenizer"]
    residual["init_args"]["quantizer"] = {
        "class_path": "omnitok.quantizers.ResidualQuantizer",
        "init_args": {
            "levels": {"class_path": "omnitok.quantizers.VectorQuantizer", "init_args": {"dim": 32, "codebook_size": 256}},
            "num_levels": 4,
        },
    }
    built["rvq"] = instantiate(residual)
    return {name: model.eval() for name, model in built.items()}
