"""Whole-clip vs chunked encode + decode of a causal video tokenizer: time and peak memory as the clip grows.

Chunked coding (``omnitok.models.encode_video_chunked`` / ``decode_video_chunked``) gives the whole-clip tokens
(tested in tests/models/test_video_chunked.py); this prints what it costs and saves. Each case runs in its own
process so peak resident memory (CPU) or the allocator's peak (CUDA) belongs to that case alone. Random weights.

    python benchmarks/video_chunked_memory.py --preset quick          # 64x64, about a minute on 2 CPU cores
    python benchmarks/video_chunked_memory.py --preset cpu            # 128x128, 17 and 49 frames (minutes)
    python benchmarks/video_chunked_memory.py --preset cpu --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

PRESETS = {"quick": (64, (17, 49)), "cpu": (128, (17, 49))}
CHUNK_FRAMES, CHUNK_LATENTS = 8, 2
# glibc hands freed large tensors back at once, so peak RSS measures what a case really holds
ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}


def run_case(mode: str, frames: int, size: int, device: str) -> dict:
    import resource

    import torch

    from omnitok.models import Autoencoder, decode_video_chunked, encode_video_chunked
    from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder
    from omnitok.quantizers import FiniteScalarQuantizer

    torch.manual_seed(0)
    nets = {
        "base_channels": 32,
        "channel_multipliers": (1, 2, 2, 4),
        "num_res_blocks": 1,
        "temporal_downsample": 4,
        "attention": True,
        "norm_groups": 8,
    }
    model = (
        Autoencoder(
            CausalVideoEncoder(3, 6, **nets),
            FiniteScalarQuantizer(6, [8, 8, 8, 5, 5, 5]),
            CausalVideoDecoder(6, 3, **nets),
            modality="video",
            causal_time=True,
        )
        .eval()
        .to(device)
    )
    x = torch.rand(1, 3, frames, size, size, device=device) * 2 - 1
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    start = time.perf_counter()
    with torch.no_grad():
        if mode == "whole":
            model.decode(model.encode(x))
        else:
            decode_video_chunked(model, encode_video_chunked(model, x, CHUNK_FRAMES), CHUNK_LATENTS)
    if device == "cuda":
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base_cuda) / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return {"seconds": time.perf_counter() - start, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--case", nargs=3, metavar=("MODE", "FRAMES", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        mode, frames, size = args.case
        print(json.dumps(run_case(mode, int(frames), int(size), args.device)))
        return
    size, lengths = PRESETS[args.preset]
    memory = "CUDA allocator peak" if args.device == "cuda" else "peak RSS growth"
    print(
        f"causal video tokenizer (base 32, t=4, s=8, attention, FSQ), {size}x{size}, {args.device}; "
        f"chunks of {CHUNK_FRAMES} frames / {CHUNK_LATENTS} latent frames; memory = {memory}"
    )
    print("| frames | whole s | chunked s | whole MiB | chunked MiB | memory chunked / whole |")
    print("|---|---|---|---|---|---|")
    for frames in lengths:
        results = {}
        for mode in ("whole", "chunked"):
            command = [sys.executable, __file__, "--device", args.device, "--case", mode, str(frames), str(size)]
            results[mode] = json.loads(
                subprocess.run(command, check=True, capture_output=True, text=True, env=ENV).stdout
            )
        whole, chunked = results["whole"], results["chunked"]
        print(
            f"| {frames} | {whole['seconds']:.1f} | {chunked['seconds']:.1f} | {whole['peak_mib']:.0f} | "
            f"{chunked['peak_mib']:.0f} | {chunked['peak_mib'] / max(whole['peak_mib'], 1e-9):.2f}x |"
        )


if __name__ == "__main__":
    main()
