"""``python -m examples.omni_study``: one shared codebook (omni tokenizer) against three separate codebooks of equal
total size, trained for the same steps on the same examples; writes report.md and results.json.

    python -m examples.omni_study --out runs/omni-study                       # both arms, one after the other
    python -m examples.omni_study --out runs/omni-study --arms separate &     # or side by side, one core each
    python -m examples.omni_study --out runs/omni-study --arms shared; wait
    python -m examples.omni_study --out runs/omni-study --report-only         # the table of the finished arms
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from examples.omni_study.recipes import RECIPE, load_omni_recipe
from examples.omni_study.study import ARMS, run_arm, table_rows, write_report
from omnitok.cli.main import CommandLineParser, run_command
from omnitok.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="python -m examples.omni_study",
        description="Shared vs separate codebooks for image, video and audio at equal total size (report.md, results.json).",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/omni-study"), help="folder for the runs and the report")
    parser.add_argument(
        "--config", action="append", default=None, help=f"omni recipe(s), merged in order (default {RECIPE.name})"
    )
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE on the omni recipe, before the "
                        "separate recipes are derived from it (repeatable), e.g. trainer.max_steps=300")  # fmt: skip
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated subset of " + ",".join(ARMS))
    parser.add_argument("--report-only", action="store_true", help="train nothing; rewrite the report of finished arms")
    parser.set_defaults(run=study)
    return parser


def study(args: argparse.Namespace) -> int:
    omni = load_omni_recipe(args.config, args.set)
    arms = [] if args.report_only else [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ConfigError(f"--arms: unknown arm(s) {unknown}; choose from {list(ARMS)}")
    for arm in arms:
        run_arm(arm, omni, args.out)
    if not any((args.out / arm / "arm.json").exists() for arm in ARMS):
        raise ConfigError(f"no finished arm in {args.out}")
    results = write_report(args.out, omni)
    for label, values in table_rows(results):
        print(f"{label:40s} " + "  ".join(f"{v:>24s}" for v in values))
    print(f"report: {args.out}/report.md  results: {args.out}/results.json")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
