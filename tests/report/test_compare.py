"""``omnitok compare``: earlier reports merged under one protocol, mismatched protocols refused."""

import json

import pytest

from omnitok.cli.main import main
from omnitok.evaluation import NamedTokenizer, evaluate, load_eval_images
from omnitok.metrics.image import PSNR
from omnitok.report import write_report
from tests.evaluation.toy_tokenizers import PoolingQuantizer


def _report(folder, tokenizers, resolution=32):
    data = load_eval_images("builtin", resolution=resolution, max_samples=6, seed=1)
    named = [NamedTokenizer(name, PoolingQuantizer(levels)) for name, levels in tokenizers]
    return write_report(evaluate(named, data, metrics=[PSNR()], show=0, worst_k=0), folder)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    a = _report(root / "a", [("pool-4", 4)])
    b = _report(root / "b", [("pool-8", 8), ("pool-4", 4)])
    c = _report(root / "c", [("pool-8", 8)], resolution=64)
    return a, b, c


def test_compare_merges_reports_of_one_protocol(reports, tmp_path, capsys):
    a, b, _ = reports
    out = tmp_path / "merged"
    assert main(["compare", str(a / "metrics.json"), str(b), "--out", str(out)]) == 0
    merged = json.loads((out / "metrics.json").read_text())
    sources = [json.loads((folder / "metrics.json").read_text()) for folder in (a, b)]
    assert [t["name"] for t in merged["tokenizers"]] == ["pool-4", "pool-8", "pool-4 (b)"]
    figures = [t["reconstruction"]["psnr"] for doc in sources for t in doc["tokenizers"]]
    assert [t["reconstruction"]["psnr"] for t in merged["tokenizers"]] == figures
    assert merged["protocol"]["fingerprint"] == sources[0]["protocol"]["fingerprint"]
    assert merged["best"]["psnr"] == "pool-8"
    assert {b["name"] for b in merged["baselines"]} >= {"mean colour", "mean image"}
    assert merged["sections"][0]["title"] == "Compared reports" and len(merged["sections"][0]["rows"]) == 2
    page = (out / "report.html").read_text()
    assert '<figure id="rate-distortion">' in page and "baseline: mean colour" in page


def test_compare_refuses_mismatched_protocols(reports, tmp_path, capsys):
    a, _, c = reports
    out = tmp_path / "merged"
    assert main(["compare", str(a / "metrics.json"), str(c / "metrics.json"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omnitok: error:") and "Traceback" not in err
    assert str(c / "metrics.json") in err and "protocol." in err
    assert not out.exists()


@pytest.mark.parametrize("case", ["one", "missing", "not_json"])
def test_compare_bad_inputs(case, reports, tmp_path, capsys):
    a = reports[0] / "metrics.json"
    other = {"one": None, "missing": tmp_path / "nope.json", "not_json": tmp_path / "bad.json"}[case]
    if case == "not_json":
        other.write_text("{")
    argv = ["compare", str(a)] + ([str(other)] if other else []) + ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("omnitok: error:") and (case == "one" or str(other) in err)
    assert not (tmp_path / "out").exists()


def test_compare_lists_each_reports_precision(reports, tmp_path):
    a, b, _ = reports
    assert json.loads((a / "metrics.json").read_text())["protocol"]["dtype"] == "float32"  # toy tokenizers: no dtype
    bf16 = json.loads((b / "metrics.json").read_text())
    bf16["protocol"]["dtype"] = "bfloat16"
    old = json.loads((a / "metrics.json").read_text())
    del old["protocol"]["dtype"]  # written before the precision was recorded
    paths = [tmp_path / "bf16.json", tmp_path / "old.json"]
    for path, doc in zip(paths, (bf16, old)):
        path.write_text(json.dumps(doc))
    assert main(["compare", str(a), *map(str, paths), "--out", str(tmp_path / "merged")]) == 0
    merged = json.loads((tmp_path / "merged" / "metrics.json").read_text())
    (section,) = merged["sections"]
    assert section["header"][3] == "dtype" and [row[3] for row in section["rows"]] == [
        "float32",
        "bfloat16",
        "not recorded",
    ]
    assert merged["protocol"]["dtype"] == "as listed per report under Compared reports"
