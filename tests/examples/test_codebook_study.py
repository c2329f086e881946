"""The codebook study (`python -m examples.codebook_study`) at a small size: files written, and the VQ tricks matter."""

import json
import subprocess
import sys
from pathlib import Path

from examples.codebook_study.study import StudySettings, fsq_levels, run_study

ROOT = Path(__file__).resolve().parents[2]


def test_study_writes_report_and_shows_the_tricks_matter(tmp_path):
    settings = StudySettings(dim=8, codebook_size=128, blobs=512, steps=60, batch_size=512, eval_points=4096)
    metrics = run_study(tmp_path, settings, log=lambda _: None)
    results = metrics["results"]
    assert json.loads((tmp_path / "metrics.json").read_text())["results"] == results
    report = (tmp_path / "report.md").read_text()
    assert all(name in report for name in results)
    plain, restart = results["vq ema"], results["vq ema + dead-code restart"]
    assert restart["usage"] > 0.9 > 0.2 > plain["usage"]
    assert results["vq ema + k-means init"]["usage"] > 0.9
    assert restart["relative_mse"] < 0.5 * plain["relative_mse"]


def test_fsq_levels_multiply_to_the_codebook_size():
    for bits in range(2, 19):
        levels = fsq_levels(bits)
        product = 1
        for level in levels:
            product *= level
        assert product == 2**bits and min(levels) >= 4, (bits, levels)


def test_cli_runs_the_study(tmp_path):
    cmd = [sys.executable, "-m", "examples.codebook_study", "--out", str(tmp_path), "--dim", "4",
           "--codebook-size", "32", "--blobs", "64", "--steps", "5"]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    assert (tmp_path / "report.md").is_file() and (tmp_path / "metrics.json").is_file()
