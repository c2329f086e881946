"""``omnitok eval`` end to end, the shared tokenizer resolver, and the command's error messages."""

import json

import pytest
import torch
from torchvision.io import write_png

from omnitok import ConfigError
from omnitok.cli.main import main
from omnitok.config import instantiate
from omnitok.resolve import resolve_tokenizer
from tests.evaluation.toy_tokenizers import PoolingQuantizer
from tests.models.test_autoencoder_hub import CONFIG


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    for i in range(5):
        (folder / f"set{i % 2}").mkdir(parents=True, exist_ok=True)
        write_png(
            torch.randint(0, 256, (3, 36 + 4 * i, 40), dtype=torch.uint8), str(folder / f"set{i % 2}" / f"{i}.png")
        )
    return folder


def test_eval_compares_a_saved_tokenizer_with_a_users_own_object(photos, tmp_path, capsys):
    saved = instantiate(CONFIG).eval().save_pretrained(tmp_path / "runs" / "fsq" / "tokenizer")
    out = tmp_path / "report"
    code = main(
        [
            "eval",
            "--tokenizer",
            str(saved),
            "--tokenizer",
            "tests.evaluation.toy_tokenizers:pooling",
            "--data",
            str(photos),
            "--out",
            str(out),
            "--resolution",
            "32",
            "--show",
            "2",
            "--worst",
            "1",
        ]
    )
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert [t["name"] for t in doc["tokenizers"]] == ["fsq", "pooling"]
    assert doc["samples"] == ["set0/0.png", "set0/2.png", "set0/4.png", "set1/1.png", "set1/3.png"]
    for name in ("lpips", "rfid"):  # no pretrained weights offline: said so, never a number from a random network
        assert doc["metrics"][name]["available"] is False and "weights" in doc["metrics"][name]["reason"]
        assert all(name not in t["reconstruction"] for t in doc["tokenizers"])
    assert {"psnr", "ssim"} <= set(doc["tokenizers"][0]["reconstruction"])
    assert (out / "report.html").is_file() and "report:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "no image files"),
        ("missing_module", "cannot import"),
        ("not_a_tokenizer", "not a tokenizer"),
        ("odd_resolution", "cannot take 30x30"),
        ("existing_report", "not empty"),
    ],
)
def test_eval_errors_are_clear_messages(setup, message, photos, tmp_path, capsys):
    data, ref, out, extra = str(photos), "tests.evaluation.toy_tokenizers:pooling", tmp_path / "report", []
    if setup == "empty":
        (tmp_path / "empty").mkdir()
        data = str(tmp_path / "empty")
    elif setup == "missing_module":
        ref = "no_such_module_here:tokenizer"
    elif setup == "not_a_tokenizer":
        ref = "tests.evaluation.toy_tokenizers:not_a_tokenizer"
    elif setup == "odd_resolution":
        extra = ["--resolution", "30"]
    elif setup == "existing_report":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    code = main(["eval", "--tokenizer", ref, "--data", data, "--out", str(out), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    if setup != "existing_report":
        assert not out.exists()


def test_resolver_forms():
    assert isinstance(resolve_tokenizer("tests.evaluation.toy_tokenizers:PoolingQuantizer"), PoolingQuantizer)
    assert resolve_tokenizer("tests.evaluation.toy_tokenizers:pooling").spec.codebook_sizes == (64,)
    with pytest.raises(ConfigError, match="no attribute"):
        resolve_tokenizer("tests.evaluation.toy_tokenizers:missing")


@pytest.fixture(scope="module")
def codec_folder(tmp_path_factory):
    from tests.nn.audio_models import QUANTIZERS, tiny_codec

    torch.manual_seed(0)
    model = tiny_codec(QUANTIZERS["rvq_dropout"]()).eval()
    return model.save_pretrained(tmp_path_factory.mktemp("codec") / "runs" / "speech" / "tokenizer")


def test_audio_eval_end_to_end_on_generated_speech(codec_folder, tmp_path, capsys):
    out = tmp_path / "report"
    # 0.4999 s at 16 kHz is 7998 samples: the codec decodes whole frames of 8, the eval trims to the input
    code = main(
        [
            "eval",
            "--tokenizer",
            str(codec_folder),
            "--data",
            "generated",
            "--generated-clips",
            "3",
            "--seconds",
            "0.4999",
            "--out",
            str(out),
            "--show",
            "1",
            "--worst",
            "1",
            "--ladder-samples",
            "2",
        ]
    )
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["modality"] == "audio" and doc["samples"] == ["speech_0000.wav", "speech_0001.wav", "speech_0002.wav"]
    assert doc["protocol"]["details"] == {
        "sample_rate": 16000,
        "seconds": 0.4999,
        "channels": 1,
        "samples_per_clip": 7998,
    }
    entry = doc["tokenizers"][0]
    assert entry["name"] == "speech" and {"si_sdr", "mel_distance", "stft_distance"} <= set(entry["reconstruction"])
    assert entry["tokens"]["kbps"] == pytest.approx(
        4 * 5 * 16000 / 8 / 1000 * 8000 / 7998
    )  # 1000 frames for 7998 samples
    ladder = entry["bitrate_ladder"]
    assert [r["kbps"] for r in ladder] == [10.0, 20.0, 30.0, 40.0]  # log2(32) bits x 2000 frames/s per level
    assert [r["baseline_si_sdr"] for r in ladder] == sorted(r["baseline_si_sdr"] for r in ladder)
    for name in ("pesq", "stoi"):  # optional packages: listed with the reason when they are missing
        assert name in entry["reconstruction"] or "not installed" in doc["metrics"][name]["reason"]
    page = (out / "report.html").read_text()
    assert page.count('<audio controls preload="none" src="data:audio/wav;base64,') == 2 + 2
    assert "kbps" in capsys.readouterr().out
    wavs = sorted(p.name for p in (out / "figures").glob("*.wav"))
    assert wavs == ["clip-0-0.wav", "clip-0-original.wav", "worst-0-si_sdr-0-original.wav", "worst-0-si_sdr-0.wav"]


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        ("builtin", [], "audio folder not found: builtin"),
        ("generated", ["--tokenizer", "tests.evaluation.toy_tokenizers:pooling"], "one modality"),
    ],
)
def test_audio_eval_errors(codec_folder, tmp_path, capsys, data, extra, message):
    code = main(["eval", "--tokenizer", str(codec_folder), *extra, "--data", data, "--out", str(tmp_path / "r")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_image_tokenizer_refuses_generated_clips(photos, tmp_path, capsys):
    code = main(
        [
            "eval",
            "--tokenizer",
            "tests.evaluation.toy_tokenizers:pooling",
            "--data",
            "generated",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "makes audio or video clips" in capsys.readouterr().err


def test_video_eval_end_to_end_on_generated_clips(tmp_path):
    out = tmp_path / "report"
    code = main(
        [
            "eval",
            "--tokenizer",
            "tests.evaluation.toy_tokenizers:causal_video",
            "--data",
            "generated",
            "--frames",
            "5",
            "--resolution",
            "16",
            "--generated-clips",
            "2",
            "--out",
            str(out),
            "--show",
            "1",
            "--worst",
            "1",
        ]
    )
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["modality"] == "video" and doc["protocol"]["details"]["frames"] == 5
    assert (out / "figures" / "preview.gif").read_bytes()[:6] == b"GIF89a"
    registered = {m for m, entry in doc["metrics"].items() if entry.get("per_sample")}
    per_frame = doc["tokenizers"][0]["per_frame"]
    assert set(per_frame) <= registered and all(len(curve) == 5 for curve in per_frame.values())
    if "flicker" in per_frame:  # a measure of frame-to-frame change has no value at frame 0
        assert per_frame["flicker"][0] is None and None not in per_frame["flicker"][1:]


def test_teacher_option_adds_the_semantic_section(photos, tmp_path, monkeypatch):
    from omnitok.report import ReportSection

    calls = []

    def fake_section(tokenizers, data, **options):
        calls.append(([t.name for t in tokenizers], len(data), options))
        return ReportSection(
            "Semantic features", header=["tokenizer", "linear probe accuracy ↑"], rows=[["pooling", 0.5]]
        )

    monkeypatch.setattr("omnitok.evaluation.semantic.semantic_section", fake_section)
    out = tmp_path / "report"
    code = main(
        [
            "eval",
            "--tokenizer",
            "tests.evaluation.toy_tokenizers:pooling",
            "--data",
            str(photos),
            "--out",
            str(out),
            "--resolution",
            "32",
            "--teacher",
            "scene",
            "--probe-size",
            "16",
            "--seed",
            "3",
            "--show",
            "1",
            "--worst",
            "0",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    assert calls == [
        (["pooling"], 5, {"teacher": "scene", "probe_data": "scenes", "probe_size": 16, "device": "cpu", "seed": 3})
    ]
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["sections"][0]["title"] == "Semantic features" and doc["sections"][0]["rows"] == [["pooling", 0.5]]
    assert 'id="section-semantic-features"' in (out / "report.html").read_text()


def test_teacher_option_refuses_audio(codec_folder, tmp_path, capsys):
    code = main(
        [
            "eval",
            "--tokenizer",
            str(codec_folder),
            "--data",
            "generated",
            "--out",
            str(tmp_path / "r"),
            "--teacher",
            "scene",
        ]
    )
    assert code == 2 and "--teacher measures image tokenizers" in capsys.readouterr().err
