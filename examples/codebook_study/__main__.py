"""``python -m examples.codebook_study``: train every quantizer on synthetic clusters and report codebook usage."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from examples.codebook_study.study import StudySettings, run_sizes, run_study
from omnitok.cli.codec import positive_int
from omnitok.cli.main import CommandLineParser, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="python -m examples.codebook_study",
        description="Train every quantizer on synthetic clusters and report codebook usage (report.md, metrics.json).",
    )
    parser.add_argument("--out", default="runs/codebook-study", help="folder for report.md and metrics.json")
    parser.add_argument("--dim", type=positive_int, default=16)
    parser.add_argument("--codebook-size", type=positive_int, default=1024)
    parser.add_argument(
        "--codebook-sizes", default=None, help="comma-separated sizes, e.g. 1024,16384,262144: one study per size"
    )
    parser.add_argument("--batch-size", type=positive_int, default=2048)
    parser.add_argument("--eval-points", type=positive_int, default=32768)
    parser.add_argument("--blobs", type=positive_int, default=4096)
    parser.add_argument("--steps", type=positive_int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=study)
    return parser


def study(args: argparse.Namespace) -> int:
    settings = StudySettings(
        dim=args.dim,
        codebook_size=args.codebook_size,
        blobs=args.blobs,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        eval_points=args.eval_points,
    )
    if args.codebook_sizes:
        run_sizes(args.out, [positive_int(v) for v in args.codebook_sizes.split(",")], settings)
    else:
        run_study(args.out, settings)
    print(f"report: {args.out}/report.md  metrics: {args.out}/metrics.json")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
