"""``omnitok data pack`` on two machines through litdata's node settings: two packing processes, one folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.trainers.test_packing import stored, write_images

pytestmark = pytest.mark.distributed  # one worker runs these one after another (tests/conftest.py)


def test_two_machines_pack_one_folder_through_litdatas_node_settings(tmp_path):
    src = tmp_path / "images"
    good = write_images(src, count=9)
    (src / "bad.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "packed"
    command = [sys.executable, "-m", "omnitok.cli.main", "data", "pack", str(src), str(out), "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DATA_OPTIMIZER_NUM_NODES": "2"}
    last = subprocess.Popen(command, env={**env, "DATA_OPTIMIZER_NODE_RANK": "1"}, stdout=subprocess.PIPE, text=True)
    first = subprocess.run(
        command, check=False, env={**env, "DATA_OPTIMIZER_NODE_RANK": "0"}, capture_output=True, text=True
    )
    assert first.returncode == 0 and "node 1 completes" in first.stdout, first.stderr
    assert last.wait(timeout=120) == 0
    assert "packed 9 image files" in last.stdout.read()
    assert stored(out) == {p.relative_to(src).as_posix(): p.read_bytes() for p in good}  # each file once, both nodes
    assert [s["path"] for s in json.loads((out / "pack.json").read_text())["skipped"]] == ["bad.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "packed"]
