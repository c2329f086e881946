"""Audio and video reports (players, spectrograms, bitrate ladder; frame strips, animated preview, per-frame
curves), extra report sections, and reading metrics.json of either schema version."""

import base64
import html.parser
import io
import json

import pytest
import torch

from omnitok import ConfigError
from omnitok.data import harmonic_chirp
from omnitok.evaluation import NamedTokenizer, clips_from_tensors, evaluate, load_eval_videos
from omnitok.metrics.audio import SISDR, STFTDistance
from omnitok.report import SCHEMA, ReportSection, SectionImage, read_metrics_document, write_report
from tests.evaluation.toy_tokenizers import CausalFramePooling, FramePSNR, ResidualRounding

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Media(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.add(attrs.get("id"))
        if tag in ("img", "audio"):
            self.sources.append((tag, attrs["src"]))


def _parse(path):
    page = _Media()
    page.feed(path.read_text())
    return page


def _decoded(uri):
    return base64.b64decode(uri.split(",", 1)[1])


@pytest.fixture(scope="module")
def audio_report(tmp_path_factory):
    clips = torch.cat([harmonic_chirp(0.25, 8000, seed=s) for s in range(4)]).unsqueeze(1)
    run = evaluate(
        [NamedTokenizer("rvq-3", ResidualRounding(3)), NamedTokenizer("rvq-2", ResidualRounding(2))],
        clips_from_tensors(clips, 8000),
        metrics=[SISDR(), STFTDistance()],
        show=2,
        worst_k=1,
        sections=[
            ReportSection(
                "Extra figures",
                header=["tokenizer", "score ↑"],
                rows=[["rvq-3", 0.5], ["rvq-2", None]],
                notes=["A note."],
                data={"scores": {"rvq-3": 0.5}},
                images=[SectionImage("a picture", PNG_MAGIC + b"rest", caption="why")],
            )
        ],
    )
    return run, write_report(run, tmp_path_factory.mktemp("audio") / "report")


def test_audio_html_embeds_players_and_spectrograms(audio_report):
    _, out = audio_report
    page = _parse(out / "report.html")
    audio = [src for tag, src in page.sources if tag == "audio"]
    # showcase: 2 clips x (original + 2 tokenizers); worst by SI-SDR (the first metric): 1 clip x 2 per tokenizer
    assert len(audio) == 2 * 3 + 2 * 2
    for src in audio:
        assert src.startswith("data:audio/wav;base64,")
        wav = _decoded(src)
        assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    images = [src for tag, src in page.sources if tag == "img"]
    assert all(_decoded(src).startswith(PNG_MAGIC) for src in images)
    assert {
        "reconstructions",
        "bitrate-ladder",
        "worst-0-si_sdr",
        "worst-1-stft_distance",
        "section-extra-figures",
    } <= page.ids
    text = (out / "report.html").read_text()
    assert "Bitrate ladder" in text and "SI-SDR (dB)" in text and "kbps" in text and "A note." in text


def test_audio_markdown_links_wav_files_and_pictures(audio_report):
    import soundfile

    _, out = audio_report
    text = (out / "report.md").read_text()
    wavs = [line.split("](", 1)[1].rstrip(")") for line in text.splitlines() if line.endswith(".wav)")]
    assert len(wavs) == 10
    info = soundfile.info(str(out / wavs[0]))
    assert info.samplerate == 8000 and info.frames == 2000
    for line in text.splitlines():
        if line.startswith("!["):
            assert (out / line.rsplit("](", 1)[1].rstrip(")")).read_bytes().startswith(PNG_MAGIC)
    assert "## Bitrate ladder" in text and "## Extra figures" in text and "| rvq-2 | n/a |" in text
    assert "- sample rate: 8000" in text


def test_audio_metrics_json_has_the_ladder_and_sections(audio_report):
    _, out = audio_report
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["schema"] == SCHEMA and doc["modality"] == "audio"
    assert doc["protocol"]["details"]["sample_rate"] == 8000 and doc["protocol"]["resolution"] is None
    first, second = doc["tokenizers"]
    assert [r["levels"] for r in first["bitrate_ladder"]] == [1, 2, 3] and len(second["bitrate_ladder"]) == 2
    assert first["bitrate_ladder"][1] == pytest.approx(second["bitrate_ladder"][1])  # same code, same rung
    assert first["tokens"]["kbps"] == 24.0 and first["per_frame"] == {}
    assert doc["sections"] == [
        {
            "title": "Extra figures",
            "header": ["tokenizer", "score ↑"],
            "rows": [["rvq-3", 0.5], ["rvq-2", None]],
            "notes": ["A note."],
            "images": ["figures/section-extra-figures-0.png"],
            "data": {"scores": {"rvq-3": 0.5}},
        }
    ]
    assert (out / "figures" / "section-extra-figures-0.png").read_bytes() == PNG_MAGIC + b"rest"


def test_video_report_has_strips_preview_and_curves(tmp_path):
    from PIL import Image

    data = load_eval_videos("generated", frames=5, resolution=16, generated_clips=3)
    run = evaluate([NamedTokenizer("causal", CausalFramePooling())], data, metrics=[FramePSNR()], show=2, worst_k=1)
    out = write_report(run, tmp_path / "report")
    page = _parse(out / "report.html")
    assert {"reconstructions", "preview", "per-frame", "per-frame-metrics", "worst-0-psnr"} <= page.ids
    gifs = [_decoded(src) for tag, src in page.sources if src.startswith("data:image/gif;base64,")]
    assert len(gifs) == 1
    preview = Image.open(io.BytesIO(gifs[0]))
    assert preview.n_frames == 5 and preview.size == (2 * 96 + 2, 2 * 96 + 2)  # 2 clips x (original | causal)
    assert (out / "figures" / "preview.gif").read_bytes() == gifs[0]
    doc = json.loads((out / "metrics.json").read_text())
    curve = doc["tokenizers"][0]["per_frame"]["psnr"]
    assert len(curve) == 5 and curve == pytest.approx(run.results[0].curves["psnr"])
    assert doc["protocol"]["details"]["frames"] == 5
    text = (out / "report.md").read_text()
    assert "![Animated preview](figures/preview.gif)" in text and "| causal | PSNR (dB) ↑ |" in text


def test_section_errors_and_reading_both_schema_versions(audio_report, tmp_path):
    with pytest.raises(ConfigError, match="2 cells for 1 columns"):
        ReportSection("bad", header=["a"], rows=[[1, 2]])
    with pytest.raises(ConfigError, match="png"):
        SectionImage("x", b"GIF89a", format="jpeg")
    run, out = audio_report
    with pytest.raises(ConfigError, match="two report sections"):
        evaluate(
            [NamedTokenizer("rvq", ResidualRounding())],
            run.data,
            metrics=[SISDR()],
            sections=[ReportSection("Same"), ReportSection("same")],
        )
    assert read_metrics_document(out / "metrics.json") == json.loads((out / "metrics.json").read_text())
    old = {
        "schema": "omnitok.eval/1",
        "protocol": {"resolution": 32},
        "metrics": {},
        "samples": [],
        "best": {},
        "tokenizers": [{"name": "a", "reconstruction": {"psnr": 20.0}}],
    }
    (tmp_path / "old.json").write_text(json.dumps(old))
    upgraded = read_metrics_document(tmp_path / "old.json")
    assert upgraded["schema"] == SCHEMA and upgraded["modality"] == "image" and upgraded["sections"] == []
    assert upgraded["tokenizers"][0] == {
        "name": "a",
        "reconstruction": {"psnr": 20.0},
        "per_frame": {},
        "bitrate_ladder": None,
    }
    (tmp_path / "future.json").write_text(json.dumps({"schema": "omnitok.eval/9"}))
    with pytest.raises(ConfigError, match="unknown metrics schema"):
        read_metrics_document(tmp_path / "future.json")
