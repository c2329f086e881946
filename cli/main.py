"""The ``omnitok`` command line: thin commands over the library."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from omnitok.cli.codec import add_codec_parsers
from omnitok.cli.data import add_data_parser
from omnitok.cli.eval import add_eval_parser
from omnitok.cli.tokenize import add_tokenize_parser
from omnitok.cli.train import add_train_parser
from omnitok.errors import OmnitokError


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
        command = self.prog.removeprefix("omnitok").removeprefix("python -m").strip()
        self.exit(2, f"omnitok: error: {command + ': ' if command else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="omnitok",
        description="Train, evaluate and use multimodal tokenizers for images, video and audio.",
        epilog="Start with: omnitok train --config configs/image/quickstart_vq.yaml  (see README.md)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    add_train_parser(commands)
    add_codec_parsers(commands)
    add_eval_parser(commands)
    add_data_parser(commands)
    add_tokenize_parser(commands)

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
    return run_command(parse_arguments(argv))


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.run(args)`` as every omnitok command runs: an omnitok error is one ``omnitok: error:`` line with
    exit status 2, and SIGTERM or Ctrl-C unwinds (temporary files removed) with 143 or 130."""
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
