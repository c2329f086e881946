"""Corpus tokenization throughput: ``omnitok tokenize`` (Ray Data, 1 and 2 encode workers) against the per-file
``omnitok encode`` loop on the same folder, with the same tokenizer.

The folder is the built-in training images (``omnitok data builtin``) at ``--size``; the tokenizer is the image
quickstart VQ network with random weights (``configs/image/quickstart_vq.yaml``, saved with ``save_pretrained``), so
nothing is downloaded. Each command runs as its own process; wall time includes start-up (Ray's, for tokenize), which
is why ``--repeat`` multiplies the folder to amortise it. Peak memory is the largest resident set of the command and
its children (Ray's workers included), sampled every 50 ms.

    .venv/bin/python benchmarks/tokenize_throughput.py [--size 64] [--repeat 2] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as f:
                stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MiB) of ``command``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.05)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {process.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - start, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="image side")
    parser.add_argument("--repeat", type=int, default=2, help="copies of the built-in training images in the folder")
    parser.add_argument("--batch-size", type=int, default=32, help="omnitok tokenize --batch-size (its default: 32)")
    args = parser.parse_args()

    import torch

    from omnitok.config import instantiate, load_yaml_config
    from omnitok.data.builtin import write_builtin_images

    omnitok = [sys.executable, "-m", "omnitok.cli.main"]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        write_builtin_images(scratch / "builtin", size=args.size, splits=("train",))
        folder = scratch / "images"
        for copy in range(args.repeat):
            shutil.copytree(scratch / "builtin" / "train", folder / f"copy{copy}")
        count = len(list(folder.rglob("*.png")))
        torch.manual_seed(0)
        recipe = load_yaml_config(ROOT / "configs" / "image" / "quickstart_vq.yaml")
        tokenizer = instantiate(recipe["model"]["init_args"]["tokenizer"]).eval().save_pretrained(scratch / "tok")
        rows = [("omnitok encode (one process, per file)", omnitok + ["encode", str(folder), "--tokenizer", str(tokenizer),
                 "--out", str(scratch / "encoded")])]  # fmt: skip
        for workers in (1, 2):
            out = scratch / f"tokens{workers}"
            rows.append((f"omnitok tokenize, {workers} worker(s)", omnitok + ["tokenize", "--tokenizer", str(tokenizer),
                         "--data", str(folder), "--out", str(out), "--workers", str(workers),
                         "--batch-size", str(args.batch_size)]))  # fmt: skip
        results = [(name, *timed(command)) for name, command in rows]
    base = count / results[0][1]
    print(
        f"{count} PNG images at {args.size}x{args.size}, quickstart_vq network (random weights), CPU, 1 thread each, "
        f"tokenize --batch-size {args.batch_size}"
    )
    print("| command | wall s | images/s | ratio to encode | peak MiB |")
    print("|---|---|---|---|---|")
    for name, seconds, peak in results:
        rate = count / seconds
        print(f"| {name} | {seconds:.1f} | {rate:.1f} | {rate / base:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
