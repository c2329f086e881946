"""``omnitok train`` and ``omnitok export``: thin wrappers over ``omnitok.trainers``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import yaml

from omnitok.cli.options import RawDescriptionDefaultsHelpFormatter
from omnitok.cli.recipes import find_recipe
from omnitok.config import load_yaml_config, set_by_path
from omnitok.errors import ConfigError
from omnitok.extras import extra_hint

TRAIN_HELP = """\
Train a tokenizer from a YAML recipe: a file, or the name of a recipe shipped with omnitok (configs/ in the
repository: image/quickstart_vq, audio/quickstart_rvq, ...; a bare name such as quickstart_vq means the image
recipe). quickstart_* recipes train on built-in data on a CPU in minutes; the others are real-scale settings.
Several --config files merge left to right.

examples:
  omnitok train --config quickstart_vq --out runs/vq
  omnitok train --config configs/image/quickstart_vq.yaml --out runs/vq
  omnitok train --config configs/image/quickstart_vq.yaml --set trainer.max_steps=200 --set data.batch_size=8
  omnitok train --resume runs/vq                       # continue exactly where runs/vq stopped
  omnitok train --config configs/image/quickstart_vq.yaml --init-from runs/vq/tokenizer --out runs/vq-ft

--set KEY=VALUE addresses the recipe by dotted path; inside a class entry 'init_args' may be left out
(model.learning_rate = model.init_args.learning_rate). VALUE is read as YAML (numbers, lists, true/false).
"""


def add_train_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train a tokenizer from a YAML recipe (resume, fine-tune)",
        description=TRAIN_HELP,
        formatter_class=RawDescriptionDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="RECIPE",
        help="recipe file or shipped recipe name (repeatable; default: none, or the resumed run's config.yaml)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one recipe value (repeatable; default: none)",
    )
    parser.add_argument("--out", help="run folder (default: runs/<recipe name>)")
    parser.add_argument(
        "--resume", metavar="RUN_OR_CKPT", help="continue a run folder or checkpoint exactly (default: a new run)"
    )
    parser.add_argument(
        "--init-from",
        metavar="CKPT_OR_TOKENIZER",
        help="start from these weights, fresh optimizers (default: random initialization)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the merged recipe and exit")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow the recipe to name classes outside omnitok and torch.nn"
    )
    parser.set_defaults(run=run_train)

    export = commands.add_parser(
        "export",
        help="write the inference-only tokenizer folder of a training checkpoint",
        description="Write config.json + model.safetensors (loadable with omnitok.load_tokenizer) from a .ckpt.",
    )
    export.add_argument("checkpoint", help="a .ckpt from a run's checkpoints/ folder, or the run folder")
    export.add_argument("--out", required=True, help="folder to write")
    export.add_argument(
        "--weights",
        choices=["auto", "ema", "live"],
        default="auto",
        help="EMA average or live weights (auto: EMA if kept)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    export.set_defaults(run=run_export)


def _recipe(args: argparse.Namespace, resumed_folder: Path | None) -> dict:
    paths = list(args.config)
    if not paths and resumed_folder is not None:
        paths = [resumed_folder / "config.yaml"]
    if not paths:
        raise ConfigError("omnitok train needs --config RECIPE.yaml (or --resume RUN_FOLDER)")
    config = load_yaml_config(*(find_recipe(str(p)) for p in paths))
    apply_overrides(config, args.overrides)
    return config


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def apply_overrides(config: dict, overrides: list[str]) -> None:
    """Apply ``--set KEY=VALUE`` overrides to a recipe in place: KEY is a dotted path (``set_by_path``), VALUE is
    read by :func:`parse_value`. Raises ConfigError for an override without '='."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {override!r}")
        set_by_path(config, key.strip(), parse_value(value, key.strip()))


def parse_value(text: str, key: str = "") -> object:
    """A --set value as YAML, except that 1e-4 is a number (YAML 1.1 would read it as a string)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(f"--set {key}={text}: the value is not valid YAML ({reason})") from None
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def run_train(args: argparse.Namespace) -> int:
    with extra_hint("omnitok train"):
        return _run_train(args)


def _run_train(args: argparse.Namespace) -> int:
    folder, checkpoint = None, None
    if args.resume:
        from omnitok.trainers.run import resolve_resume

        folder, checkpoint = resolve_resume(args.resume)
    config = _recipe(args, folder)
    if args.print_config:  # needs no training extra
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0
    from omnitok.trainers.run import check_recipe, train

    check_recipe(config, args.trust_remote_code)  # train() checks it too; this fails before the run folder is chosen
    out = Path(args.out) if args.out else folder or Path("runs") / Path(args.config[-1]).stem
    result = train(config, out, resume=checkpoint, init_from=args.init_from, trust_remote_code=args.trust_remote_code)
    if not result.main_process:  # the other data-parallel processes say nothing
        return 0
    print(f"run folder: {result.folder}  (step {result.step})")
    if result.tokenizer is not None:
        print(f"tokenizer:  {result.tokenizer}   checkpoint: {result.folder / 'checkpoints' / 'last.ckpt'}")
    heldout = result.folder / "heldout.md"
    if heldout.exists():
        print(heldout.read_text())
    return 0


def run_export(args: argparse.Namespace) -> int:
    with extra_hint("omnitok export"):
        return _run_export(args)


def _run_export(args: argparse.Namespace) -> int:
    from omnitok.trainers.export import export_checkpoint
    from omnitok.trainers.run import resolve_resume

    _, checkpoint = resolve_resume(args.checkpoint)
    folder = export_checkpoint(checkpoint, args.out, weights=args.weights, overwrite=args.overwrite)
    print(f"wrote {folder}/config.json and model.safetensors")
    return 0
