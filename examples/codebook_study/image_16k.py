"""The image quickstart at 16384 codes, one arm per anti-collapse method: plain VQ, the rotation trick, SimVQ, IBQ
(with SEED-Voken's +-1/K code initialisation, and with +-1).

Every arm is ``omnitok train --config examples/codebook_study/image_16k/<arm>.yaml --out <out>/<arm>
--set trainer.max_steps=<steps>`` (same network, data, steps and seed 0; only the quantizer differs), run one after
another. Then each trained tokenizer is measured: held-out PSNR (the run's ``heldout.json``), and codebook usage,
dead codes and perplexity over the held-out images and over ``--train-batches`` batches of training crops (held-out
images alone give 128 x 64 = 8192 tokens, fewer than the 16384 codes).

    python -m examples.codebook_study.image_16k --out runs/image-16k --steps 2000
    python -m examples.codebook_study.image_16k --steps 2000 --set trainer.accelerator=gpu   # ~1.5 min per arm on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from omnitok.config import instantiate, load_yaml_config
from omnitok.hub import load_tokenizer
from omnitok.quantizers import CodebookStats
from omnitok.utils import atomic_path

RECIPES = Path(__file__).resolve().parent / "image_16k"
ARMS = ("vq", "vq_rotation", "simvq", "ibq", "ibq_init1")
LABELS = {
    "vq": "plain VQ",
    "vq_rotation": "VQ + rotation trick",
    "simvq": "SimVQ",
    "ibq": "IBQ (codes init +-1/K)",
    "ibq_init1": "IBQ (codes init +-1)",
}


def train_arm(arm: str, out: Path, steps: int, overrides: list[str]) -> float:
    """Run ``omnitok train`` for one arm (``overrides``: extra ``--set`` values); returns its wall time in seconds."""
    command = [
        sys.executable, "-m", "omnitok.cli.main", "train", "--config", str(RECIPES / f"{arm}.yaml"),
        "--out", str(out), "--set", f"trainer.max_steps={steps}", "--set", "trainer.progress_bar=false",
    ]  # fmt: skip
    for value in overrides:
        command += ["--set", value]
    print(" ".join(command[2:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")})
    return time.perf_counter() - start


@torch.no_grad()
def measure_arm(run: Path, train_batches: int) -> dict[str, float]:
    """Held-out PSNR and codebook figures of a finished run folder."""
    heldout = json.loads((run / "heldout.json").read_text())
    tokenizer = load_tokenizer(run / "tokenizer").eval()  # on the CPU
    config = load_yaml_config(run / "config.yaml")
    data = instantiate(config["data"])
    data.setup("fit")
    figures: dict[str, float] = {"psnr_after": heldout["psnr_after"], "psnr_before": heldout["psnr_before"]}
    held, seen = CodebookStats(tokenizer.spec.codebook_sizes), 0
    for batch in data.test_dataloader():
        held.update(tokenizer.encode(batch["image"]))
        seen += batch["image"].shape[0]
        if seen >= heldout["samples"]:
            break
    crops = CodebookStats(tokenizer.spec.codebook_sizes)
    for index, batch in enumerate(data.train_dataloader()):
        if index >= train_batches:
            break
        crops.update(tokenizer.encode(batch["image"]))
    for prefix, stats in (("heldout", held), ("train", crops)):
        computed = stats.compute()
        for key in ("usage", "dead_codes", "perplexity", "tokens"):
            figures[f"{prefix}_{key}"] = computed[key]
    return figures


def render(results: dict[str, dict[str, float]], steps: int, overrides: list[str]) -> str:
    extra = "".join(f", {value}" for value in overrides)
    lines = [
        f"# Image quickstart at 16384 codes ({steps} steps, batch 16, seed 0{extra})",
        "",
        (
            "| quantizer | held-out PSNR | usage (held-out) | dead codes (held-out) | usage (train crops) | dead codes "
            "(train crops) | perplexity (train crops) | wall time |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, r in results.items():
        lines.append(
            f"| {LABELS.get(arm, arm)} | {r['psnr_after']:.2f} | {r['heldout_usage']:.1%} | {int(r['heldout_dead_codes'])} "
            f"| {r['train_usage']:.1%} | {int(r['train_dead_codes'])} | {r['train_perplexity']:.0f} "
            f"| {r.get('wall_seconds', float('nan')) / 60:.1f} min |"
        )
    first = next(iter(results.values()))
    lines += [
        "",
        (
            f"Held-out: {int(first['heldout_tokens'])} tokens of the run's held-out images; train crops: "
            f"{int(first['train_tokens'])} tokens of training batches. Dead codes: codes no token used."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/image-16k"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated subset of " + ",".join(ARMS))
    parser.add_argument("--train-batches", type=int, default=64, help="training batches the usage is counted on")
    parser.add_argument("--measure-only", action="store_true", help="measure existing run folders, train nothing")
    parser.add_argument("--set", action="append", default=[], help="extra omnitok train --set KEY=VALUE (repeatable)")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    summary = args.out / "summary.json"
    previous = json.loads(summary.read_text()) if summary.exists() else {}
    for arm in args.arms.split(","):
        run = args.out / arm
        wall = previous.get(arm, {}).get("wall_seconds", float("nan"))
        if not args.measure_only:
            wall = train_arm(arm, run, args.steps, args.set)
        results[arm] = {**measure_arm(run, args.train_batches), "wall_seconds": wall}
        print(json.dumps({arm: results[arm]}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(summary) as tmp:
        tmp.write_text(json.dumps({**previous, **results}, indent=2) + "\n")
    with atomic_path(args.out / "summary.md") as tmp:
        tmp.write_text(render(results, args.steps, args.set))
    print(render(results, args.steps, args.set))
    return 0


if __name__ == "__main__":
    sys.exit(main())
