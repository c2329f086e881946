"""``omnitok calibrate``: measure a continuous tokenizer's latent_scale / latent_shift on data and record them."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from omnitok.errors import ConfigError


def add_calibrate_parser(commands: argparse._SubParsersAction) -> None:
    from omnitok.cli.codec import positive_int
    from omnitok.cli.options import add_size_option

    parser = commands.add_parser(
        "calibrate",
        help="measure a continuous tokenizer's latent_scale / latent_shift on data and record them in its config",
        description="Encode --data with a continuous tokenizer and set latent_scale = 1 / std of its latents and "
        "latent_shift = their mean (or 0 with --shift zero), the Stable Diffusion VAE scaling-factor convention: "
        "consumers take (z - latent_shift) * latent_scale. Written into the folder's config.json (its spec) and "
        "calibration.json; the weights and encode/decode do not change.",
    )
    parser.add_argument("tokenizer", metavar="TOKENIZER_FOLDER", help="a folder save_pretrained wrote (updated)")
    parser.add_argument(
        "--data", required=True, help="folder of media files (searched recursively), 'builtin' (images) or 'generated'"
    )
    add_size_option(parser, default=256, help="images, video: square side after resize + center crop")
    parser.add_argument("--max-samples", type=positive_int, help="calibrate on a seeded subset (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subset")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="samples per encode call")
    parser.add_argument(
        "--shift", choices=("mean", "zero"), default="mean", help="latent_shift: the latents' mean, or 0 (SD 1.x)"
    )
    parser.add_argument("--trust-remote-code", action="store_true", help="allow configs naming non-omnitok classes")
    parser.set_defaults(run=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    from omnitok.calibration import measure_latents, record_calibration, set_batches
    from omnitok.hub import load_pretrained
    from omnitok.modalities import get_modality

    folder = Path(args.tokenizer)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such tokenizer folder (calibrate updates a folder save_pretrained wrote)")
    tokenizer = load_pretrained(folder, trust_remote_code=args.trust_remote_code)
    spec = tokenizer.spec
    if spec.discrete:
        raise ConfigError(f"{folder} is a discrete tokenizer; latent_scale / latent_shift apply to continuous latents")
    options = {"resolution": args.size, "max_samples": args.max_samples, "seed": args.seed}
    data = get_modality(spec.modality).eval_set(args.data, spec, options)
    data.check(spec, str(folder))
    result = measure_latents(tokenizer, set_batches(data, spec, args.batch_size), args.shift)
    result = dataclasses.replace(result, data=data.describe(), data_fingerprint=data.fingerprint)
    record_calibration(folder, result)
    print(
        f"{folder}: latent_scale {result.latent_scale:.6g}, latent_shift {result.latent_shift:.6g} "
        f"(latents: mean {result.mean:.4g}, std {result.std:.4g} over {result.samples} samples)"
    )
    return 0
