"""Bad input to the examples' commands: exit status 2, one ``omnitok: error:`` line naming the problem, no
traceback, nothing written. The examples run as users run them: ``python -m examples.<name>`` from the root."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _world_missing_config(tmp):
    return ["examples.world", "--config", str(tmp / "w.yaml"), "--out", str(tmp / "out")], "w.yaml"


def _world_without_config(tmp):
    return ["examples.world", "--out", str(tmp / "out")], "--config"


def _world_class_in_world_section(tmp):
    recipe = tmp / "w.yaml"
    recipe.write_text((ROOT / "examples/world/world_image.yaml").read_text() + "\nworld: {class_path: os.system}\n")
    return ["examples.world", "--config", str(recipe), "--out", str(tmp / "out")], "World arguments"


def _world_unknown_world_key(tmp):
    recipe = ROOT / "examples/world/world_image.yaml"
    return ["examples.world", "--config", str(recipe), "--set", "world.colours=3", "--out", str(tmp / "out")], "colours"


def _study_zero_steps(tmp):
    return ["examples.codebook_study", "--steps", "0", "--out", str(tmp / "out")], "--steps"


def _study_negative_codebook(tmp):
    return ["examples.codebook_study", "--codebook-size", "-1", "--out", str(tmp / "out")], "--codebook-size"


def _study_unknown_option(tmp):
    return ["examples.codebook_study", "--codebooks", "3", "--out", str(tmp / "out")], "--codebooks"


CASES = [
    _world_missing_config,
    _world_without_config,
    _world_class_in_world_section,
    _world_unknown_world_key,
    _study_zero_steps,
    _study_negative_codebook,
    _study_unknown_option,
]


@pytest.mark.parametrize("case", CASES, ids=lambda f: f.__name__.lstrip("_"))
def test_bad_input(case, tmp_path):
    argv, named = case(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    errors = [line for line in run.stderr.splitlines() if line.startswith("omnitok: error:")]
    assert run.returncode == 2, run.stderr
    assert any(named in line for line in errors), f"{named!r} not named in {errors}"
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "out").exists()
