"""``python -m examples.world``: train the captioned world's image tokenizer, judge and unified Transformer,
then report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from omnitok.cli.main import CommandLineParser, run_command
from omnitok.config import load_yaml_config
from omnitok.errors import ConfigError

RECIPE = Path(__file__).resolve().parent / "world_image.yaml"

WORLD_HELP = f"""\
Train the captioned procedural world end to end on a CPU: the image tokenizer (from its recipe), the judge (a CNN
trained on true scenes), the unified Transformer (caption -> image and image -> caption on interleaved token
sequences), then measure both directions on held-out scenes and write <out>/report/report.html + metrics.json.

examples (from the repository root):
  python -m examples.world --config examples/world/world_image.yaml --out runs/world
  python -m examples.world --config examples/world/world_image.yaml --set training.max_steps=200 --out runs/short

--set KEY=VALUE addresses the recipe by dotted path (VALUE is read as YAML). A tokenizer or judge already in --out
is reused; the Transformer folder must not exist yet. The shipped recipe: {RECIPE.name} beside this module.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="python -m examples.world", description=WORLD_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", action="append", default=[], metavar="YAML", help="world recipe (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="override")
    parser.add_argument("--out", default="runs/world", help="run folder (default: runs/world)")
    parser.set_defaults(run=world)
    return parser


def world(args: argparse.Namespace) -> int:
    from examples.world.run import run_world
    from omnitok.cli.train import apply_overrides

    if not args.config:
        raise ConfigError("the world needs --config RECIPE.yaml (e.g. examples/world/world_image.yaml)")
    config = load_yaml_config(*args.config)
    apply_overrides(config, args.overrides)
    result = run_world(config, args.out, base=Path(args.config[-1]).parent)
    headline = result.metrics["headline"]
    print(
        f"understanding (held-out exact caption): {headline['understanding_exact']:.3f} "
        f"(chance {headline['understanding_chance']:.3f})\n"
        f"generation (held-out attribute accuracy, judge): {headline['generation_attribute_accuracy']:.3f} "
        f"(chance {headline['generation_chance']:.3f})\n"
        + (
            f"speech understanding (held-out voices, exact caption): {headline['speech_understanding_exact']:.3f}\n"
            f"speech generation (held-out attribute accuracy, speech judge): "
            f"{headline['speech_generation_attribute_accuracy']:.3f}\n"
            if "speech_understanding_exact" in headline
            else ""
        )
        + f"wall time: {result.seconds['total']:.0f} s  report: {result.report / 'report.html'}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
