"""Causal video VAE throughput: omnitok's CausalVideoEncoder/CausalVideoDecoder vs. diffusers' AutoencoderKLCosmos.

Both are continuous causal video autoencoders (first frame coded alone, 16 latent channels) with random weights,
run in eval + ``torch.inference_mode`` on one batch of clips in [-1, 1]:

- omnitok: ``Autoencoder(CausalVideoEncoder, GaussianQuantizer(16), CausalVideoDecoder)`` with factorized
  attention in the middle block; ``encode`` returns the posterior mean, ``decode`` the clip.
- diffusers: ``AutoencoderKLCosmos`` (Haar patching, causal convs, spatial + causal temporal attention);
  ``encode(x).latent_dist.mode()`` and ``decode(z).sample``. The ``full`` preset is Cosmos-1.0 CV8x8x8 as diffusers
  configures it by default (t = s = 8); ``quick`` is a narrow version (t = 4, s = 8) that runs on a laptop CPU.

The two sides are not weight-identical (different layouts); sizes are matched roughly and the parameter counts are
printed. Throughput is clips per second (batch / median seconds over ``--repeats`` calls after one warm-up call,
alternating the sides). Peak memory is what one call adds on top of the model and its input: on CUDA
``max_memory_allocated`` minus the allocation before the call; on the CPU the peak resident set (``VmHWM`` after
resetting it through ``/proc/self/clear_refs``) minus the resident set before the call. On the CPU the script
re-runs itself with ``MALLOC_MMAP_THRESHOLD_=65536``, so glibc returns every freed tensor to the system at once
(otherwise freed memory stays resident and later calls would seem to need none).

    .venv/bin/python benchmarks/video_throughput.py --preset quick            # CPU, < 2 minutes
    .venv/bin/python benchmarks/video_throughput.py --preset full --device cuda [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import nn

PRESETS = {
    # frames = 1 + k t; sizes a multiple of s = 8
    "quick": {
        "frames": 9, "size": 32, "batch": 1, "temporal": 4,
        "ours": {"base_channels": 16, "channel_multipliers": (1, 2, 4, 6), "num_res_blocks": 1, "norm_groups": 16},
        "cosmos": {"encoder_block_out_channels": (32, 64, 128, 128), "decode_block_out_channels": (64, 128, 128, 128),
                   "num_layers": 1},
    },
    "full": {
        "frames": 17, "size": 256, "batch": 1, "temporal": 8,
        "ours": {"base_channels": 80, "channel_multipliers": (1, 2, 4, 4), "num_res_blocks": 2, "norm_groups": 16},
        "cosmos": {},  # diffusers' defaults: CV8x8x8
    },
}  # fmt: skip
LATENT_CHANNELS = 16


def build_ours(preset: dict) -> tuple[nn.Module, Callable, Callable, tuple[float, float]]:
    from omnitok.models import Autoencoder
    from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder
    from omnitok.quantizers import GaussianQuantizer

    common = {**preset["ours"], "temporal_downsample": preset["temporal"], "attention": True}
    encoder = CausalVideoEncoder(3, 2 * LATENT_CHANNELS, **common)
    decoder = CausalVideoDecoder(LATENT_CHANNELS, 3, **common)
    model = Autoencoder(encoder, GaussianQuantizer(LATENT_CHANNELS), decoder, modality="video", causal_time=True)
    return model, model.encode, model.decode, (params(encoder), params(decoder))


def build_cosmos(preset: dict) -> tuple[nn.Module, Callable, Callable, tuple[float, float]]:
    from diffusers import AutoencoderKLCosmos
    from diffusers.utils import logging

    logging.set_verbosity_error()  # its notice about casting with .to() (we cast every module alike)
    config = {"patch_size": 4, "spatial_compression_ratio": 8, "temporal_compression_ratio": preset["temporal"]}
    model = AutoencoderKLCosmos(latent_channels=LATENT_CHANNELS, **config, **preset["cosmos"])
    encode = lambda x: model.encode(x).latent_dist.mode()
    decode = lambda z: model.decode(z).sample
    sizes = (params(model.encoder) + params(model.quant_conv), params(model.decoder) + params(model.post_quant_conv))
    return model, encode, decode, sizes


def params(module: nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_mib(fn: Callable[[], object], device: torch.device) -> float:
    """Memory one call of ``fn`` adds at its peak, in MiB (see the module docstring)."""
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set (Linux >= 4.0)
    fn()
    return (_status_kib("VmHWM") - before) / 1024


@torch.inference_mode()
def run(preset_name: str, device: torch.device, dtype: torch.dtype, repeats: int) -> list[str]:
    preset = PRESETS[preset_name]
    torch.manual_seed(0)
    sides = {"omnitok": build_ours(preset), "diffusers": build_cosmos(preset)}
    for model, *_ in sides.values():
        model.to(device=device, dtype=dtype).eval()
    shape = (preset["batch"], 3, preset["frames"], preset["size"], preset["size"])
    x = (torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device, dtype)
    latents = {name: encode(x) for name, (_, encode, _, _) in sides.items()}  # warm-up
    for name, (_, _, decode, _) in sides.items():
        decode(latents[name])
    calls = {
        name: (partial(encode, x), partial(decode, latents[name])) for name, (_, encode, decode, _) in sides.items()
    }
    memory = {name: [peak_mib(call, device) for call in pair] for name, pair in calls.items()}
    times: dict[str, list[list[float]]] = {name: [[], []] for name in sides}
    for _ in range(repeats):
        for name, pair in calls.items():
            for i, call in enumerate(pair):
                times[name][i].append(timed(call, device))
    rate = {name: [preset["batch"] / statistics.median(t) for t in pair] for name, pair in times.items()}
    lines = []
    for name, (_, _, _, (enc_params, dec_params)) in sides.items():
        lines.append(
            f"| {name} | {enc_params:.1f} M / {dec_params:.1f} M | {tuple(latents[name].shape)} | "
            f"{rate[name][0]:.3g} | {rate[name][1]:.3g} | {memory[name][0]:.0f} | {memory[name][1]:.0f} |"
        )
    ours, theirs = rate["omnitok"] + memory["omnitok"], rate["diffusers"] + memory["diffusers"]
    ratios = [f"{a / b:.2f}x" if b > 0 else "n/a" for a, b in zip(ours, theirs)]
    lines.append(f"| ratio omnitok / diffusers | | | {' | '.join(ratios)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if device.type == "cpu" and "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # see the module docstring
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    preset = PRESETS[args.preset]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"preset {args.preset}: batch {preset['batch']} x {preset['frames']} frames x {preset['size']}x{preset['size']}, "
        f"t = {preset['temporal']}, s = 8, {args.dtype}, {where}, median of {args.repeats}"
    )
    print(
        "| implementation | parameters enc / dec | latents | encode clips/s | decode clips/s | encode peak MiB | decode peak MiB |"
    )
    print("|---|---|---|---|---|---|---|")
    for line in run(args.preset, device, dtype, args.repeats):
        print(line, flush=True)


if __name__ == "__main__":
    main()
