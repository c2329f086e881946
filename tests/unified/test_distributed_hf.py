"""A Hugging Face causal LM trained by ``train_hf`` on 2 CPU processes (DDP, gloo) equals one process holding the
whole global batch.

Two things make it so, and this test fails without either:
- every item's task draw (generation or understanding, caption dropped or kept) is seeded by its position in the
  global stream, whatever the number of ranks;
- each rank's next-token loss is its share of the global token mean (its summed loss over the global number of loss
  tokens, times the world size), so DDP's gradient average is the gradient of the global mean; ranks hold different
  numbers of loss tokens (here the two corpora's grids differ in size), and per-rank means averaged by DDP would
  weight tokens unequally.

Tolerance 2e-5 after 3 Adam steps at learning rate 1e-3: the processes sum the same gradients in another order
(measured 2.7e-7); per-rank means moved weights by 1.8e-3, draws seeded by the rank's own offset by 1.9e-3 (one Adam
step is about 1e-3).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("litdata")

from tests.trainers.test_distributed_training import ROOT, _env
from tests.unified.test_hf_recipe import _tiny_recipe

pytestmark = pytest.mark.distributed
SCRIPT = """
import json, sys
from omnitok.trainers.unified_hf import train_hf
train_hf(json.loads(open(sys.argv[1]).read()), sys.argv[2])
"""


def _run(config: dict, out: Path, script: Path) -> dict[str, torch.Tensor]:
    recipe = out.with_suffix(".json")
    recipe.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, str(script), str(recipe), str(out)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return _weights(out / "model")


def test_two_processes_equal_one_process_at_twice_the_batch(tmp_path):
    from tests.corpus.builders import write_corpus
    from tests.unified.hf_tiny import lm_folder

    small = write_corpus(tmp_path / "small", (4, 3), levels=1)  # 2 x 3 grids
    large = write_corpus(tmp_path / "large", (5,), seed=1, grid=(4, 5), levels=1)  # 4 x 5: ranks differ in tokens
    config = _tiny_recipe(lm_folder(tmp_path / "llama"))
    spec = {"modality": "image", "discrete": True, "codebook_sizes": [1000], "downsample": [16, 16]}
    config["tokenizers"] = {"image": {"spec": spec}, "photo": {"spec": spec}}
    config["model"].update(loss_weights={"text": 1.0, "image": 1.0, "photo": 1.0}, learning_rate=1e-3)
    config["lm"]["gradient_checkpointing"] = False
    config["data"] = {"corpora": {"image": str(small), "photo": str(large)}, "batch_size": 4, "caption_dropout": 0.5}
    config["trainer"].update(max_steps=3, precision="32-true", loggers=[], progress_bar=False, devices=1)
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    one = _run(config, tmp_path / "one", script)
    config["data"]["batch_size"] = 2
    config["trainer"].update(devices=2, strategy="ddp")
    two = _run(config, tmp_path / "two", script)
    start = _weights(tmp_path / "llama")
    assert one.keys() == two.keys()
    moved = max(
        (one[k].float() - start[k].float()).abs().max().item()
        for k in one
        if k in start and one[k].shape == start[k].shape
    )
    assert moved > 1e-4  # the runs trained
    worst = max((one[k].float() - two[k].float()).abs().max().item() for k in one)
    assert worst < 2e-5, worst


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder).state_dict()
