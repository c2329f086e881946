"""The ``omnitok`` command line: thin commands over the library."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from omnitok.cli.codec import add_codec_parsers, positive_int
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


class CommandLineParser(argparse.ArgumentParser):
    """argparse with omnitok's one error format: usage errors print ``omnitok: error: ...`` like every other
    refusal (exit status 2), naming the subcommand; subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        command = self.prog.removeprefix("omnitok").strip()
        self.exit(2, f"omnitok: error: {command + ': ' if command else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="omnitok",
        description="Train, evaluate and use multimodal tokenizers for images, video and audio.",
        epilog="Start with: omnitok train --config configs/image/quickstart_vq.yaml  (see README.md)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    study = commands.add_parser(
        "codebook-study", help="train every quantizer on synthetic clusters and report codebook usage"
    )
    study.add_argument("--out", default="runs/codebook-study", help="folder for report.md and metrics.json")
    study.add_argument("--dim", type=positive_int, default=16)
    study.add_argument("--codebook-size", type=positive_int, default=1024)
    study.add_argument("--blobs", type=positive_int, default=4096)
    study.add_argument("--steps", type=positive_int, default=300)
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every ``finally`` (temporary files, staged reports) runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown option is reported by the subcommand's parser, so its message names it."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        (commands,) = [action for action in parser._actions if action.dest == "command"]
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    previous = _handle_sigterm()
    try:
        return args.run(args)
    except OmnitokError as err:
        print(f"omnitok: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        what = "terminated" if isinstance(stop, Terminated) else "interrupted"
        print(f"omnitok: error: {what}; finished output files are kept, none is left half-written", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _handle_sigterm():
    """Turn SIGTERM into an exception while a command runs (the main thread only); returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


if __name__ == "__main__":
    sys.exit(main())
