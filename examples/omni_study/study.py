"""Run the two arms of the omni-codebook comparison and write the table.

Arm "separate": one ``omnitok.trainers.train`` run per modality (``<out>/separate/<modality>``), recipes from
:func:`examples.omni_study.recipes.separate_recipes`. Arm "shared": one run of the omni recipe (``<out>/shared``).
Every figure comes from the runs' ``heldout.json`` (the same held-out samples in both arms: each run's data module is
the one the omni run draws that modality from): PSNR for images and video, SI-SDR and mel distance for audio, and for
arm "shared" its ``codebook`` section (per-modality usage and perplexity of the one codebook, and the overlap). A
single-modality ``heldout.json`` has no code statistics, so for arm "separate" the exported tokenizer encodes the same
held-out samples (the first ``trainer.heldout_samples``, as the held-out report takes them) and
:func:`omnitok.quantizers.shared_codebook_stats` counts them per own codebook.

Each arm writes ``<out>/<arm>/arm.json`` when it finishes; ``<out>/results.json`` and ``<out>/report.md`` are then
rewritten from every finished arm (so the arms may run as two processes side by side).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from examples.omni_study.recipes import modalities_of, separate_recipes, shared_codebook_size, split_codebook
from omnitok.config import instantiate
from omnitok.quantizers import CodebookStats
from omnitok.quantizers.stats import shared_codebook_stats
from omnitok.resolve import load_tokenizer
from omnitok.trainers import train
from omnitok.utils import atomic_path

ARMS = ("separate", "shared")
METRICS = {"image": ("psnr",), "video": ("psnr",), "audio": ("si_sdr", "mel_distance")}
"""The held-out figures the table reports per modality (heldout.json's ``<metric>_after``)."""


def run_arm(arm: str, omni: dict[str, Any], out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train one arm into ``out/<arm>`` and return (and write to ``arm.json``) its figures."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    folder = out / arm
    start = time.perf_counter()
    if arm == "shared":
        log(f"arm shared: training the omni recipe into {folder}")
        train(copy.deepcopy(omni), folder)
        result = measure_shared(folder, omni)
    else:
        runs, walls, recipes = {}, {}, separate_recipes(omni)
        for modality, recipe in recipes.items():
            log(f"arm separate: training {modality} into {folder / modality}")
            began = time.perf_counter()
            train(recipe, folder / modality)
            walls[modality] = time.perf_counter() - began
            runs[modality] = folder / modality
        result = measure_separate(runs, recipes)
        result["wall_seconds_per_run"] = walls
    result["wall_seconds"] = time.perf_counter() - start
    result["steps"] = int(omni["trainer"]["max_steps"])
    result["threads"] = torch.get_num_threads()
    with atomic_path(folder / "arm.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _quality(heldout: dict[str, Any], modality: str) -> dict[str, float | None]:
    return {name: heldout.get(f"{name}_after") for name in METRICS.get(modality, ())}


def measure_shared(folder: Path, omni: dict[str, Any]) -> dict[str, Any]:
    """Arm "shared"'s figures from its heldout.json."""
    heldout = json.loads((folder / "heldout.json").read_text())
    codes = heldout["codebook"]
    size = int(heldout["codebook_size"])
    modalities = {}
    for modality in modalities_of(omni):
        modalities[modality] = {
            **_quality(heldout["modalities"][modality], modality),
            "codebook_size": size,
            "codes_used": int(codes[f"{modality}/codes_used"]),
            "usage": codes[f"{modality}/codebook_usage"],
            "perplexity": codes[f"{modality}/perplexity"],
            "tokens": int(codes[f"{modality}/tokens"]),
        }
    overlap = {key.removeprefix("overlap/"): int(value) for key, value in codes.items() if key.startswith("overlap/")}
    return {
        "arm": "shared",
        "codebook_sizes": {m: size for m in modalities},
        "total_codebook_size": size,
        "codes_used_total": int(codes["all/codes_used"]),
        "modalities": modalities,
        "overlap": overlap,
    }


@torch.no_grad()
def heldout_codes(run: Path, recipe: dict[str, Any], modality: str) -> CodebookStats:
    """The exported tokenizer's codes on the first ``trainer.heldout_samples`` held-out samples (those the run's
    held-out report scored), counted in its own codebook."""
    tokenizer = load_tokenizer(run / "tokenizer").eval()
    data = instantiate(copy.deepcopy(recipe["data"]))
    data.setup("fit")
    limit = int(recipe["trainer"].get("heldout_samples", 256))
    stats, seen = CodebookStats(tokenizer.spec.codebook_sizes), 0
    for batch in data.test_dataloader():
        x = batch[modality][: limit - seen]
        if x.shape[0]:
            stats.update(tokenizer.encode(x))
        seen += x.shape[0]
        if seen >= limit:
            break
    return stats


def measure_separate(runs: dict[str, Path], recipes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Arm "separate"'s figures: quality from each run's heldout.json, usage of each run's own codebook."""
    modalities = {}
    for modality, run in runs.items():
        heldout = json.loads((run / "heldout.json").read_text())
        stats = heldout_codes(run, recipes[modality], modality)
        own = shared_codebook_stats({modality: stats})
        modalities[modality] = {
            **_quality(heldout, modality),
            "codebook_size": own.codebook_size,
            "codes_used": own.used[modality],
            "usage": own.usage[modality],
            "perplexity": own.perplexity[modality],
            "tokens": own.tokens[modality],
        }
    sizes = {m: f["codebook_size"] for m, f in modalities.items()}
    return {
        "arm": "separate",
        "codebook_sizes": sizes,
        "total_codebook_size": sum(sizes.values()),
        "codes_used_total": sum(f["codes_used"] for f in modalities.values()),
        "modalities": modalities,
        "overlap": None,  # separate id spaces: no code is shared
    }


def write_report(out: Path, omni: dict[str, Any]) -> dict[str, Any]:
    """results.json and report.md from every finished arm (``<out>/<arm>/arm.json``); returns the results."""
    arms = {arm: json.loads((out / arm / "arm.json").read_text()) for arm in ARMS if (out / arm / "arm.json").exists()}
    results = {
        "protocol": {
            "steps": int(omni["trainer"]["max_steps"]),
            "seed": omni.get("seed", 0),
            "shared_codebook_size": shared_codebook_size(omni),
            "separate_codebook_sizes": split_codebook(shared_codebook_size(omni), modalities_of(omni)),
            "batch_sizes": {m: omni["data"]["init_args"][m]["init_args"]["batch_size"] for m in modalities_of(omni)},
            "heldout_samples": omni["trainer"].get("heldout_samples"),
            "torch": torch.__version__,
        },
        "arms": arms,
    }
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(render_markdown(results))
    return results


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table_rows(results: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(row label, one cell per arm in ARMS order; "not run" for an arm without results)."""
    arms = [results["arms"].get(arm) for arm in ARMS]
    first = next(a for a in arms if a)
    modalities = list(first["modalities"])

    def cells(fn: Callable[[dict[str, Any]], str]) -> list[str]:
        return [fn(a) if a else "not run" for a in arms]

    rows: list[tuple[str, list[str]]] = []
    labels = {"psnr": "PSNR (dB)", "si_sdr": "SI-SDR (dB)", "mel_distance": "mel distance"}
    for m in modalities:
        for name in METRICS.get(m, ()):
            rows.append((f"{m} {labels[name]}", cells(lambda a, m=m, n=name: _number(a["modalities"][m][n]))))
    for m in modalities:
        rows.append((
            f"{m} codes used / codebook",
            cells(lambda a, m=m: "{codes_used} / {codebook_size} ({usage:.1%})".format(**a["modalities"][m])),
        ))  # fmt: skip
        rows.append((f"{m} perplexity", cells(lambda a, m=m: _number(a["modalities"][m]["perplexity"], 1))))
    rows.append(("codes used in all", cells(lambda a: f"{a['codes_used_total']} / {a['total_codebook_size']}")))
    n = len(modalities)
    rows.append((
        "codes used by 1 / 2 / 3 modalities" if n == 3 else f"codes used by 1..{n} modalities",
        cells(lambda a: "n/a" if a["overlap"] is None else " / ".join(
            str(a["overlap"][f"used_by_{k}"]) for k in range(1, n + 1))),
    ))  # fmt: skip
    rows.append(("train wall time (min)", cells(lambda a: f"{a['wall_seconds'] / 60:.1f}")))
    return rows


def render_markdown(results: dict[str, Any]) -> str:
    p = results["protocol"]
    sizes = " + ".join(f"{m} {k}" for m, k in p["separate_codebook_sizes"].items())
    batches = ", ".join(f"{m} {b}" for m, b in p["batch_sizes"].items())
    lines = [
        "# One shared codebook vs separate codebooks (image, video, audio)",
        "",
        (
            f"Both arms: the networks, data modules, losses and learning rates of the omni recipe, {p['steps']} steps, "
            f"batch per step {batches} (the same examples per modality per step in both arms), seed {p['seed']}, "
            f"torch {p['torch']}. Arm *separate*: three single-modality tokenizers, own codebooks of {sizes} codes; "
            f"arm *shared*: one omni tokenizer, one codebook of {p['shared_codebook_size']} codes. Held-out figures "
            f"on the first {p['heldout_samples']} held-out samples per modality, after training (EMA weights)."
        ),
        "",
        f"| | {' | '.join(ARMS)} |",
        "|---|" + "---:|" * len(ARMS),
    ]
    lines += [f"| {label} | {' | '.join(values)} |" for label, values in table_rows(results)]
    lines += [
        "",
        (
            "Usage is codes used / that modality's codebook (its own in *separate*, the one shared codebook in "
            "*shared*); perplexity is 2^entropy of its held-out code histogram. Overlap (codes used by one, two or "
            "all three modalities) exists only for the shared codebook. Wall time: the arm's trainings end to end "
            "(held-out measurement and export included)."
        ),
        "",
    ]
    return "\n".join(lines)
