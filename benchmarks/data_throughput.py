"""Training data and data-parallel throughput on the CPU, two tables.

1. Reading: samples/s of ImageDataModule's training loader over the same images as a folder of PNG files and as
   litdata shards packed from it (``omnitok data pack``), with 1, 2 and 4 DataLoader workers. The images are the
   built-in ones (``omnitok data builtin``) at ``--size``; each loader is timed over ``--batches`` batches after
   its first batch (worker start-up excluded).
2. Training: steps/s of one process at batch 2B against two DDP processes (gloo) at batch B each. Both train the same recipe over the same global batches through ``omnitok train``. Start-up (imports, process
group, data, held-out scoring) is taken out by timing each set-up at two lengths and dividing the difference in
wall time by the difference in steps. On a 2-core machine the two processes share the cores the single process
uses (one thread each here), so the ratio shows the data-parallel overhead (gradient all-reduce, collectives of the
codebook and of the figures) more than a speed-up; on GPUs each process has its own device.

    .venv/bin/python benchmarks/data_throughput.py [--size 64] [--batches 40] [--recipe configs/image/quickstart_vq.yaml]
        [--batch 8] [--steps 20 60] [--parts read,ddp]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--set", "trainer.progress_bar=false", "--set", "trainer.heldout_samples=0", "--set", "trainer.val_every=100000"]


def timed_run(recipe: str, steps: int, processes: int, batch: int, threads: int) -> float:
    """Wall seconds of ``omnitok train`` for ``steps`` steps on ``processes`` processes of ``batch`` samples each."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "omnitok.cli.main", "train", "--config", recipe, "--out", f"{out}/run", *QUIET]
        command += ["--set", f"trainer.max_steps={steps}", "--set", f"data.batch_size={batch}"]
        command += ["--set", f"trainer.checkpoint_every={steps}", "--set", "trainer.accelerator=cpu"]
        if processes > 1:
            command += ["--set", f"trainer.devices={processes}", "--set", "trainer.strategy=ddp"]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
        return time.perf_counter() - start


def steps_per_second(recipe: str, steps: tuple[int, int], processes: int, batch: int, threads: int) -> float:
    short, long = (timed_run(recipe, n, processes, batch, threads) for n in steps)
    return (steps[1] - steps[0]) / (long - short)


def reading_table(size: int, batches: int, batch: int) -> None:
    from omnitok.data.builtin import write_builtin_images
    from omnitok.trainers.data import ImageDataModule
    from omnitok.trainers.packing import pack_media

    with tempfile.TemporaryDirectory() as scratch:
        write_builtin_images(f"{scratch}/images", size=size, splits=("train",))
        pack_media(f"{scratch}/images/train", f"{scratch}/packed", workers=2, log=lambda _: None)
        print(f"\n{len(list(Path(scratch, 'images/train').rglob('*.png')))} built-in PNG images at {size}x{size}, "
              f"batch {batch}, random {size}px crops")
        print("| workers | folder (samples/s) | packed shards (samples/s) | ratio (packed / folder) |")
        print("|---|---|---|---|")
        for workers in (1, 2, 4):
            rates = []
            for root in (f"{scratch}/images/train", f"{scratch}/packed"):
                data = ImageDataModule(root=root, size=size, batch_size=batch, num_workers=workers, val_fraction=0.0)
                data.setup("fit")
                loader = iter(data.train_dataloader())
                next(loader)  # workers started
                start = time.perf_counter()
                for _ in range(batches):
                    next(loader)
                rates.append(batches * batch / (time.perf_counter() - start))
            print(f"| {workers} | {rates[0]:.0f} | {rates[1]:.0f} | {rates[1] / rates[0]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="configs/image/quickstart_vq.yaml")
    parser.add_argument("--batch", type=int, default=8, help="per process in the 2-process run (the 1-process run takes 2x)")
    parser.add_argument("--steps", type=int, nargs=2, default=(20, 60), help="the two run lengths")
    parser.add_argument("--threads", type=int, default=1, help="threads per process")
    parser.add_argument("--size", type=int, default=64, help="reading: image side")
    parser.add_argument("--batches", type=int, default=40, help="reading: batches timed per loader")
    parser.add_argument("--parts", default="read,ddp", help="which tables: read, ddp")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if "read" in parts:
        reading_table(args.size, args.batches, 2 * args.batch)
    if "ddp" not in parts:
        return
    one = steps_per_second(args.recipe, tuple(args.steps), 1, 2 * args.batch, args.threads)
    two = steps_per_second(args.recipe, tuple(args.steps), 2, args.batch, args.threads)
    print(f"\nrecipe {args.recipe}, global batch {2 * args.batch}, {args.threads} thread(s) per process, CPU (gloo)")
    print("| processes | batch per process | steps/s | samples/s | ratio (2 / 1) |")
    print("|---|---|---|---|---|")
    print(f"| 1 | {2 * args.batch} | {one:.2f} | {one * 2 * args.batch:.1f} | |")
    print(f"| 2 | {args.batch} | {two:.2f} | {two * 2 * args.batch:.1f} | {two / one:.2f} |")


if __name__ == "__main__":
    main()
