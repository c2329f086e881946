"""Joint omni training (OmniTrainer + OmniDataModule) on 2 CPU processes (gloo, Lightning's launcher, through
``omnitok train``) against one process holding each modality's whole global batch.

The recipe is configs/omni/quickstart.yaml shrunk by ``tests/trainers/omni_recipes.py`` (image, video and audio
branches around one VQ codebook with k-means initialisation and dead-code restarts, EMA weights), 4 steps. The 1-process
run takes 2 images, 2 clips and 2 speech segments per step; each of the 2 processes takes 1 of each (every data
module's batch size halved), so the global batches are the same.

What must agree: each process's half of every modality's batch (the step-indexed samplers split each modality's
global batch by rank), the gradient all-reduce, and the shared quantizer's state. The quantizer sees one pooled token
list per step (image, then video, then audio tokens); its k-means seeds and dead-code restarts draw rows over the
global pool, which must be the 1-process pool's order (modality by modality, each modality's rows rank by rank), not
rank 0's pool followed by rank 1's: drawn in the latter order, they moved codebook entries by O(1).

Tolerance: the runs sum the same gradients and codebook statistics in another order (all-reduce of two halves against
one sum), float32 rounding that Adam's division by the root of tiny second moments enlarges (as in
``test_distributed_training.py``). Measured over every exported weight, every live weight and every buffer of the
checkpoint, with the recipe's earlier SEANet audio branch: at most 5.7e-5 on the codebook's EMA sums (entries up to
13: 4e-6 relative), 4.3e-5 on an audio weight, 9e-6 on the codebook; the spectral audio branch passes the same bound.
One Adam step moves a weight by up to its learning rate (3e-4 image, 4e-4 video, 2e-3 audio), so 1e-4 (a third of the
smallest step)
fails a missing gradient all-reduce or a sampler giving both ranks the same samples, and a k-means seed or restart
drawn from another place in the pool moves codebook entries and EMA sums by O(1) (measured: up to 1.1 and 11 before
``pooled_rows``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.trainers.omni_recipes import tiny_omni_recipe
from tests.trainers.test_distributed_training import TWO_PROCESSES, _assert_close_states, _state, _train

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)
STEPS = 4
BATCH = {"image": 2, "video": 2, "audio": 2}  # the 1-process run's per-step batch of each modality
THRESHOLD = 0.9  # the shared codebook's dead-code threshold
ATOL = 1e-4  # see the module docstring


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("omni-ddp")
    config = tiny_omni_recipe(
        folder / "speech",
        trainer__max_steps=STEPS,
        trainer__val_every=STEPS,
        trainer__checkpoint_every=STEPS,
        trainer__heldout_samples=0,
        # dead-code restarts from step 2 on (measured: 3, 5 and 7 codes at steps 2, 3 and 4): the counts follow the
        # last step (decay 0.1), and a code given under 0.9 of the step's 436 tokens (32 image, 384 video, 20 audio)
        # restarts on a row of the pool (the mean is 6.8 per code; omnitok warns of churn above a quarter of it)
        model__tokenizer__quantizer__codebook_size=64,
        model__tokenizer__quantizer__decay=0.1,
        model__tokenizer__quantizer__dead_code_threshold=THRESHOLD,
        model__tokenizer__quantizer__kmeans_iters=2,
    )
    path = folder / "omni.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _batches(per_process: int) -> list[str]:
    return [a for m, b in BATCH.items() for a in ("--set", f"data.{m}.batch_size={b // per_process}")]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "tokenizer" / "model.safetensors")


def test_two_processes_equal_one_process_over_the_same_global_batches(recipe, tmp_path):
    _train(recipe, tmp_path / "one", *_batches(1))
    _train(recipe, tmp_path / "two", *_batches(2), *TWO_PROCESSES)
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert {k.split(".")[1] for k in one if k.startswith("branches.")} == {"image", "video", "audio"}
    assert bool(one["quantizer.initialized"])  # k-means ran
    assert int((one["quantizer.ema_count"] == THRESHOLD).sum()) > 0  # codes restarted at the last step hold it
    _assert_close_states(two, one, atol=ATOL)  # the exported (EMA) weights
    _assert_close_states(_state(tmp_path / "two"), _state(tmp_path / "one"), atol=ATOL)  # live weights and EMA
    for run in ("one", "two"):
        checkpoint = torch.load(tmp_path / run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert checkpoint["omnitok"]["step"] == STEPS
