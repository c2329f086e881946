"""The ``omnitok`` command line: thin commands over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from omnitok.cli.codec import add_codec_parsers
from omnitok.cli.eval import add_eval_parser
from omnitok.cli.train import add_train_parser
from omnitok.cli.unified import add_world_parser
from omnitok.errors import OmnitokError


def _codebook_study(args: argparse.Namespace) -> int:
    from omnitok.studies.codebook import StudySettings, run_study

    settings = StudySettings(
        dim=args.dim, codebook_size=args.codebook_size, blobs=args.blobs, steps=args.steps, seed=args.seed
    )
    run_study(args.out, settings)
    print(f"report: {args.out}/report.md  metrics: {args.out}/metrics.json")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import json

    from omnitok.hub import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer, trust_remote_code=args.trust_remote_code)
    print(json.dumps(tokenizer.spec.to_dict(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnitok", description="Train, evaluate and use multimodal tokenizers for images, video and audio.",
        epilog="Start with: omnitok train --config configs/image/quickstart_vq.yaml  (see README.md)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    study = commands.add_parser(
        "codebook-study", help="train every quantizer on synthetic clusters and report codebook usage"
    )
    study.add_argument("--out", default="runs/codebook-study", help="folder for report.md and metrics.json")
    study.add_argument("--dim", type=int, default=16)
    study.add_argument("--codebook-size", type=int, default=1024)
    study.add_argument("--blobs", type=int, default=4096)
    study.add_argument("--steps", type=int, default=300)
    study.add_argument("--seed", type=int, default=0)
    study.set_defaults(run=_codebook_study)

    add_train_parser(commands)
    add_codec_parsers(commands)
    add_eval_parser(commands)
    add_world_parser(commands)

    inspect = commands.add_parser("inspect", help="load a tokenizer (folder, zoo name or hub id) and print its spec")
    inspect.add_argument("tokenizer")
    inspect.add_argument("--trust-remote-code", action="store_true")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except OmnitokError as err:
        print(f"omnitok: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
