"""Side-by-side headline figures of finished world runs, averaged over the runs of each arm (e.g. seeds).

    python -m examples.world.compare shared=runs/world-omni-shared,runs/world-omni-shared-seed1 \\
        separate=runs/world-omni-separate,runs/world-omni-separate-seed1

prints a Markdown table: one row per headline figure (and per unseen-combination figure), one column per arm with
the mean over its runs and, with more than one run, the individual runs in brackets. Reads each run's
``report/metrics.json``; nothing is recomputed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

from omnitok.errors import ConfigError

FIGURES = (
    ("image -> caption, exact", ("headline", "understanding_exact")),
    ("caption -> image, attribute accuracy", ("headline", "generation_attribute_accuracy")),
    ("speech -> caption, exact", ("headline", "speech_understanding_exact")),
    ("caption -> speech, attribute accuracy", ("headline", "speech_generation_attribute_accuracy")),
    ("unseen combinations: image -> caption, exact", ("unseen_combinations", "understanding", "exact")),
    ("unseen combinations: caption -> image, attribute", ("unseen_combinations", "generation", "mean_attribute")),
    ("unseen combinations: speech -> caption, exact", ("speech", "unseen_combinations", "understanding", "exact")),
    (
        "unseen combinations: caption -> speech, attribute",
        ("speech", "unseen_combinations", "generation", "mean_attribute"),
    ),
)


def _lookup(document: dict[str, Any], path: Sequence[str]) -> float | None:
    node: Any = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, (int, float)) else None


def load_arms(specs: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """``["label=FOLDER[,FOLDER...]", ...]`` -> label -> each folder's metrics.json (ConfigError naming a bad one)."""
    arms: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        label, _, folders = spec.partition("=")
        if not label or not folders:
            raise ConfigError(f"expected LABEL=FOLDER[,FOLDER...], got {spec!r}")
        arms[label] = []
        for folder in folders.split(","):
            path = Path(folder) / "report" / "metrics.json"
            if not path.is_file():
                raise ConfigError(f"{path} does not exist: is {folder} a finished world run?")
            arms[label].append(json.loads(path.read_text()))
    return arms


def comparison_table(arms: dict[str, list[dict[str, Any]]]) -> str:
    """The Markdown table (percentages; rows a run lacks, e.g. speech figures of an image-only world, are left out)."""
    header = "| held-out figure | " + " | ".join(f"{label} ({len(runs)} runs)" for label, runs in arms.items()) + " |"
    lines = [header, "|---|" + "---:|" * len(arms)]
    for name, path in FIGURES:
        cells = []
        for runs in arms.values():
            values = [_lookup(run, path) for run in runs]
            if any(v is None for v in values):
                break
            each = f" ({' / '.join(f'{100 * v:.1f}' for v in values)})" if len(values) > 1 else ""
            cells.append(f"{100 * mean(values):.1f}%{each}")
        if len(cells) == len(arms):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0 if args else 2
    try:
        print(comparison_table(load_arms(args)))
    except ConfigError as err:
        print(f"omnitok: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
