"""Options and help formatting shared by the omnitok commands: one spelling, one help text, defaults shown."""

from __future__ import annotations

import argparse

import torch

DTYPE_CHOICES = ("float32", "bfloat16", "float16", "fp32", "bf16", "fp16")
SIZE_HELP = "images, videos: resize the shorter side to SIZE and center-crop a SIZE x SIZE square"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already says its default, the option is a
    switch (off unless given) or its default is None (the help then says what happens without it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.default in (None, argparse.SUPPRESS):
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._VersionAction)):
            return text
        default = ", ".join(map(str, action.default)) if isinstance(action.default, list) else action.default
        return f"{text} (default: {default})" if default != [] else f"{text} (default: none)"


class RawDescriptionDefaultsHelpFormatter(DefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """:class:`DefaultsHelpFormatter` keeping the description's own line breaks (examples blocks)."""


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--dtype``, for the commands that run a tokenizer (encode, decode, eval)."""
    parser.add_argument(
        "--device",
        default="auto",
        help="where the tokenizer runs: cpu, cuda, cuda:N, mps, or auto (cuda when available, else cpu)",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="float32",
        help="precision of the tokenizer's networks (omnitok quantizers keep float32 codebooks)",
    )


def resolve_device(name: str) -> str:
    """``--device auto`` -> "cuda" when a GPU is visible, else "cpu"; any other value as given."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def add_size_option(parser: argparse.ArgumentParser, default: int | None = None, help: str = SIZE_HELP) -> None:
    """``--size`` (also spelled ``--resolution``, the name ``omnitok eval`` used first): the resize side."""
    from omnitok.cli.codec import positive_int

    no_default = "" if default is not None else " (default: keep the input's size)"
    parser.add_argument(
        "--size",
        "--resolution",
        dest="size",
        type=positive_int,
        default=default,
        metavar="SIZE",
        help=help + no_default,
    )
