"""The omni-codebook study (`python -m examples.omni_study`): the separate arm's recipes are the omni recipe's branches
at an equal total codebook size, both arms train end to end at tiny sizes, and the table has every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from examples.omni_study.__main__ import main
from examples.omni_study.recipes import load_omni_recipe, separate_recipes, split_codebook
from examples.omni_study.study import ARMS, METRICS
from omnitok.config import instantiate
from tests.trainers.omni_recipes import TINY

ROOT = Path(__file__).resolve().parents[2]


def tiny_sets(folder: Path) -> list[str]:
    """tests/trainers/omni_recipes.TINY as --set values (3 steps, held-out figures on 4 samples per modality)."""
    settings = {**TINY, "data.audio.generated_folder": str(folder), "trainer.max_steps": 3, "trainer.val_every": 3}
    return [
        f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
        for k, v in settings.items()
    ]


def test_split_codebook_sums_to_the_shared_size():
    assert split_codebook(1024, ["image", "video", "audio"]) == {"image": 342, "video": 341, "audio": 341}
    assert split_codebook(32, ["a", "b"]) == {"a": 16, "b": 16}
    for total in range(3, 50):
        assert sum(split_codebook(total, ["image", "video", "audio"]).values()) == total


def test_separate_recipes_are_the_omni_branches_at_equal_total_codebook_size():
    omni = load_omni_recipe()
    model, trainer = omni["model"]["init_args"], omni["trainer"]
    assert trainer["max_steps"] == 600  # the study's stated length
    tokenizer = model["tokenizer"]["init_args"]
    recipes = separate_recipes(omni)
    assert list(recipes) == ["image", "video", "audio"]
    sizes = {}
    for modality, recipe in recipes.items():
        args = recipe["model"]["init_args"]
        single = args["tokenizer"]["init_args"]
        branch = tokenizer["branches"][modality]["init_args"]
        assert {k: v for k, v in single.items() if k not in ("modality", "quantizer")} == branch  # same networks
        quantizer = single["quantizer"]
        sizes[modality] = quantizer["init_args"]["codebook_size"]
        shared = tokenizer["quantizer"]
        assert quantizer["class_path"] == shared["class_path"]
        assert {k: v for k, v in quantizer["init_args"].items() if k != "codebook_size"} == {
            k: v for k, v in shared["init_args"].items() if k != "codebook_size"
        }
        assert args["losses"] == model["losses"][modality]  # modality_weights are 1.0
        assert args["learning_rate"] == model["learning_rates"][modality]
        for name in ("betas", "warmup_steps", "lr_schedule", "min_lr_ratio", "gradient_clip", "ema_decay"):
            assert args[name] == model[name], name
        assert args["media_key"] == modality and recipe["model"]["class_path"] == "omnitok.trainers.TokenizerTrainer"
        assert recipe["data"] == omni["data"]["init_args"][modality]  # same module: same batch at every step
        assert recipe["trainer"] == trainer and recipe["seed"] == omni["seed"]
    assert sum(sizes.values()) == tokenizer["quantizer"]["init_args"]["codebook_size"] == 1024
    # built, each separate tokenizer's encoder and decoder are the omni branch's, weight for weight in shape
    omni_tokenizer = instantiate(omni["model"]["init_args"]["tokenizer"])
    for modality, recipe in recipes.items():
        alone = instantiate(recipe["model"]["init_args"]["tokenizer"])
        assert alone.spec.codebook_sizes == (sizes[modality],)
        assert alone.spec.downsample == omni_tokenizer.specs[modality].downsample
        for part in ("encoder", "decoder"):
            a = {k: v.shape for k, v in getattr(alone, part).state_dict().items()}
            b = {k: v.shape for k, v in getattr(omni_tokenizer.branches[modality], part).state_dict().items()}
            assert a == b, (modality, part)


def test_a_modality_weight_scales_that_modalitys_derived_loss_terms():
    """The separate arm's loss for modality m is the omni run's share of it: each term's weight x modality_weights[m]."""
    omni = load_omni_recipe(overrides=["model.init_args.modality_weights.audio=2.0"])
    derived = separate_recipes(omni)
    for modality, scale in (("image", 1.0), ("audio", 2.0)):
        terms = omni["model"]["init_args"]["losses"][modality]
        weights = [t["init_args"]["weight"] for t in derived[modality]["model"]["init_args"]["losses"]]
        assert weights == [scale * t.get("init_args", {}).get("weight", 1.0) for t in terms]


def test_seanet_audio_variant_changes_only_the_audio_branch_its_loss_and_rate():
    """The earlier study's recipe (SEANet audio branch) stays reproducible beside the default spectral one."""
    import torch

    base = load_omni_recipe()
    seanet = load_omni_recipe([ROOT / "examples" / "omni_study" / "seanet_audio.yaml"])
    b, s = base["model"]["init_args"], seanet["model"]["init_args"]
    for modality in ("image", "video"):  # the other branches, their losses and rates are the quickstart's
        assert s["tokenizer"]["init_args"]["branches"][modality] == b["tokenizer"]["init_args"]["branches"][modality]
        assert s["losses"][modality] == b["losses"][modality]
        assert s["learning_rates"][modality] == b["learning_rates"][modality]
    assert s["tokenizer"]["init_args"]["quantizer"] == b["tokenizer"]["init_args"]["quantizer"]
    assert seanet["data"] == base["data"] and seanet["trainer"] == base["trainer"]
    encoders = {
        name: separate_recipes(recipe)["audio"]["model"]["init_args"]["tokenizer"]["init_args"]["encoder"]["class_path"]
        for name, recipe in (("base", base), ("seanet", seanet))
    }
    assert encoders == {"base": "omnitok.nn.MelEncoder", "seanet": "omnitok.nn.SEANetEncoder"}
    assert [t["class_path"] for t in b["losses"]["audio"]] == ["omnitok.trainers.MultiScaleMelLoss"]
    assert len(s["losses"]["audio"]) == 3 and s["learning_rates"]["audio"] == 1e-3
    for recipe in (b, s):  # both at the quickstart's rate: 0.5 s segments are 25 tokens
        tokenizer = instantiate(recipe["tokenizer"]).audio
        assert tokenizer.spec.token_rate == 50.0
        assert tokenizer.encode(torch.zeros(1, 1, 8000)).shape == (1, 25)


def test_both_arms_run_and_the_table_has_every_figure(tmp_path, capsys):
    out = tmp_path / "study"
    sets = [arg for value in tiny_sets(tmp_path / "speech") for arg in ("--set", value)]
    assert main(["--out", str(out), *sets]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["separate_codebook_sizes"] == {"image": 11, "video": 11, "audio": 10}  # 32 codes
    assert set(results["arms"]) == set(ARMS)
    for arm, figures in results["arms"].items():
        assert figures["steps"] == 3 and figures["wall_seconds"] > 0
        assert figures["total_codebook_size"] == 32
        for modality in ("image", "video", "audio"):
            row = figures["modalities"][modality]
            for name in (*METRICS[modality], "codes_used", "usage", "perplexity", "tokens"):
                assert row[name] is not None, (arm, modality, name)
            assert 1 <= row["codes_used"] <= row["codebook_size"]
            assert row["tokens"] > 0
    shared, separate = results["arms"]["shared"], results["arms"]["separate"]
    assert separate["overlap"] is None
    used_by = [shared["overlap"][f"used_by_{k}"] for k in (1, 2, 3)]
    assert sum(used_by) + shared["overlap"]["unused"] == 32 and sum(used_by) == shared["codes_used_total"]
    # the figures are the runs' heldout.json
    held = json.loads((out / "shared" / "heldout.json").read_text())
    assert shared["modalities"]["audio"]["si_sdr"] == held["modalities"]["audio"]["si_sdr_after"]
    assert shared["modalities"]["video"]["codes_used"] == held["codebook"]["video/codes_used"]
    held = json.loads((out / "separate" / "image" / "heldout.json").read_text())
    assert separate["modalities"]["image"]["psnr"] == held["psnr_after"]
    report = (out / "report.md").read_text()
    for label in ("image PSNR", "video PSNR", "audio SI-SDR", "audio mel distance", "audio codes used",
                  "codes used by 1 / 2 / 3 modalities", "train wall time"):  # fmt: skip
        assert label in report
    assert "not run" not in report and report.count("n/a") == 1  # the separate arm's overlap
    assert "report:" in capsys.readouterr().out


@pytest.mark.slow
def test_real_study_runs_both_arms(tmp_path):
    """The README's command: both arms at the study's sizes (about 15 minutes each on one of 2 cores)."""
    out = tmp_path / "omni-study"
    command = [sys.executable, "-m", "examples.omni_study", "--out", str(out)]
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "2"})
    results = json.loads((out / "results.json").read_text())
    assert set(results["arms"]) == set(ARMS)
    for figures in results["arms"].values():
        assert figures["steps"] == 600
        assert all(v is not None for row in figures["modalities"].values() for v in row.values())
