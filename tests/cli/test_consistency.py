"""The command line as one tool: --version, ``python -m omnitok``, a default in every option's help, one name for the
resize option (old names kept), recipe names for --config, Lightning settings refused before the run folder, and
``--dtype``/``--device`` on the commands that run a tokenizer."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torchvision.io import write_png

from omnitok.cli.main import build_parser, main, parse_arguments
from omnitok.tokens import load_tokens
from tests.cli.test_image_commands import tokenizer_folder  # noqa: F401  (a fixture)
from tests.trainers.recipes import CONFIGS, tiny_recipe

REPO = Path(__file__).resolve().parents[2]


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "omnitok"):
    """(name, parser) of every command and sub-command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subcommands(sub, f"{prefix} {name}")


def test_version_matches_the_installed_distribution(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"omnitok {importlib.metadata.version('omnitok')}"


def test_python_dash_m_omnitok_is_the_command_line():
    out = subprocess.run(
        [sys.executable, "-m", "omnitok", "encode", "--help"], check=False, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("usage: omnitok encode")


def test_every_option_says_what_it_does_and_its_default():
    missing = []
    for command, parser in _subcommands(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            flag = action.option_strings[0]
            if not action.help:
                missing.append(f"{command} {flag}: no help")
            elif action.required or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                continue  # required: no default; switches: off unless given
            elif "default" not in action.help and action.default is None:
                missing.append(f"{command} {flag}: the help does not say what happens without it")
            elif action.default is not None and "default" not in action.help:
                shown = ", ".join(map(str, action.default)) if isinstance(action.default, list) else action.default
                if f"(default: {'none' if shown == '' else shown})" not in " ".join(text.split()):
                    missing.append(f"{command} {flag}: default {action.default!r} not shown")
    assert not missing, "\n".join(missing)


def test_one_resize_option_with_the_old_name_kept():
    for command in ("encode", "eval", "tokenize"):
        parser = dict(_subcommands(build_parser()))[f"omnitok {command}"]
        (size,) = [a for a in parser._actions if "--size" in a.option_strings]
        assert size.option_strings == ["--size", "--resolution"] and size.dest == "size"
    args = parse_arguments(["eval", "--tokenizer", "t", "--data", "builtin", "--out", "r", "--resolution", "64"])
    assert args.size == 64
    assert parse_arguments(["encode", "x", "--tokenizer", "t", "--out", "o", "--size", "32"]).size == 32


def test_the_readme_main_command_still_parses():
    line = next(x for x in (REPO / "README.md").read_text().splitlines() if x.startswith("bash .ci/setup && "))
    commands = [c.strip() for c in line.split("&&")[1:]]
    assert len(commands) == 2
    for command in commands:
        argv = shlex.split(command)
        assert argv[0].endswith("omnitok")
        parse_arguments(argv[1:])  # an unknown or renamed option would exit with status 2


def test_config_takes_recipe_names_and_paths(capsys):
    def printed(*argv: str) -> dict:
        assert main(["train", *argv, "--print-config"]) == 0
        return yaml.safe_load(capsys.readouterr().out)

    by_path = printed("--config", str(CONFIGS / "quickstart_vq.yaml"))
    assert printed("--config", "quickstart_vq") == by_path == printed("--config", "image/quickstart_vq.yaml")
    video = printed("--config", "video/quickstart_vq")
    assert video["data"]["class_path"].endswith("VideoDataModule")
    assert printed("--config", "quickstart_rvq")["data"]["class_path"].endswith("AudioDataModule")  # audio only
    assert main(["train", "--config", "quickstart_nothing", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"omnitok: error: --config quickstart_nothing: no such file, and no recipe of that name", err)
    assert "image/quickstart_vq" in err


def test_lightning_settings_are_refused_before_the_run_folder_from_python_too(tmp_path):
    from omnitok.errors import ConfigError
    from omnitok.trainers import train

    with pytest.raises(ConfigError, match=r"trainer settings .*devices=0.* do not work here"):
        train(tiny_recipe(trainer__devices=0), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_lightning_settings_are_refused_before_the_run_folder(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(trainer__devices=0)))
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "omnitok: error: trainer settings" in err and "devices=0" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_quickstart_recipes_pick_the_accelerator_automatically():
    from omnitok.config import load_yaml_config

    for folder in ("image", "video", "audio"):
        assert load_yaml_config(CONFIGS.parent / folder / "quickstart_base.yaml")["trainer"]["accelerator"] == "auto"


def test_encode_and_decode_take_dtype_and_device(tokenizer_folder, tmp_path, capsys):  # noqa: F811
    from omnitok.resolve import load_tokenizer

    (tmp_path / "images").mkdir()
    image = (torch.rand(3, 64, 64) * 255).to(torch.uint8)
    write_png(image, str(tmp_path / "images" / "a.png"))
    common = ["--tokenizer", str(tokenizer_folder), "--device", "cpu"]
    assert main(["encode", str(tmp_path / "images"), *common, "--dtype", "bf16", "--out", str(tmp_path / "t16")]) == 0
    assert main(["encode", str(tmp_path / "images"), *common, "--out", str(tmp_path / "t32")]) == 0
    half, _ = load_tokens(tmp_path / "t16" / "a.png.safetensors")
    full, _ = load_tokens(tmp_path / "t32" / "a.png.safetensors")
    x = image.float().unsqueeze(0) / 127.5 - 1
    assert torch.equal(full, load_tokenizer(tokenizer_folder).encode(x))
    assert torch.equal(half, load_tokenizer(tokenizer_folder, dtype=torch.bfloat16).encode(x))
    assert (half == full).float().mean() > 0.9  # bf16 rounding in the encoder flips a few near-boundary codes
    assert main(["decode", str(tmp_path / "t16"), *common, "--dtype", "bfloat16", "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "a.png").is_file()
    with pytest.raises(SystemExit) as stop:
        main(["encode", str(tmp_path / "images"), *common[:2], "--dtype", "int8", "--out", "x"])
    assert stop.value.code == 2 and "argument --dtype: invalid choice: 'int8'" in capsys.readouterr().err
    bad_device = "cuda:99" if torch.cuda.is_available() else "cuda"
    assert main(["encode", str(tmp_path / "images"), *common[:2], "--device", bad_device, "--out", "x"]) == 2
    assert "omnitok: error: device" in capsys.readouterr().err


def test_eval_takes_dtype_and_device(tokenizer_folder, tmp_path, capsys, monkeypatch):  # noqa: F811
    import json

    monkeypatch.setenv("OMNITOK_PROGRESS_SECONDS", "0")  # a progress line per batch (stderr is not a terminal here)

    for i in range(2):
        (tmp_path / "photos").mkdir(exist_ok=True)
        write_png((torch.rand(3, 32, 32) * 255).to(torch.uint8), str(tmp_path / "photos" / f"{i}.png"))
    reports = {}
    for dtype in ("float32", "bf16"):
        out = tmp_path / f"report-{dtype}"
        argv = ["eval", "--tokenizer", str(tokenizer_folder), "--data", str(tmp_path / "photos"), "--out", str(out)]
        extra = ["--size", "32", "--show", "1", "--worst", "0", "--batch-size", "1", "--name", "vq"]
        assert main([*argv, *extra, "--device", "cpu", "--dtype", dtype]) == 0
        progress = [line.split(" (")[0] for line in capsys.readouterr().err.splitlines() if line.startswith("eval ")]
        assert progress == ["eval vq: 1/2 samples", "eval vq: 2/2 samples"]
        doc = json.loads((out / "metrics.json").read_text())
        reports[dtype] = doc["tokenizers"][0]["reconstruction"]["psnr"]
        named = {"float32": "float32", "bf16": "bfloat16"}[dtype]
        assert doc["protocol"]["dtype"] == named and doc["protocol"]["device"].startswith("cpu")
        (line,) = [li for li in (out / "report.md").read_text().splitlines() if "device, dtype, batch size" in li]
        assert re.fullmatch(rf"- device, dtype, batch size: `?cpu \(.*\), {named}, 1`?", line)  # the protocol block
    assert abs(reports["bf16"] - reports["float32"]) < 0.5  # dB: the same reconstructions up to bf16 rounding
