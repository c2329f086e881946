"""Joint training of an omni tokenizer (OmniTrainer + OmniDataModule): every branch and the one codebook learn from
one step holding every modality, dead-code restarts draw from every modality, resume is exact, the CLI run exports a
folder whose views encode, and the held-out code statistics are those of the encodings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from safetensors.torch import load_file

from omnitok.cli.main import main
from omnitok.config import instantiate
from omnitok.models import OmniTokenizer
from omnitok.quantizers import VectorQuantizer
from omnitok.quantizers.stats import shared_codebook_stats
from omnitok.resolve import load_tokenizer
from omnitok.trainers import OmniTrainer, train
from omnitok.trainers.export import read_checkpoint
from tests.models.omni_models import inputs, tiny_branches
from tests.trainers.omni_recipes import CONFIGS, TOKENS_PER_STEP, overrides_as_cli, tiny_omni_recipe

QUICKSTART = CONFIGS / "quickstart.yaml"
from tests.trainers.test_training import Crash, RecordLosses


class Record(RecordLosses):
    """Losses per step, the live weights before training, and every call of the shared quantizer in training."""

    def __init__(self) -> None:
        super().__init__()
        self.before: dict[str, torch.Tensor] = {}
        self.quantizer_rows: list[int] = []

    def on_train_start(self, trainer, module) -> None:
        self.before = {k: v.detach().clone() for k, v in module.tokenizer.state_dict().items()}
        quantizer = module.tokenizer.quantizer
        inner = quantizer.quantize_flat

        def spy(x, active=None):
            if quantizer.training:
                self.quantizer_rows.append(x.shape[0])
            return inner(x, active)

        quantizer.quantize_flat = spy


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech") / "clips"


@pytest.fixture(scope="module")
def straight(tmp_path_factory, speech):
    out = tmp_path_factory.mktemp("omni") / "straight"
    record = Record()
    module_holder: list = []

    class Keep(pl.Callback):
        def on_train_end(self, trainer, module) -> None:
            module_holder.append(module)

    train(tiny_omni_recipe(speech), out, callbacks=[record, Keep()])
    return out, record, module_holder[0]


def test_one_joint_step_trains_every_branch_and_the_one_codebook(straight):
    out, record, module = straight
    assert isinstance(module, OmniTrainer) and sorted(record.losses) == [1, 2, 3, 4]
    # the shared quantizer ran once per training step, on every modality's tokens together
    assert record.quantizer_rows == [sum(TOKENS_PER_STEP.values())] * 4
    after = module.tokenizer.state_dict()
    for modality in ("image", "video", "audio"):
        for part in ("encoder", "decoder"):
            names = [k for k in after if k.startswith(f"branches.{modality}.{part}.") and after[k].is_floating_point()]
            assert names and any(not torch.equal(after[k], record.before[k]) for k in names), f"{modality} {part}"
    assert [k for k in after if k.endswith("codebook")] == ["quantizer.codebook"]  # one table
    assert not torch.equal(after["quantizer.codebook"], record.before["quantizer.codebook"])  # k-means + EMA moved it
    # per-modality and pooled figures were logged, validation included
    rows = list(csv.DictReader((out / "logs" / "version_0" / "metrics.csv").open()))
    columns = set(rows[0])
    for modality in ("image", "video", "audio"):
        assert {f"train/{modality}/loss", f"train/{modality}/psnr", f"val/{modality}/psnr"} <= columns
        assert f"val/codes/{modality}/codebook_usage" in columns and f"val/codes/{modality}/perplexity" in columns
    assert {"train/loss_quantizer", "train/usage", "val/codes/overlap/used_by_3", "val/codes/all/perplexity"} <= columns


def test_dead_code_restarts_draw_from_every_modality():
    """All codes are dead before a joint step: each restarts on a latent vector of the step, and the restarted codes
    come from image, video and audio latents alike (one pool), each an exact latent row of its modality."""
    torch.manual_seed(0)
    quantizer = VectorQuantizer(4, 32, update="ema", dead_code_threshold=1e6)  # every code restarts every step
    omni = OmniTokenizer(quantizer, tiny_branches()).train()
    x = inputs()
    with torch.no_grad():
        rows = {m: omni.latents(v, m).movedim(1, -1).reshape(-1, 4) for m, v in x.items()}
    with torch.no_grad(), pytest.warns(UserWarning, match="dead_code_threshold"):
        joint = omni(x)
    assert joint.tokens == {m: r.shape[0] for m, r in rows.items()}
    sources = []
    for code in quantizer.codebook:
        matches = [m for m, r in rows.items() if (r == code).all(1).any()]
        assert len(matches) == 1, "a restarted code is one latent row of the step"
        sources.append(matches[0])
    assert set(sources) == {"image", "video", "audio"}
    # the same restart through one modality's own forward draws from that modality only
    with torch.no_grad():
        omni(x["audio"], modality="audio")
    assert all((rows["audio"] == code).all(1).any() for code in quantizer.codebook)


def test_resume_continues_exactly(straight, tmp_path, speech):
    out, record, _ = straight
    config = tiny_omni_recipe(speech)
    first = Record()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "crashed", callbacks=[first, Crash(at=3)])
    assert read_checkpoint(tmp_path / "crashed" / "checkpoints" / "last.ckpt")["omnitok"]["step"] == 2
    resumed = Record()
    train(config, tmp_path / "crashed", resume=tmp_path / "crashed" / "checkpoints" / "last.ckpt", callbacks=[resumed])
    assert sorted(resumed.losses) == [3, 4]
    assert all(first.losses[s] == record.losses[s] for s in (1, 2))
    assert all(resumed.losses[s] == record.losses[s] for s in (3, 4)), (resumed.losses, record.losses)
    a = load_file(out / "tokenizer" / "model.safetensors")
    b = load_file(tmp_path / "crashed" / "tokenizer" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_run_exports_one_folder_and_reports_the_shared_codebook(tmp_path, speech, capsys):
    out = tmp_path / "run"
    args = ["train", "--config", str(QUICKSTART), "--out", str(out), *overrides_as_cli(speech)]
    assert main([*args, "--set", "trainer.max_steps=2"]) == 0
    printed = capsys.readouterr().out
    assert "The shared codebook on the held-out sets" in printed and "## audio: held-out" in printed
    omni = load_tokenizer(out / "tokenizer")
    assert isinstance(omni, OmniTokenizer) and omni.modalities == ("image", "video", "audio")
    report = json.loads((out / "heldout.json").read_text())
    assert report["omni"] and set(report["modalities"]) == {"image", "video", "audio"}
    assert report["modalities"]["image"]["psnr_after"] is not None
    assert report["modalities"]["audio"]["si_sdr_after"] is not None
    # the held-out code statistics are shared_codebook_stats of the exported views' encodings of the held-out data
    data = instantiate(json.loads(json.dumps(tiny_omni_recipe(speech)["data"])))
    data.setup("fit")
    codes = {}
    for modality, loader in data.test_dataloaders().items():
        view = load_tokenizer(out / "tokenizer", modality=modality)
        assert view.spec.modality == modality and view.spec.codebook_sizes == (32,)
        encoded, seen = [], 0
        for batch in loader:
            x = batch[modality][: 4 - seen]
            encoded.append(view.encode(x))
            seen += x.shape[0]
            if seen >= 4:
                break
        codes[modality] = torch.cat(encoded)
        assert int(codes[modality].max()) < 32
    expected = shared_codebook_stats(codes, 32).to_dict()
    assert report["codebook"] == pytest.approx(expected, rel=1e-9, abs=0)
    assert (
        report["codebook"]["overlap/used_by_1"]
        + report["codebook"]["overlap/used_by_2"]
        + report["codebook"]["overlap/used_by_3"]
        + report["codebook"]["overlap/unused"]
        == 32
    )


def test_realscale_recipe_runs_one_step_at_tiny_sizes(tmp_path, speech):
    """configs/omni/vq16k_image_video_speech.yaml with its networks shrunk, built-in data, LPIPS without downloaded
    weights, on the CPU: one joint training step and an exported omni folder."""
    config = tiny_omni_recipe(
        speech,
        name="vq16k_image_video_speech",
        **{"trainer.max_steps": 1, "trainer.val_every": 1, "trainer.heldout_samples": 0},
    )
    terms = [t for ts in config["model"]["init_args"]["losses"].values() for t in ts]
    perceptual = [t for t in terms if t["class_path"].endswith("PerceptualLoss")]
    assert len(perceptual) == 2
    for term in perceptual:
        term["init_args"]["pretrained"] = False  # no ImageNet download in tests
    result = train(config, tmp_path / "run")
    assert result.step == 1 and isinstance(load_tokenizer(result.tokenizer), OmniTokenizer)


def test_every_step_holds_the_batch_each_single_modality_run_sees_at_that_step(speech):
    """The sampling rule: step s holds batch s of every modality's own step-indexed stream, i.e. exactly the batch a
    single-modality run on the same data module gets at step s (equal examples per modality in both arms)."""
    data = instantiate(tiny_omni_recipe(speech)["data"])
    data.setup("fit")
    joint = iter(data.train_dataloader())
    alone = {m: iter(part.train_dataloader()) for m, part in data.parts.items()}
    for _ in range(3):
        batch = next(joint)
        for modality, stream in alone.items():
            assert torch.equal(batch[modality], next(stream)[modality])
