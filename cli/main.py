"""The ``omnitok`` command line: thin commands over the library."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

import omnitok
from omnitok.cli.calibrate import add_calibrate_parser
from omnitok.cli.codec import add_codec_parsers
from omnitok.cli.compare import add_compare_parser
from omnitok.cli.data import add_data_parser
from omnitok.cli.eval import add_eval_parser
from omnitok.cli.options import DefaultsHelpFormatter
from omnitok.cli.push import add_push_parser
from omnitok.cli.tokenize import add_tokenize_parser
from omnitok.cli.train import add_train_parser
from omnitok.errors import OmnitokError
from omnitok.extras import as_missing_extra


def _inspect(args: argparse.Namespace) -> int:
    import json

    from omnitok.resolve import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer, trust_remote_code=args.trust_remote_code, modality=args.modality)
    views = getattr(tokenizer, "views", None)
    if views is not None:  # several modalities (an omni folder) and none chosen: every modality's spec
        print(json.dumps({name: view.spec.to_dict() for name, view in views.items()}, indent=2))
    else:
        print(json.dumps(tokenizer.spec.to_dict(), indent=2))
    return 0


class CommandLineParser(argparse.ArgumentParser):
    """argparse with omnitok's one error format: usage errors print ``omnitok: error: ...`` like every other
    refusal (exit status 2), naming the subcommand; subcommand parsers inherit the class, and with it help that
    shows every option's default (:class:`~omnitok.cli.options.DefaultsHelpFormatter`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        command = self.prog.removeprefix("omnitok").removeprefix("python -m").strip()
        self.exit(2, f"omnitok: error: {command + ': ' if command else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="omnitok",
        description="Train, evaluate and use multimodal tokenizers for images, video and audio.",
        epilog="Start with: omnitok train --config quickstart_vq  (see README.md)",
    )
    parser.add_argument("--version", action="version", version=f"omnitok {omnitok.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    add_train_parser(commands)
    add_codec_parsers(commands)
    add_eval_parser(commands)
    add_data_parser(commands)
    add_tokenize_parser(commands)
    add_compare_parser(commands)
    add_push_parser(commands)
    add_calibrate_parser(commands)

    inspect = commands.add_parser(
        "inspect",
        help="load a tokenizer and print its spec (JSON)",
        description="Load a tokenizer and print its spec as JSON.",
        epilog="Tokenizer forms: a save_pretrained folder, a model-zoo name or a hub id; diffusers:<folder or id>, "
        "transformers:<folder or id>; package.module:attribute for your own object.",
    )
    inspect.add_argument("tokenizer", help="the tokenizer (any form below)")
    inspect.add_argument(
        "--modality", help="a tokenizer of several modalities (omni): print this one's spec (default: all, by name)"
    )
    inspect.add_argument("--trust-remote-code", action="store_true", help="allow configs naming non-omnitok classes")
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
    except ModuleNotFoundError as err:  # an optional dependency imported deep inside a command
        hint = as_missing_extra(err, f"omnitok {args.command}")
        if hint is None:
            raise
        print(f"omnitok: error: {hint}", file=sys.stderr)
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
