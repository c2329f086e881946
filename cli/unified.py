"""``omnitok world``: train the captioned world's image tokenizer, judge and unified Transformer, then report."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnitok.config import load_yaml_config
from omnitok.errors import ConfigError

WORLD_HELP = """\
Train the captioned procedural world end to end on a CPU: the image tokenizer (from its recipe), the judge (a CNN
trained on true scenes), the unified Transformer (caption -> image and image -> caption on interleaved token
sequences), then measure both directions on held-out scenes and write <out>/report/report.html + metrics.json.

examples:
  omnitok world --config configs/unified/world_image.yaml --out runs/world
  omnitok world --config configs/unified/world_image.yaml --set training.max_steps=200 --out runs/world-short

--set KEY=VALUE addresses the recipe by dotted path (VALUE is read as YAML). A tokenizer or judge already in --out
is reused; the Transformer folder must not exist yet.
"""


def add_world_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "world",
        help="train and measure the unified Transformer on the captioned procedural world",
        description=WORLD_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", action="append", default=[], metavar="YAML", help="world recipe (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="override")
    parser.add_argument("--out", default="runs/world", help="run folder (default: runs/world)")
    parser.set_defaults(run=run_world_command)


def run_world_command(args: argparse.Namespace) -> int:
    from omnitok.cli.train import apply_overrides
    from omnitok.trainers.unified_run import run_world

    if not args.config:
        raise ConfigError("omnitok world needs --config RECIPE.yaml (e.g. configs/unified/world_image.yaml)")
    config = load_yaml_config(*args.config)
    apply_overrides(config, args.overrides)
    result = run_world(config, args.out, base=Path(args.config[-1]).parent)
    headline = result.metrics["headline"]
    print(
        f"understanding (held-out exact caption): {headline['understanding_exact']:.3f} "
        f"(chance {headline['understanding_chance']:.3f})\n"
        f"generation (held-out attribute accuracy, judge): {headline['generation_attribute_accuracy']:.3f} "
        f"(chance {headline['generation_chance']:.3f})\n"
        f"wall time: {result.seconds['total']:.0f} s  report: {result.report / 'report.html'}"
    )
    return 0
