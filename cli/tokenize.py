"""``omnitok tokenize``: a folder (or file list) of images, videos or audio -> Parquet token shards on Ray Data.

The work is :mod:`omnitok.corpus.pipeline`'s; this command parses options and reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omnitok.cli.codec import add_modality_option, positive_float, positive_int
from omnitok.cli.options import add_size_option
from omnitok.extras import extra_hint


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def add_tokenize_parser(commands: argparse._SubParsersAction) -> None:
    tokenize = commands.add_parser(
        "tokenize",
        help="tokenize a corpus (folder or file list) into Parquet token shards on Ray Data",
        description="Tokenize every image, video or audio file (the tokenizer's modality decides; --modality picks "
        "one of an omni tokenizer folder) of a folder, or of a file list (.txt, one path per line), into Parquet "
        "token shards plus manifest.json, on Ray Data: an "
        "actor pool holds the tokenizer once per worker. Shards are deterministic (rows sorted by key) and written "
        "atomically; running the same command again continues an interrupted job without redoing finished shards. "
        "Unreadable inputs are skipped and listed in the manifest.",
    )
    tokenize.add_argument(
        "--tokenizer",
        required=True,
        help="tokenizer folder, zoo name, hub id, diffusers:/transformers: adapter or module:attribute (every "
        "worker loads it)",
    )
    tokenize.add_argument(
        "--data",
        required=True,
        help="a folder (searched recursively), a file list (.txt), packed shards (omnitok data pack; local or "
        "s3://, gs://, azure://) or a folder URL fsspec opens (https://, sftp://, hf://, ...); a caption beside an "
        "input (cat.png + cat.txt) goes into its row",
    )
    tokenize.add_argument("--out", required=True, help="the corpus folder (shards + manifest.json)")
    tokenize.add_argument("--address", help="join this Ray cluster (e.g. HOST:6379, or 'auto'); default: a local Ray")
    tokenize.add_argument("--workers", type=positive_int, help="encoding actors (default: CPUs - 1, or GPUs / G)")
    tokenize.add_argument(
        "--gpus-per-worker", type=non_negative_float, default=0.0, help="GPUs per actor (default 0: encode on CPU)"
    )
    tokenize.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        help="inputs per Ray Data batch (default 32; lower it for long videos: decoded frames travel between stages)",
    )
    tokenize.add_argument("--shard-size", type=positive_int, default=1000, help="inputs per shard (default 1000)")
    add_size_option(tokenize)
    tokenize.add_argument("--frames", type=positive_int, help="videos: encode the first FRAMES frames (default: all)")
    tokenize.add_argument(
        "--fps", type=positive_float, help="videos: resample to FPS frames per second first (default: the file's rate)"
    )
    tokenize.add_argument(
        "--chunk-frames",
        type=positive_int,
        help="videos, causal tokenizers: encode this many frames at a time (default: the whole video)",
    )
    tokenize.add_argument(
        "--chunk-seconds",
        type=positive_float,
        help="audio, causal tokenizers: encode this many seconds at a time (default: the whole file)",
    )
    add_modality_option(tokenize)
    tokenize.add_argument("--trust-remote-code", action="store_true", help="allow configs naming non-omnitok classes")
    tokenize.set_defaults(run=run_tokenize)


def run_tokenize(args: argparse.Namespace) -> int:
    with extra_hint("omnitok tokenize"):
        return _run_tokenize(args)


def _run_tokenize(args: argparse.Namespace) -> int:
    from omnitok.extras import require

    for module in ("ray", "pyarrow"):  # before anything is planned or written
        require(module, "omnitok tokenize")
    from omnitok.corpus.pipeline import PROTOCOL_KEYS, TokenizeJob, plan, run

    job = TokenizeJob(
        tokenizer=args.tokenizer,
        modality=args.modality,
        data=args.data,
        out=Path(args.out),
        protocol={k: getattr(args, k) for k in PROTOCOL_KEYS},
        trust_remote_code=args.trust_remote_code,
        address=args.address,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
    )
    result = run(plan(job))
    kept = f" ({result.reused} already finished, kept)" if result.reused else ""
    print(f"tokenized {result.rows} sample(s) into {result.shards} shard(s) in {args.out}{kept}")
    if result.skipped:
        print(f"{len(result.skipped)} input(s) skipped (listed in {Path(args.out) / 'manifest.json'}):")
        for item in result.skipped:
            print(f"  {item['reason']}")
        more = f" (and {len(result.skipped) - 1} more, listed above)" if len(result.skipped) > 1 else ""
        print(f"omnitok: error: {result.skipped[0]['reason']}{more}", file=sys.stderr)
        return 1
    return 0
