"""Audio codec throughput: omnitok's SEANet codecs vs. transformers' EncodecModel and DacModel at comparable size.

Random weights, eval + ``torch.inference_mode``, mono, batch 1. Real-time factor (RTF) = compute seconds per second
of audio (lower is faster; < 1 is faster than real time). "enc" is waveform -> codes, "dec" is codes -> waveform.

- encodec: EnCodec 24 kHz as transformers configures it (causal SEANet, ELU, base 32, strides 2/4/5/8, one
  residual unit per stride, 2-layer LSTM, RVQ of 1024 codes; 8 levels = 6 kbps) vs. the same architecture built
  from omnitok parts (``SEANetEncoder``/``SEANetDecoder`` + ``ResidualQuantizer`` of 8 ``VectorQuantizer`` levels).
- dac: transformers' default ``DacConfig`` (44.1 kHz, Snake, base 64, strides 2/4/8/8, dilations 1/3/9, 9 codebooks
  of 1024 in 8 dimensions) vs. omnitok with the same sizes (Snake, residual kernel 7, no channel compression,
  last encoder kernel 3, ``VectorQuantizer(codebook_dim=8)`` levels).

The two sides are not weight-identical (different layer layouts), so only sizes and timings are compared; the
parameter counts are printed beside the timings. Each call is timed separately, alternating the two sides, and the
median over ``--repeats`` is reported after one warm-up call.

    .venv/bin/python benchmarks/audio_throughput.py [--seconds 5] [--repeats 3] [--threads N] [--models encodec,dac]
        [--dtype float32|bfloat16] [--compile]
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
from omnitok.nn import SEANetDecoder, SEANetEncoder
from omnitok.quantizers import ResidualQuantizer, VectorQuantizer


def omnitok_encodec() -> Autoencoder:
    common = {"base_channels": 32, "dilations": (1,), "lstm_layers": 2, "activation": "elu", "causal": True}
    quantizer = ResidualQuantizer(VectorQuantizer(128, 1024), num_levels=8)
    return Autoencoder(
        SEANetEncoder(1, 128, strides=(2, 4, 5, 8), **common), quantizer,
        SEANetDecoder(128, 1, strides=(8, 5, 4, 2), **common), modality="audio", channels=1, sample_rate=24_000,
        pad_to_multiple=True,
    )


def omnitok_dac() -> Autoencoder:
    common = {"base_channels": 64, "dilations": (1, 3, 9), "residual_kernel_size": 7, "compress": 1, "activation": "snake"}
    quantizer = ResidualQuantizer(VectorQuantizer(1024, 1024, codebook_dim=8), num_levels=9)
    return Autoencoder(
        SEANetEncoder(1, 1024, strides=(2, 4, 8, 8), last_kernel_size=3, **common), quantizer,
        SEANetDecoder(1024, 1, base_channels=96, strides=(8, 8, 4, 2), **{k: v for k, v in common.items() if k != "base_channels"}),
        modality="audio", channels=1, sample_rate=44_100, pad_to_multiple=True,
    )


def transformers_encodec() -> tuple[nn.Module, Callable, Callable]:
    from transformers import EncodecConfig, EncodecModel

    model = EncodecModel(EncodecConfig()).eval()  # 24 kHz defaults
    encode = lambda x: model.encode(x, bandwidth=6.0).audio_codes
    decode = lambda codes: model.decode(codes, [None]).audio_values
    return model, encode, decode


def transformers_dac() -> tuple[nn.Module, Callable, Callable]:
    from transformers import DacConfig, DacModel

    model = DacModel(DacConfig()).eval()
    encode = lambda x: model.encode(x).audio_codes
    decode = lambda codes: model.decode(audio_codes=codes).audio_values
    return model, encode, decode


MODELS = {
    "encodec": (omnitok_encodec, transformers_encodec, 24_000),
    "dac": (omnitok_dac, transformers_dac, 44_100),
}


class _Calls:
    """encode/decode of our model (compiled or not), and the model for its parameter count."""

    def __init__(self, encode: Callable, decode: Callable, model: nn.Module):
        self.encode, self.decode, self.model = encode, decode, model

    def parameters(self):
        return self.model.parameters()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def params(module: nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


@torch.inference_mode()
def run(name: str, seconds: float, repeats: int, device: str, dtype: str = "float32", compile: bool = False) -> list[str]:
    with precision(device, dtype):
        return _run(name, seconds, repeats, device, compile)


def _run(name: str, seconds: float, repeats: int, device: str, compile: bool) -> list[str]:
    ours_factory, theirs_factory, rate = MODELS[name]
    torch.manual_seed(0)
    model = ours_factory().to(device).eval()
    theirs, their_encode, their_decode = theirs_factory()
    theirs.to(device)
    their_encode, their_decode = compiled(their_encode, compile), compiled(their_decode, compile)
    ours = _Calls(compiled(model.encode, compile), compiled(model.decode, compile), model)
    x = torch.randn(1, 1, int(seconds * rate), device=device) * 0.1
    our_codes, their_codes = ours.encode(x), their_encode(x)  # warm-up
    ours.decode(our_codes), their_decode(their_codes)
    times: dict[str, list[float]] = {k: [] for k in ("ours_enc", "theirs_enc", "ours_dec", "theirs_dec")}
    for _ in range(repeats):
        times["ours_enc"].append(timed(lambda: ours.encode(x)))
        times["theirs_enc"].append(timed(lambda: their_encode(x)))
        times["ours_dec"].append(timed(lambda: ours.decode(our_codes)))
        times["theirs_dec"].append(timed(lambda: their_decode(their_codes)))
    rtf = {k: statistics.median(v) / seconds for k, v in times.items()}
    return [
        f"| {name} | omnitok | {params(ours):.1f} M | {tuple(our_codes.shape)} | {rtf['ours_enc']:.3f} | {rtf['ours_dec']:.3f} |",
        (
            f"| {name} | transformers | {params(theirs):.1f} M | {tuple(their_codes.shape)} | {rtf['theirs_enc']:.3f} "
            f"| {rtf['theirs_dec']:.3f} |"
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="encodec,dac")
    add_precision_options(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"device {args.device}, {describe(args)}, threads {torch.get_num_threads()}, {args.seconds} s of audio, "
        f"batch 1, median of {args.repeats}"
    )
    print("| model | implementation | parameters | codes shape | enc RTF | dec RTF |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        for line in run(name, args.seconds, args.repeats, args.device, args.dtype, args.compile):
            print(line, flush=True)


if __name__ == "__main__":
    main()
