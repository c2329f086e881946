"""Image tokenizer throughput: omnitok's VQGAN-style networks vs. diffusers' VQModel / AutoencoderKL, same architecture.

Two models, random weights, eval + ``torch.inference_mode``:

- VQ-f16: ``ConvEncoder2d`` / ``ConvDecoder2d`` with channel multipliers (1, 1, 2, 2, 4), 8 latent channels and a
  16384-code ``VectorQuantizer`` vs. diffusers ``VQModel`` (latent_channels 8, vq_embed_dim 8, 16384 codes).
- KL-f8: multipliers (1, 2, 4, 4) with a ``GaussianQuantizer`` (4 channels) vs. diffusers ``AutoencoderKL``.

diffusers' weights are converted into ours (``omnitok.nn.convert``), with its ``quant_conv`` / ``post_quant_conv`` set
to the identity (ours fold those 1x1 convs into ``conv_out`` / ``conv_in``), so both sides compute the same function;
the largest output difference is printed as a check. "enc" is image -> tokens (VQ: encoder + nearest code; KL:
encoder + posterior mode), "dec" is tokens -> image (VQ: codebook lookup + decoder). Each call is timed separately,
alternating ours and diffusers, and the median over ``--repeats`` is reported after one warm-up call.

    .venv/bin/python benchmarks/image_throughput.py [--resolution 128] [--batch 4] [--repeats 3] [--base-channels 128]
        [--device cpu|cuda] [--threads N] [--models vq,kl] [--dtype float32|bfloat16] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from precision import add_precision_options, compiled, describe, precision
from torch import nn

from omnitok.models import Autoencoder
from omnitok.nn import ConvDecoder2d, ConvEncoder2d, decoder_state_from_diffusers, encoder_state_from_diffusers
from omnitok.quantizers import GaussianQuantizer, VectorQuantizer

MODELS = {
    # name: (channel multipliers, latent dim, codebook size or None for KL)
    "vq": ((1, 1, 2, 2, 4), 8, 16384),
    "kl": ((1, 2, 4, 4), 4, None),
}


def build(name: str, base: int, layers: int) -> tuple[Autoencoder, nn.Module]:
    """Our tokenizer and diffusers' model of the same architecture, computing the same function."""
    import diffusers

    multipliers, dim, codebook_size = MODELS[name]
    levels = len(multipliers)
    common = {"block_out_channels": tuple(base * m for m in multipliers), "layers_per_block": layers,
              "norm_num_groups": 32, "down_block_types": ("DownEncoderBlock2D",) * levels,
              "up_block_types": ("UpDecoderBlock2D",) * levels}
    if codebook_size is not None:
        theirs = diffusers.VQModel(latent_channels=dim, num_vq_embeddings=codebook_size, vq_embed_dim=dim, **common)
        quantizer = VectorQuantizer(dim=dim, codebook_size=codebook_size, update="learned")
    else:
        theirs = diffusers.AutoencoderKL(latent_channels=dim, **common)
        quantizer = GaussianQuantizer(dim=dim)
    arch = {"base_channels": base, "channel_multipliers": multipliers, "num_res_blocks": layers, "norm_groups": 32}
    ours = Autoencoder(
        ConvEncoder2d(out_channels=quantizer.input_dim, **arch),
        quantizer,
        ConvDecoder2d(in_channels=dim, **arch),
        modality="image",
        downsample=(2 ** (levels - 1),) * 2,
    )
    with torch.no_grad():
        for conv in (theirs.quant_conv, theirs.post_quant_conv):  # identity, so both compute the same function
            conv.weight.copy_(torch.eye(conv.out_channels)[:, :, None, None])
            conv.bias.zero_()
        state = theirs.state_dict()
        ours.encoder.load_state_dict(encoder_state_from_diffusers(state, prefix="encoder."))
        ours.decoder.load_state_dict(decoder_state_from_diffusers(state, prefix="decoder."))
        if codebook_size is not None:  # diffusers initialises codes in +-1/K, where every latent is a near-tie
            quantizer.codebook.copy_(theirs.quantize.embedding.weight.normal_())
    return ours.eval(), theirs.eval()


def calls(name: str, ours: Autoencoder, theirs: nn.Module) -> dict[str, Callable]:
    """encode(x) -> tokens and decode(tokens) -> image for both sides."""
    if MODELS[name][2] is not None:
        def their_encode(x):
            _, _, (_, _, indices) = theirs.quantize(theirs.encode(x).latents)
            return indices.reshape(x.shape[0], x.shape[2] // 16, x.shape[3] // 16)

        def their_decode(indices):
            b, h, w = indices.shape
            quantized = theirs.quantize.get_codebook_entry(indices.reshape(-1), (b, h, w, MODELS[name][1]))
            return theirs.decode(quantized, force_not_quantize=True).sample
    else:
        def their_encode(x):
            return theirs.encode(x).latent_dist.mode()

        def their_decode(latents):
            return theirs.decode(latents).sample
    return {"ours_enc": ours.encode, "ours_dec": ours.decode, "theirs_enc": their_encode, "theirs_dec": their_decode}


def timed(fn: Callable, arg: torch.Tensor, device: torch.device) -> tuple[float, torch.Tensor]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn(arg)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out


def run(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(0)
    ours, theirs = build(name, args.base_channels, args.layers)
    ours, theirs = ours.to(device), theirs.to(device)
    fns = {key: compiled(fn, args.compile) for key, fn in calls(name, ours, theirs).items()}
    x = torch.rand(args.batch, 3, args.resolution, args.resolution, device=device) * 2 - 1
    seconds: dict[str, list[float]] = {k: [] for k in fns}
    with torch.inference_mode(), precision(device, args.dtype):
        tokens = {side: fns[f"{side}_enc"](x) for side in ("ours", "theirs")}  # warm-up
        images = {side: fns[f"{side}_dec"](tokens["theirs"]) for side in ("ours", "theirs")}
        for r in range(args.repeats):
            sides = ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours")
            for stage in ("enc", "dec"):
                for side in sides:
                    arg = x if stage == "enc" else tokens["theirs"]
                    seconds[f"{side}_{stage}"].append(timed(fns[f"{side}_{stage}"], arg, device)[0])
    if MODELS[name][2] is not None:
        agreement = f"token agreement {(tokens['ours'] == tokens['theirs']).float().mean().item():.4f}"
    else:
        agreement = f"max |Δ latents| {(tokens['ours'] - tokens['theirs']).abs().max().item():.2e}"
    agreement += f", max |Δ image| {(images['ours'] - images['theirs']).abs().max().item():.2e}"
    return {
        "throughput": {k: args.batch / statistics.median(v) for k, v in seconds.items()},
        "params": (sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())),
        "agreement": agreement,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base-channels", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2, help="ResNet blocks per encoder level (layers_per_block)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--models", default="vq,kl", help="comma-separated subset of: " + ",".join(MODELS))
    add_precision_options(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    results = {name: run(name, args, device) for name in names}

    print(f"\n{args.batch} x {args.resolution}x{args.resolution} images, base_channels {args.base_channels}, "
          f"layers {args.layers}, {args.device}, {describe(args)}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}; "
          "ratio = ours / diffusers throughput (> 1: ours faster)\n")
    print("| model | ours enc img/s | diffusers enc img/s | ratio | ours dec img/s | diffusers dec img/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {"vq": "VQ-f16 (16384 codes)", "kl": "KL-f8"}
    for name, result in results.items():
        t = result["throughput"]
        print(f"| {labels[name]} | {t['ours_enc']:.2f} | {t['theirs_enc']:.2f} | {t['ours_enc'] / t['theirs_enc']:.2f} "
              f"| {t['ours_dec']:.2f} | {t['theirs_dec']:.2f} | {t['ours_dec'] / t['theirs_dec']:.2f} |")
    print("\n| model | ours params | diffusers params | difference |")
    print("|---|---:|---:|---:|")
    for name, result in results.items():
        ours, theirs = result["params"]
        print(f"| {labels[name]} | {ours:,} | {theirs:,} | {ours - theirs:+,} |")
    print("\nThe parameter difference is diffusers' quant_conv and post_quant_conv (1x1 convs around the bottleneck), "
          "which omnitok folds into the encoder's conv_out and the decoder's conv_in.")
    for name, result in results.items():
        print(f"{labels[name]} check (ours vs diffusers): {result['agreement']}")


if __name__ == "__main__":
    main()
