"""The report folder: self-contained HTML (checked in a real browser when Chromium is installed), Markdown,
metrics.json, the protocol block in every report, best figures marked, and atomic writing."""

import base64
import html.parser
import json
import shutil
import subprocess

import pytest

from omnitok import ConfigError
from omnitok.evaluation import NamedTokenizer, evaluate, load_eval_images
from omnitok.metrics.image import PSNR, SSIM
from omnitok.report import SCHEMA, write_report
from tests.evaluation.toy_tokenizers import EncoderOnly, PoolingQuantizer, ShiftTokenizer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run():
    data = load_eval_images("builtin", resolution=32, max_samples=10, seed=1)
    tokenizers = [
        NamedTokenizer("pool-4", PoolingQuantizer(4)),
        NamedTokenizer("pool-8", PoolingQuantizer(8)),
        NamedTokenizer("shift", ShiftTokenizer(5.0)),
        NamedTokenizer("encoder-only", EncoderOnly()),
    ]
    return evaluate(
        tokenizers,
        data,
        metrics=[PSNR(), SSIM()],
        unavailable={"lpips": "weights not found: offline"},
        show=3,
        worst_k=2,
    )


@pytest.fixture(scope="module")
def small_run():
    """One tokenizer, one picture: the writer tests write it several times."""
    data = load_eval_images("builtin", resolution=32, max_samples=4, seed=1)
    return evaluate([NamedTokenizer("shift", ShiftTokenizer(5.0))], data, metrics=[PSNR()], show=1, worst_k=0)


@pytest.fixture(scope="module")
def report(run, tmp_path_factory):
    return write_report(run, tmp_path_factory.mktemp("r") / "report")


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.ids, self.best_cells, self.external = [], set(), 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "td" and attrs.get("class") == "best":
            self.best_cells += 1
        for key in ("src", "href"):
            if attrs.get(key, "").startswith(("http:", "https:", "//")) or (tag in ("script", "link") and key in attrs):
                self.external.append(attrs[key])


def test_html_is_self_contained_with_tables_pictures_and_protocol(report, run):
    page = _Page()
    page.feed((report / "report.html").read_text())
    assert page.external == []
    assert {"reconstruction", "tokens", "speed", "protocol", "reconstructions"} <= page.ids
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    # reconstructions + worst-by-PSNR and worst-by-SSIM per decoding tokenizer + a codebook figure per discrete one
    assert len(page.images) == 1 + 2 * 3 + 3
    assert page.best_cells >= 2  # PSNR and SSIM columns at least
    text = (report / "report.html").read_text()
    assert run.protocol.fingerprint in text and "sigma 1.5" in text and "unavailable (weights not found)" in text


def test_markdown_links_pictures_beside_it_and_prints_the_protocol(report, run):
    text = (report / "report.md").read_text()
    for line in text.splitlines():
        if line.startswith("!["):
            assert (report / line.rsplit("](", 1)[1].rstrip(")")).read_bytes().startswith(PNG_MAGIC)
    assert "## Protocol" in text and run.protocol.fingerprint in text and "data range 1" in text
    best_psnr = max((r for r in run.results if r.decodes), key=lambda r: r.summary["psnr"])
    assert f"| {best_psnr.name} | **" in text and "| encoder-only | encoder only |" in text


def test_metrics_json_schema(report, run):
    doc = json.loads((report / "metrics.json").read_text())
    assert doc["schema"] == SCHEMA
    assert doc["metrics"]["lpips"] == {"available": False, "reason": "weights not found: offline"}
    assert doc["metrics"]["psnr"]["higher_is_better"] is True
    assert [t["name"] for t in doc["tokenizers"]] == ["pool-4", "pool-8", "shift", "encoder-only"]
    encoder_only = doc["tokenizers"][3]
    assert encoder_only["decodes"] is False and encoder_only["reconstruction"] == {}
    assert encoder_only["tokens"]["bits_per_pixel"] == 6 / 16 and encoder_only["speed"]["decode_samples_per_s"] is None
    best = max((r for r in run.results if r.decodes), key=lambda r: r.summary["ssim"]).name
    assert doc["best"]["ssim"] == best
    entry = doc["tokenizers"][0]
    assert entry["spec"]["codebook_sizes"] == [64] and len(entry["per_sample"]["psnr"]) == len(doc["samples"]) == 10
    assert set(entry["speed"]) >= {"encode_samples_per_s", "decode_samples_per_s", "peak_mib"}
    assert doc["protocol"]["num_samples"] == 10 and doc["protocol"]["resolution"] == 32


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (the parsing checks above still run)")
def test_report_renders_in_a_real_browser_without_broken_images(report, tmp_path):
    page = tmp_path / "page.html"
    probe = (
        "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
        "const out = document.createElement('pre'); out.id = 'probe'; out.textContent = JSON.stringify({"
        "images: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,"
        "tables: document.querySelectorAll('table').length, protocol: !!document.getElementById('protocol')});"
        "document.body.appendChild(out); });</script>"
    )
    page.write_text((report / "report.html").read_text().replace("</body>", probe + "</body>"))
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        flags + ["--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    probe_text = dom.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    found = json.loads(html.unescape(probe_text))
    assert found == {"images": 10, "broken": 0, "tables": 3, "protocol": True}
    shot = tmp_path / "shot.png"
    subprocess.run(
        flags + ["--window-size=1280,1800", f"--screenshot={shot}", (report / "report.html").as_uri()],
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes().startswith(PNG_MAGIC) and shot.stat().st_size > 10_000


def test_existing_reports_are_kept_unless_overwritten(small_run, tmp_path):
    out = write_report(small_run, tmp_path / "r")
    with pytest.raises(ConfigError, match="not empty"):
        write_report(small_run, out)
    (out / "report.md").write_text("old")
    write_report(small_run, out, overwrite=True)  # an earlier report (its own files only) is replaced
    assert (out / "report.md").read_text() != "old" and (out / "report.html").is_file()
    (out / "marker").write_text("not a report file")
    with pytest.raises(ConfigError, match="more than an omnitok report"):
        write_report(small_run, out, overwrite=True)  # anything else in the folder is never deleted
    assert (out / "marker").read_text() == "not a report file"


def test_an_interrupted_write_leaves_the_previous_report(small_run, tmp_path, monkeypatch):
    out = write_report(small_run, tmp_path / "r")
    before = (out / "metrics.json").read_text()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("omnitok.report.writer.render_markdown", fail)
    with pytest.raises(KeyboardInterrupt):
        write_report(small_run, out, overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        write_report(small_run, tmp_path / "new")
    assert (out / "metrics.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no staging folder, no partial new report
