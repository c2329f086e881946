"""The report folder: self-contained HTML (checked in a real browser when Chromium is installed), Markdown,
metrics.json, the protocol block in every report, best figures marked, and atomic writing."""

import base64
import html.parser
import json
import shutil
import subprocess

import pytest
import torch

from omnitok import ConfigError
from omnitok.evaluation import NamedTokenizer, evaluate, load_eval_images
from omnitok.metrics.image import PSNR, SSIM
from omnitok.report import SCHEMA, write_report
from omnitok.report.pictures import sample_label
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
    # rate-distortion + reconstructions + worst-by-PSNR and worst-by-SSIM per decoding tokenizer + a codebook figure
    # per discrete one
    assert len(page.images) == 1 + 1 + 2 * 3 + 3
    assert page.best_cells >= 2  # PSNR and SSIM columns at least
    text = (report / "report.html").read_text()
    assert run.protocol.fingerprint in text and "sigma 1.5" in text and "unavailable (weights not found)" in text


class _Cells(html.parser.HTMLParser):
    """Text of every table cell by table id, and of the protocol block's entries."""

    def __init__(self):
        super().__init__()
        self.tables, self.protocol, self.table, self.cell, self.in_protocol = {}, [], None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = self.tables.setdefault(attrs.get("id"), [])
        if tag in ("td", "th") and self.table is not None:
            self.table.append([]) if tag == "td" and not self.table else None
            self.cell = ""
        if tag == "tr" and self.table is not None:
            self.table.append([])
        if tag == "dl" and attrs.get("id") == "protocol":
            self.in_protocol = True
        if tag == "dd" and self.in_protocol:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.table is not None:
            self.table[-1].append(self.cell)
            self.cell = None
        if tag == "dd" and self.in_protocol:
            self.protocol.append(self.cell)
            self.cell = None
        if tag == "table":
            self.table = None
        if tag == "dl":
            self.in_protocol = False


def test_html_holds_the_rate_distortion_plot_baseline_rows_subsets_and_fingerprints(report, run):
    text = (report / "report.html").read_text()
    page, cells = _Page(), _Cells()
    page.feed(text)
    cells.feed(text)
    assert "rate-distortion" in page.ids  # the plot: PSNR and SSIM against bits per pixel
    plot = text.split('<figure id="rate-distortion">', 1)[1].split("</figure>", 1)[0]
    assert "bits per pixel" in plot and base64.b64decode(plot.split("base64,", 1)[1].split('"', 1)[0])[:8] == PNG_MAGIC
    rows = {row[0]: row for row in cells.tables["reconstruction"][1:]}
    baselines = [name for name in rows if name.startswith("baseline: ")]
    assert {"baseline: mean colour", "baseline: mean image"} <= set(baselines) and len(baselines) == 5
    # a baseline row holds the written-out PSNR of its reconstruction (mean colour per image, on [0, 1] pixels)
    x = run.data.batch(0, len(run.data)).double()
    mse = (x - x.mean(dim=(-2, -1), keepdim=True)).square().mean(dim=(1, 2, 3))
    assert rows["baseline: mean colour"][1] == f"{(10 * torch.log10(1 / mse)).mean().item():.2f}"
    assert all(cell == "unavailable (weights not found)" for cell in (rows[n][3] for n in ("pool-4", "shift")))
    assert not any("http" in cell for row in cells.tables["reconstruction"] for cell in row)
    assert any("weights not found: offline" in entry for entry in cells.protocol)  # the whole reason stays there
    # per subset: photo and scene rows for each decoding tokenizer and baseline, sample counts adding up
    subsets = cells.tables["reconstruction-by-subset"][1:]
    photos = sum(n.startswith("builtin/photo/") for n in run.data.names)
    assert {row[1] for row in subsets} == {"photo", "scene"} and 0 < photos < len(run.data)
    assert [row[2] for row in subsets[:2]] == [str(photos), str(len(run.data) - photos)]
    # counts as integers, fractions as percentages
    tokens = cells.tables["tokens"]
    usage, dead = tokens[0].index("codebook usage"), tokens[0].index("dead codes")
    pool4 = next(row for row in tokens if row[0] == "pool-4")
    counts = run.results[0].code_counts[0]
    assert pool4[usage] == f"{100 * (counts > 0).float().mean().item():.1f}%"
    assert pool4[dead] == str(int((counts == 0).sum()))
    # readable sample names in the captions; the weights fingerprint of every tokenizer in the protocol
    assert [sample_label(n) for n in ("builtin/photo/coffee/y4x22", "builtin/scene/2000251", "a/b/long_name.png")] == [
        "coffee/y4x22",
        "scene/2000251",
        "b/long_name",
    ]
    assert sample_label("x/" + "n" * 40 + ".jpg") == "x/nnnnnnnnnnn…nnnnnnnnnnnnnn"
    assert sum("weights SHA-256" in entry for entry in cells.protocol) == len(run.results)
    assert "break-all" not in text


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
        "tables: document.querySelectorAll('table').length, protocol: !!document.getElementById('protocol'),"
        "plot: document.querySelector('#rate-distortion img').naturalWidth > 300,"
        "wordBreak: getComputedStyle(document.querySelector('#protocol dd')).wordBreak,"
        "baselines: [...document.querySelectorAll('#reconstruction td:first-child')]"
        ".filter(td => td.textContent.startsWith('baseline: ') && td.offsetHeight > 0).length});"
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
    # tables: reconstruction, reconstruction by subset (photo / scene), tokens, speed; baselines: mean colour, mean
    # image, resampling to the budgets of pool-4, pool-8 and shift
    expected = {"images": 11, "broken": 0, "tables": 4, "protocol": True, "plot": True, "baselines": 5}
    assert found == dict(expected, wordBreak="normal")  # the protocol block wraps between words
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
