"""``omnitok compare``: merge earlier reports (their metrics.json) into one report under one protocol."""

from __future__ import annotations

import argparse


def add_compare_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="merge earlier eval reports (metrics.json) measured under the same protocol into one report",
        description="Merge the metrics.json of earlier `omnitok eval` reports into one report (tables, "
        "rate-distortion plot, baselines). Reports measured under different protocols (data, resolution, seed, "
        "metric implementations) are refused.",
    )
    parser.add_argument("reports", nargs="+", metavar="METRICS_JSON", help="metrics.json files or report folders")
    parser.add_argument("--out", default="comparison", help="report folder (must be new or empty unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")
    parser.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from omnitok.extras import require

    require("matplotlib", "omnitok compare's report (its plots)")
    from omnitok.report.compare import compare_reports

    out = compare_reports(args.reports, args.out, args.overwrite)
    print(f"report: {out / 'report.html'}  ({out / 'report.md'}, {out / 'metrics.json'})")
    return 0
