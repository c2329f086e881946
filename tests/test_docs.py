"""The API reference (``docs/build_api.sh``, pdoc over the docstrings) covers every package and builds offline."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "build_api.sh"


def test_the_api_reference_lists_every_public_package():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    documented = set(re.findall(r"\bomnitok(?:\.\w+)?\b", SCRIPT.read_text().split("pdoc", 1)[1]))
    internal = {"omnitok.cli", "omnitok.configs"}  # the command line (its --help is its reference) and recipe data
    assert set(packages) - internal <= documented


@pytest.mark.slow
def test_the_api_reference_builds_offline(tmp_path):
    done = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    quantizers = (tmp_path / "omnitok" / "quantizers.html").read_text()
    assert "VectorQuantizer" in quantizers and "QuantizerOutput" in quantizers
    assert "extend_causal_lm" in (tmp_path / "omnitok" / "unified.html").read_text()
