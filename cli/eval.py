"""``omnitok eval``: tokenizers x an image folder -> report.html, report.md and metrics.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnitok.cli.codec import add_common_options, positive_int
from omnitok.errors import ConfigError


def add_eval_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure tokenizers' reconstructions and write a report",
        description="Reconstruct a folder of images with one or more tokenizers and write report.html "
        "(self-contained), report.md and metrics.json: PSNR, SSIM, LPIPS, rFID, token and codebook figures, "
        "speed, pictures, and the pinned protocol the numbers were computed under.",
        epilog="Tokenizer forms: a save_pretrained folder, a model-zoo name or a hub id; diffusers:<folder or id>, "
        "transformers:<folder or id>; package.module:attribute for your own object.",
    )
    parser.add_argument("--tokenizer", action="append", required=True, help="a tokenizer; repeat to compare several")
    parser.add_argument("--name", action="append", help="report name of each --tokenizer, in order (default: derived)")
    parser.add_argument("--data", required=True, help="folder of images (searched recursively), or 'builtin'")
    parser.add_argument("--out", required=True, help="report folder (must be new or empty unless --overwrite)")
    parser.add_argument("--resolution", type=positive_int, default=256, help="square side after resize + center crop")
    parser.add_argument("--max-samples", type=positive_int, help="evaluate a seeded subset of this many images")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="seeds the subset, the shown samples and the tokenizers")
    parser.add_argument("--show", type=int, default=8, help="samples shown side by side")
    parser.add_argument("--worst", type=int, default=4, help="worst samples shown per metric and tokenizer")
    parser.add_argument("--skip-unreadable", action="store_true", help="leave out unreadable files (listed in the report)")
    add_common_options(parser, overwrite_help="replace an existing report folder")
    parser.set_defaults(run=run_eval)


def default_name(ref: str) -> str:
    """A short column name for a tokenizer reference: the folder's name, or the last part of an id."""
    from omnitok.resolve import ADAPTER_SCHEMES, is_object_ref

    if is_object_ref(ref):
        return ref.rsplit(":", 1)[1].rsplit(".", 1)[-1]
    text = ref.split(":", 1)[1] if ref.startswith(ADAPTER_SCHEMES) else ref
    path = Path(text)
    if path.name == "tokenizer" and path.parent.name:  # runs/NAME/tokenizer, as `omnitok train` writes it
        return path.parent.name
    return path.name or text


def run_eval(args: argparse.Namespace) -> int:
    from omnitok.evaluation import NamedTokenizer, evaluate, load_eval_images
    from omnitok.report import check_report_folder, write_report
    from omnitok.resolve import resolve_tokenizer

    names = args.name or []
    if len(names) > len(args.tokenizer):
        raise ConfigError(f"{len(names)} --name values for {len(args.tokenizer)} --tokenizer values")
    names += [default_name(ref) for ref in args.tokenizer[len(names):]]
    check_report_folder(args.out, args.overwrite)
    data = load_eval_images(args.data, args.resolution, args.max_samples, args.seed, args.skip_unreadable)
    tokenizers = [
        NamedTokenizer(name, resolve_tokenizer(ref, trust_remote_code=args.trust_remote_code, map_location=args.device), ref)
        for name, ref in zip(names, args.tokenizer)
    ]
    run = evaluate(
        tokenizers, data, device=args.device, batch_size=args.batch_size, seed=args.seed, show=args.show,
        worst_k=args.worst,
    )
    out = write_report(run, args.out, overwrite=args.overwrite)
    for result in run.results:
        figures = ", ".join(f"{k} {v:.4g}" for k, v in result.summary.items() if v is not None)
        print(f"{result.name}: {figures}")
    for name, why in run.unavailable.items():
        print(f"{name}: unavailable ({why})")
    print(f"report: {out / 'report.html'}  ({out / 'report.md'}, {out / 'metrics.json'})")
    return 0
