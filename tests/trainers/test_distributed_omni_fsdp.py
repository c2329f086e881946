"""Joint omni training under FSDP (``omnitok train --set trainer.strategy=fsdp``) on 2 CPU processes (gloo, Lightning's
launcher) against one process holding each modality's whole global batch.

The recipe is configs/omni/quickstart.yaml shrunk by ``tests/trainers/omni_recipes.py``, with an image and an audio
branch (the video branch is left out to keep the test short) and every shared part FSDP treats differently: a
GridTransformer bottleneck (one unit, called once per modality in a step), quantizer projections (8 -> 4 channels, in
the tokenizer's root unit, gathered by the call ``omni(batches)``), one EMA codebook with k-means initialisation and
dead-code restarts (buffers, not sharded) and EMA weights (sharded into the same units). 4 steps; the 1-process run
takes 2 images and 2 speech segments per step, each FSDP process 1 of each.

Tolerance: as for DDP (test_distributed_omni.py), the runs sum the same gradients and codebook statistics in another
order (a reduce-scatter of two halves against one sum), float32 rounding that Adam's division by the root of tiny
second moments enlarges. Measured over every exported weight and every live weight, EMA weight and buffer of the
checkpoint, with the recipe's earlier SEANet audio branch: at most 7.7e-6 (an audio decoder weight; 5.7e-6 on the
codebook's EMA sums, 2e-7 on the bottleneck); the spectral audio branch passes the same bound. One Adam step moves a
weight by up to its learning rate (3e-4 image and shared parts, 2e-3 audio), so 5e-5 (a sixth of
the smallest step, 6x the measured error) fails a gradient reduced from one modality's call of the bottleneck only, a
missing gradient reduction, an EMA that averages other shards than its weights', or a k-means seed or restart drawn
from another place in the pool (O(1) on codebook entries, see test_distributed_omni.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.trainers.omni_recipes import tiny_omni_recipe
from tests.trainers.test_distributed_training import _assert_close_states, _train

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)
STEPS = 4
BATCH = {"image": 2, "audio": 2}  # the 1-process run's per-step batch of each modality
FSDP = ["--set", "trainer.devices=2", "--set", "trainer.strategy=fsdp"]
THRESHOLD = 0.8  # the shared codebook's dead-code threshold
ATOL = 5e-5  # see the module docstring


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("omni-fsdp")
    config = tiny_omni_recipe(
        folder / "speech",
        trainer__max_steps=STEPS,
        trainer__val_every=STEPS,
        trainer__checkpoint_every=STEPS,
        trainer__heldout_samples=0,
        model__tokenizer__bottleneck={"class_path": "omnitok.nn.GridTransformer", "init_args": {"dim": 8, "heads": 2}},
        # 52 tokens a step (32 image, 20 audio) over 16 codes: 3.25 per code; the counts follow the last step (decay
        # 0.1) and a code given under 0.8 of them restarts on a row of the pool (measured: 4 codes at the last step)
        model__tokenizer__quantizer__codebook_size=16,
        model__tokenizer__quantizer__codebook_dim=4,
        model__tokenizer__quantizer__decay=0.1,
        model__tokenizer__quantizer__dead_code_threshold=THRESHOLD,
        model__tokenizer__quantizer__kmeans_iters=2,
    )
    model, data = config["model"]["init_args"], config["data"]["init_args"]
    for table in (model["tokenizer"]["init_args"]["branches"], model["losses"], model["learning_rates"], data):
        del table["video"]
    del model["modality_weights"]["video"]
    path = folder / "omni.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _batches(per_process: int) -> list[str]:
    return [a for m, b in BATCH.items() for a in ("--set", f"data.{m}.batch_size={b // per_process}")]


def _checkpoint(run: Path) -> dict[str, torch.Tensor]:
    """The whole weights of a run's last checkpoint (a sharded folder gathered, as ``omnitok export`` does)."""
    from omnitok.trainers.export import read_checkpoint

    return read_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]


def test_fsdp_omni_on_two_processes_equals_one_process(recipe, tmp_path):
    _train(recipe, tmp_path / "one", *_batches(1))
    _train(recipe, tmp_path / "fsdp", *_batches(2), *FSDP)
    last = tmp_path / "fsdp" / "checkpoints" / "last.ckpt"
    assert last.is_dir() and sorted(p.name for p in last.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    from torch.distributed.checkpoint import FileSystemReader

    index = FileSystemReader(str(last)).read_metadata().state_dict_metadata
    for copy in ("tokenizer", "ema.average"):  # each process holds half of every unit's weights, the root's included
        for name in (
            "branches.image.encoder.conv_in.weight",
            "branches.audio.decoder.layers.1.depthwise.weight",
            "bottleneck.layers.0.linear1.weight",
            "quantizer.project_in.weight",
        ):
            assert len(index[f"state_dict.{copy}.{name}"].chunks) == 2, f"{copy}.{name}"
    one, fsdp = (load_file(tmp_path / run / "tokenizer" / "model.safetensors") for run in ("one", "fsdp"))
    assert {k.split(".")[1] for k in one if k.startswith("branches.")} == {"image", "audio"}
    assert bool(one["quantizer.initialized"])  # k-means ran
    assert int((one["quantizer.ema_count"] == THRESHOLD).sum()) > 0  # codes restarted at the last step hold it
    _assert_close_states(fsdp, one, atol=ATOL)  # the exported (EMA) weights, gathered from the shards
    _assert_close_states(_checkpoint(tmp_path / "fsdp"), _checkpoint(tmp_path / "one"), atol=ATOL)  # live and EMA
    assert (tmp_path / "fsdp" / "tokenizer" / "config.json").read_text() == (
        tmp_path / "one" / "tokenizer" / "config.json"
    ).read_text()
    import omnitok

    omni = omnitok.load_tokenizer(str(tmp_path / "fsdp" / "tokenizer"))
    assert all(torch.equal(omni.state_dict()[k], v) for k, v in fsdp.items())
    from omnitok.trainers.export import read_checkpoint

    assert read_checkpoint(last, weights=False)["omnitok"]["step"] == STEPS
