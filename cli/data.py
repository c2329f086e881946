"""``omnitok data pack``: media folders into litdata optimized shards for streaming training."""

from __future__ import annotations

import argparse

from omnitok.cli.options import RawDescriptionDefaultsHelpFormatter
from omnitok.extras import extra_hint

PACK_HELP = """\
Pack a folder of images, videos or audio files into litdata optimized shards (chunk-*.bin + index.json), which
training reads as a stream from a local folder or object storage (data.root: /data/packed or s3://bucket/packed).
Each sample stores a file's encoded bytes and its path relative to SRC; unreadable files are skipped and listed
(in OUT/pack.json and here). OUT appears only when complete.

examples:
  omnitok data pack /data/photos /data/photos-packed --workers 16
  omnitok data pack /data/speech /data/speech-packed --modality audio

Several machines: run the same command on each with DATA_OPTIMIZER_NUM_NODES=N and DATA_OPTIMIZER_NODE_RANK=0..N-1
(litdata's settings), SRC and OUT on a shared filesystem, all started together; node N-1 completes OUT.
"""


def add_data_parser(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="prepare training data (pack media into streaming shards)")
    actions = data.add_subparsers(dest="action", required=True, metavar="ACTION")
    pack = actions.add_parser(
        "pack",
        help="pack a media folder into litdata optimized shards",
        description=PACK_HELP,
        formatter_class=RawDescriptionDefaultsHelpFormatter,
    )
    pack.add_argument("src", metavar="SRC", help="folder of media files (searched recursively)")
    pack.add_argument("out", metavar="OUT", help="folder to write (absent or empty unless --overwrite)")
    pack.add_argument("--modality", help="image, video, audio or another registered one (default: from the files)")
    pack.add_argument("--workers", type=int, default=None, help="packing processes (default: CPU count)")
    pack.add_argument("--chunk-bytes", default="64MB", help="chunk size litdata closes chunks at (default 64MB)")
    pack.add_argument("--overwrite", action="store_true", help="replace OUT once the new shards are complete")
    pack.set_defaults(run=run_pack)
    builtin = actions.add_parser(
        "builtin",
        help="write the built-in images as PNG folders (train/, val/, test/)",
        description="Write the built-in images (scikit-image photo tiles and procedural scenes, the data of "
        "data.root: builtin) as PNG files, pixel for pixel, into OUT/train, OUT/val and OUT/test, e.g. to pack them.",
    )
    builtin.add_argument("out", metavar="OUT", help="folder to write (absent or empty)")
    builtin.add_argument("--size", type=int, default=32, help="image side in pixels (the quickstart recipes use 32)")
    builtin.add_argument("--scale", type=float, default=0.5, help="photo scale before tiling (data.builtin_scale)")
    builtin.add_argument("--seed", type=int, default=0, help="tile choice and scenes (data.seed)")
    builtin.set_defaults(run=run_builtin)


def run_pack(args: argparse.Namespace) -> int:
    with extra_hint("omnitok data pack"):
        return _run_pack(args)


def _run_pack(args: argparse.Namespace) -> int:
    from omnitok.extras import require

    require("litdata", "omnitok data pack")  # before anything is written
    from omnitok.trainers.packing import pack_media

    pack_media(
        args.src,
        args.out,
        modality=args.modality,
        workers=args.workers,
        overwrite=args.overwrite,
        chunk_bytes=args.chunk_bytes,
    )
    return 0


def run_builtin(args: argparse.Namespace) -> int:
    from omnitok.data.builtin import write_builtin_images

    with extra_hint("omnitok data builtin"):
        counts = write_builtin_images(args.out, size=args.size, scale=args.scale, seed=args.seed)
    print(f"wrote {', '.join(f'{n} {split}' for split, n in counts.items())} images under {args.out}")
    return 0
