"""The world recipe's pre-tokenized variant: the scenes tokenized by ``omnitok tokenize`` (Ray Data, the test
session's local Ray) and the Transformer trained from the token corpus give the run the in-memory path gives, token
for token, weight for weight and figure for figure."""

from __future__ import annotations

import json
import shutil

import torch
from safetensors.torch import load_file

from examples.world.run import run_world
from omnitok.config import set_by_path
from tests.examples.test_world_run import CONFIGS, tiny_world


def _without_run_details(metrics: dict) -> dict:
    """The metrics document less what differs between two runs by design (wall times, where the tokens came from,
    the judge's folder)."""
    metrics = json.loads(json.dumps(metrics))
    setup = metrics.pop("setup")
    setup["training"].pop("tokens_from")
    setup.pop("wall_seconds")
    setup.pop("judge")
    for section in metrics.values():
        if isinstance(section, dict):
            section.pop("seconds", None)
    return {**metrics, "setup": setup}


def test_pretokenized_world_equals_the_in_memory_run(tmp_path, ray_address):
    first = run_world(tiny_world(), tmp_path / "memory", base=CONFIGS)  # trains the tokenizer and the judge
    tokenizer = tmp_path / "memory" / "tokenizer" / "tokenizer"
    runs = {}
    for name, pretokenize in (("again", False), ("corpus", True)):
        config = tiny_world()
        set_by_path(config, "tokenizer", {"pretrained": str(tokenizer)})
        set_by_path(config, "data.pretokenize", pretokenize)
        (tmp_path / name).mkdir()
        shutil.copy(tmp_path / "memory" / "judge.safetensors", tmp_path / name / "judge.safetensors")
        runs[name] = run_world(config, tmp_path / name, base=CONFIGS)

    from examples.world.data import encode_scenes
    from examples.world.scenes import World, WorldScenes
    from omnitok.corpus import TokenCorpus
    from omnitok.hub import load_tokenizer

    corpus = TokenCorpus(tmp_path / "corpus" / "corpus", shuffle=False)
    scenes = WorldScenes(World(**tiny_world()["world"]), "train", 32)
    in_memory = encode_scenes(load_tokenizer(tokenizer).eval(), scenes)
    assert len(corpus) == len(scenes) == 32
    for index in range(32):
        row = corpus[index]
        assert torch.equal(row["tokens"], in_memory[index]), index
        assert row["text"] == scenes.scenes[index].caption and row["key"] == f"{index:06d}.png"

    weights = {name: load_file(next((tmp_path / name / "transformer").glob("*.safetensors"))) for name in runs}
    assert weights["corpus"].keys() == weights["again"].keys()
    for key in weights["again"]:
        assert torch.equal(weights["corpus"][key], weights["again"][key]), key
    assert runs["corpus"].metrics["setup"]["training"]["tokens_from"].startswith("token corpus")
    assert _without_run_details(runs["corpus"].metrics) == _without_run_details(runs["again"].metrics)
    assert first.metrics["headline"] == runs["again"].metrics["headline"]  # a pretrained tokenizer: the same run
