"""Nearest-code search: omnitok's chunked torch path vs. vector-quantize-pytorch and a plain matmul + argmin.

Prints one table (time and peak memory per case, ratios against vector-quantize-pytorch measured in the same
run). Each case runs in its own subprocess with a memory cap, so an out-of-memory reference is reported as a
result instead of killing the script.

    .venv/bin/python benchmarks/nearest_code.py [--cases small|default]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

CASES = {
    "small": [(4096, 64, 1024)],
    "default": [(4096, 64, 1024), (16384, 256, 8192), (16384, 8, 16384)],
}
MEMORY_CAP_BYTES = 16 * 2**30


def measure(impl: str, n: int, d: int, k: int) -> dict:
    import time

    import torch

    torch.manual_seed(0)
    x, codebook = torch.randn(n, d), torch.randn(k, d)
    if impl == "omnitok":
        from omnitok.ops import nearest_code

        run = lambda: nearest_code(x, codebook).indices  # noqa: E731
    elif impl == "matmul+argmin":
        run = lambda: ((x * x).sum(1, keepdim=True) - 2 * x @ codebook.T + (codebook * codebook).sum(1)).argmin(1)  # noqa: E731
    else:
        import vector_quantize_pytorch as vqp

        vq = vqp.VectorQuantize(dim=d, codebook_size=k, sync_codebook=False).eval()
        vq._codebook.embed.data.copy_(codebook[None])
        run = lambda: vq(x[None])[1]  # noqa: E731
    run()
    start = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        run()
    seconds = (time.perf_counter() - start) / repeats
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "peak_rss_mib": peak_rss / 2**20}


def run_case(impl: str, n: int, d: int, k: int) -> dict:
    code = (
        "import json, resource, sys; sys.path.insert(0, 'benchmarks');"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP_BYTES}, {MEMORY_CAP_BYTES}));"
        "from nearest_code import measure;"
        f"print(json.dumps(measure({impl!r}, {n}, {d}, {k})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": "out of memory" if "memory" in proc.stderr.lower() else proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", choices=sorted(CASES), default="default")
    args = parser.parse_args()
    print("| N | D | K | impl | time (s) | peak RSS (MiB) | time vs vqp |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    for n, d, k in CASES[args.cases]:
        results = {impl: run_case(impl, n, d, k) for impl in ("vector-quantize-pytorch", "matmul+argmin", "omnitok")}
        base = results["vector-quantize-pytorch"].get("seconds")
        for impl, r in results.items():
            if "error" in r:
                print(f"| {n} | {d} | {k} | {impl} | {r['error']} | | |")
                continue
            ratio = f"{r['seconds'] / base:.2f}x" if base else "n/a"
            print(f"| {n} | {d} | {k} | {impl} | {r['seconds']:.3f} | {r['peak_rss_mib']:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
