"""Precision and compilation options shared by the throughput benchmarks: ``--dtype bfloat16`` runs both sides
under ``torch.autocast`` (omnitok's quantizers still search codes in float32, as in real use) and ``--compile``
wraps every timed call in ``torch.compile``; the first (warm-up) call pays for compilation and is not timed."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import torch


def add_precision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="autocast dtype")
    parser.add_argument("--compile", action="store_true", help="torch.compile every timed call (both sides)")


@contextlib.contextmanager
def precision(device: str | torch.device, dtype: str) -> Iterator[None]:
    """Autocast to ``dtype`` on ``device`` (nothing for float32)."""
    if dtype == "float32":
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=getattr(torch, dtype)):
        yield


def compiled(fn: Callable, enabled: bool) -> Callable:
    return torch.compile(fn) if enabled else fn


def describe(args: argparse.Namespace) -> str:
    return f"{args.dtype}{', torch.compile' if args.compile else ''}"
