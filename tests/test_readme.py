"""The usage shown in the README runs as written."""

import re
from pathlib import Path


def test_readme_python_blocks_run():
    text = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    root = Path(__file__).parents[1]
    readme, ci = (root / "README.md").read_text(), (root / ".ci/run").read_text()
    command = ".venv/bin/python -m pytest -n 2"
    assert command in readme and command in ci
