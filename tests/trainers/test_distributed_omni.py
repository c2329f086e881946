"""Joint omni training (OmniTrainer + OmniDataModule) on 2 CPU processes (gloo, Lightning's launcher, through
``omnitok train``), data-parallel (DDP) and sharded (FSDP), against one process holding each modality's whole global
batch (one reference run serves both).

The recipe is configs/omni/quickstart.yaml shrunk by ``tests/trainers/omni_recipes.py`` to an image and an audio
branch (the video branch is left out to keep the test short; the pool of two modalities already has the layout that
matters), with every shared part the strategies treat differently: a GridTransformer bottleneck (one FSDP unit, called
once per modality in a step), quantizer projections (8 -> 4 channels, in the tokenizer's root unit, gathered by the
call ``omni(batches)``), one EMA codebook with k-means initialisation and dead-code restarts (buffers, not sharded)
and EMA weights (sharded into the same units). 4 steps; the 1-process run takes 2 images and 2 speech segments per
step, each of the 2 processes 1 of each (every data module's batch size halved).

What must agree: each process's half of every modality's batch (the step-indexed samplers split each modality's
global batch by rank), the gradient reduction, and the shared quantizer's state. The quantizer sees one pooled token
list per step (image, then audio tokens); its k-means seeds and dead-code restarts draw rows over the global pool,
which must be the 1-process pool's order (modality by modality, each modality's rows rank by rank), not rank 0's pool
followed by rank 1's: drawn in the latter order (before ``omnitok.distributed.pooled_rows``), they moved codebook
entries by up to 1.1 and EMA sums by up to 11.

Tolerance: the runs sum the same gradients and codebook statistics in another order (an all-reduce or reduce-scatter
of two halves against one sum), float32 rounding that Adam's division by the root of tiny second moments enlarges (as
in ``test_distributed_training.py``). Measured with the three-modality SEANet recipe: at most 5.7e-5 under DDP (the
codebook's EMA sums, entries up to 13) and 7.7e-6 under FSDP (an audio decoder weight). One Adam step moves a weight
by up to its learning rate (3e-4 image and shared parts, 2e-3 audio), so 1e-4 (DDP) and 5e-5 (FSDP), a third and a
sixth of the smallest step, fail a missing gradient reduction, a bottleneck gradient reduced from one modality's call
only, an EMA averaging other shards than its weights', or a draw from another place in the pool (O(1)).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.trainers.omni_recipes import per_process_batches, short_run_recipe
from tests.trainers.test_distributed_training import TWO_PROCESSES, _assert_close_states, _state, _train

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)
STEPS = 4
BATCH = {"image": 2, "audio": 2}  # the 1-process run's per-step batch of each modality
FSDP = ["--set", "trainer.devices=2", "--set", "trainer.strategy=fsdp"]
THRESHOLD = 0.8  # the shared codebook's dead-code threshold
DDP_ATOL, FSDP_ATOL = 1e-4, 5e-5  # see the module docstring


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("omni-distributed")
    config = short_run_recipe(
        folder / "speech",
        STEPS,
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


@pytest.fixture(scope="module")
def one_process(recipe, tmp_path_factory) -> Path:
    """The reference: one process at the global batch."""
    run = tmp_path_factory.mktemp("omni-one") / "run"
    _train(recipe, run, *per_process_batches(BATCH, 1))
    weights = _weights(run)
    assert {k.split(".")[1] for k in weights if k.startswith("branches.")} == {"image", "audio"}
    assert bool(weights["quantizer.initialized"])  # k-means ran
    assert int((weights["quantizer.ema_count"] == THRESHOLD).sum()) > 0  # codes restarted at the last step hold it
    return run


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "tokenizer" / "model.safetensors")


def test_ddp_on_two_processes_equals_one_process(recipe, one_process, tmp_path):
    _train(recipe, tmp_path / "two", *per_process_batches(BATCH, 2), *TWO_PROCESSES)
    _assert_close_states(_weights(tmp_path / "two"), _weights(one_process), atol=DDP_ATOL)  # exported (EMA) weights
    _assert_close_states(_state(tmp_path / "two"), _state(one_process), atol=DDP_ATOL)  # live and EMA
    checkpoint = torch.load(tmp_path / "two" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["omnitok"]["step"] == STEPS


def test_fsdp_on_two_processes_equals_one_process(recipe, one_process, tmp_path):
    _train(recipe, tmp_path / "fsdp", *per_process_batches(BATCH, 2), *FSDP)
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
    fsdp = _weights(tmp_path / "fsdp")
    _assert_close_states(fsdp, _weights(one_process), atol=FSDP_ATOL)  # the exported (EMA) weights, gathered
    _assert_close_states(_state(tmp_path / "fsdp"), _state(one_process), atol=FSDP_ATOL)  # live and EMA
    config = (tmp_path / "fsdp" / "tokenizer" / "config.json").read_text()
    assert config == (one_process / "tokenizer" / "config.json").read_text()
    import omnitok

    omni = omnitok.load_tokenizer(str(tmp_path / "fsdp" / "tokenizer"))
    assert all(torch.equal(omni.state_dict()[k], v) for k, v in fsdp.items())
    from omnitok.trainers.export import read_checkpoint

    assert read_checkpoint(last, weights=False)["omnitok"]["step"] == STEPS
