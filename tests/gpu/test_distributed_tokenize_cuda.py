"""``omnitok tokenize --gpus-per-worker 1``: the encoding actors hold the tokenizer on a GPU (marker ``gpu``; run by
``benchmarks/gpu_check.sh``). The shards must hold the CPU's tokens except at near-ties of the nearest-code search."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchvision.io import write_png

pytestmark = pytest.mark.gpu


def test_gpu_workers_tokenize_to_the_cpu_tokens(tmp_path):
    pytest.importorskip("ray", reason="the scale extra (ray) is not installed on this GPU machine")
    import pyarrow.parquet as pq

    from omnitok.cli.main import main
    from omnitok.config import instantiate
    from omnitok.tokens import read_token_file
    from tests.trainers.recipes import tiny_recipe

    torch.manual_seed(0)
    tokenizer = instantiate(tiny_recipe()["model"]["init_args"]["tokenizer"]).eval().save_pretrained(tmp_path / "tok")
    generator = torch.Generator().manual_seed(0)
    for i in range(6):
        write_png((torch.rand(3, 32, 32, generator=generator) * 255).to(torch.uint8), str(tmp_path / f"im{i}.png"))
    argv = [sys.executable, "-m", "omnitok.cli.main", "tokenize", "--tokenizer", str(tokenizer), "--data",
            str(tmp_path), "--out", str(tmp_path / "corpus"), "--gpus-per-worker", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert main(["encode", str(tmp_path), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "cpu")]) == 0
    rows = [r for p in sorted((tmp_path / "corpus").glob("shard-*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert len(rows) == 6 and json.loads((tmp_path / "corpus" / "manifest.json").read_text())["complete"]
    same = [
        (
            np.array(r["tokens"])
            == read_token_file(tmp_path / "cpu" / f"{r['key']}.safetensors").tokens.flatten().numpy()
        )
        for r in rows
    ]
    assert np.concatenate(same).mean() >= 0.99
