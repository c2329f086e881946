"""``omnitok tokenize`` end to end: real CLI processes on Ray Data (one Ray instance for the session, joined with
``--address``; the reference run starts its own embedded Ray with no options, as on a 2-CPU machine).

Independent references: the shards' tokens against ``omnitok encode``'s token files for the same inputs, shard
bytes against a run with another worker count, a run killed with SIGKILL and restarted against the uninterrupted
run, and the shards read back by pyarrow, Hugging Face ``datasets`` and Ray's own Parquet reader."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.io import write_png

SHARD_SIZE = 3
IMAGES = ["im0.png", "im2.png", "im4.png", "im6.png", "sub/im1.png", "sub/im3.png", "sub/im5.png"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    from omnitok.config import instantiate
    from tests.trainers.recipes import tiny_recipe

    torch.manual_seed(0)
    model = instantiate(tiny_recipe()["model"]["init_args"]["tokenizer"]).eval()
    return model.save_pretrained(tmp_path_factory.mktemp("tok") / "tokenizer")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """7 random 32x32 PNGs in two folders (``sub/im3.png`` with a caption sidecar), and ``bad.png`` (not an
    image)."""
    root = tmp_path_factory.mktemp("images")
    generator = torch.Generator().manual_seed(0)
    for name in IMAGES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_png((torch.rand(3, 32, 32, generator=generator) * 255).to(torch.uint8), str(root / name))
    (root / "bad.png").write_bytes(b"this is not an image\n")
    (root / "sub" / "im3.txt").write_text("a caption, with ünïcode\n", encoding="utf-8")
    return root


def tokenize(tokenizer: Path, data: Path, out: Path, *extra: str, wait: bool = True):
    argv = [sys.executable, "-m", "omnitok.cli.main", "tokenize", "--tokenizer", str(tokenizer), "--data", str(data)]
    argv += ["--out", str(out), "--shard-size", str(SHARD_SIZE), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # read now: ray.init sets the session's auth mode in os.environ
    if not wait:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tokenizer, images, tmp_path_factory) -> Path:
    """The uninterrupted corpus, made by ``omnitok tokenize`` with no Ray or sizing options (embedded local Ray)."""
    out = tmp_path_factory.mktemp("corpus") / "reference"
    done = tokenize(tokenizer, images, out)
    assert done.returncode == 1, done.stdout + done.stderr  # 1: bad.png was skipped, the rest written
    assert "omnitok: error:" in done.stderr and "bad.png" in done.stderr and "Traceback" not in done.stderr
    return out


def shard_files(out: Path) -> list[Path]:
    return sorted(out.glob("shard-*.parquet"))


def test_shards_equal_encode_token_files_and_list_bad_inputs(reference, tokenizer, images, tmp_path):
    import pyarrow.parquet as pq

    from omnitok.cli.main import main
    from omnitok.fingerprint import file_sha256
    from omnitok.tokens import read_token_file

    assert main(["encode", str(images), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "enc")]) == 1
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == len(IMAGES) and manifest["token_dtype"] == "uint16"
    assert [s["key"] for s in manifest["skipped"]] == ["bad.png"] and "cannot decode" in manifest["skipped"][0][
        "reason"
    ]
    assert manifest["tokenizer"]["weights_sha256"] == file_sha256(tokenizer / "model.safetensors")
    assert [s["file"] for s in manifest["shards"]] == [p.name for p in shard_files(reference)]
    assert [s["rows"] for s in manifest["shards"]] == [2, 3, 2]  # 8 inputs by 3, bad.png skipped from the first
    rows = []
    for entry, path in zip(manifest["shards"], shard_files(reference)):
        assert entry["sha256"] == file_sha256(path)
        table = pq.read_table(path).to_pylist()
        assert [r["key"] for r in table] == sorted(r["key"] for r in table)
        rows += table
    assert [r["key"] for r in rows] == IMAGES
    for row in rows:
        expected = read_token_file(tmp_path / "enc" / f"{row['key']}.safetensors")
        assert row["shape"] == row["grid"] == [8, 8] and row["levels"] == 1 and json.loads(row["media"]) == {}
        assert row["source"] == str(images / row["key"])
        assert row["text"] == ("a caption, with ünïcode" if row["key"] == "sub/im3.png" else None)
        assert torch.equal(torch.tensor(np.array(row["tokens"], dtype=np.int64)).reshape(1, 8, 8), expected.tokens)


def test_two_workers_write_the_same_bytes(reference, tokenizer, images, tmp_path, ray_address):
    done = tokenize(
        tokenizer, images, tmp_path / "two", "--address", ray_address, "--workers", "2", "--batch-size", "1"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert [p.name for p in shard_files(tmp_path / "two")] == [p.name for p in shard_files(reference)], (
        done.stdout + done.stderr
    )
    for mine, theirs in zip(shard_files(tmp_path / "two"), shard_files(reference)):
        assert mine.read_bytes() == theirs.read_bytes(), mine.name
    assert (tmp_path / "two" / "manifest.json").read_text() == (reference / "manifest.json").read_text()


def test_killed_run_resumes_to_the_uninterrupted_result(reference, tokenizer, images, tmp_path, ray_address):
    """sub/im5.png (the last input) is made a FIFO, so the run blocks there after finishing earlier shards; the
    driver is killed with SIGKILL, the file restored, and the same command finishes without redoing a shard."""
    out, blocker = tmp_path / "killed", images / "sub" / "im5.png"
    original = blocker.read_bytes()
    blocker.unlink()
    os.mkfifo(blocker)
    try:
        process = tokenize(
            tokenizer, images, out, "--address", ray_address, "--workers", "1", "--batch-size", "1", wait=False
        )
        deadline = time.monotonic() + 120
        while not shard_files(out) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(1.0)  # let whatever else can finish before the blocked input finish
        assert 1 <= len(shard_files(out)) < 3, process.stdout.read() if process.poll() is not None else "timed out"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    finally:
        blocker.unlink()
        blocker.write_bytes(original)
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shard_files(out)}
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    done = tokenize(tokenizer, images, out, "--address", ray_address, "--workers", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{len(finished)} already finished, kept" in done.stdout
    for name, stamp in finished.items():
        assert ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) == stamp, f"{name} was rewritten"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temporary left
    for mine, theirs in zip(shard_files(out), shard_files(reference), strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), mine.name
    assert (out / "manifest.json").read_text() == (reference / "manifest.json").read_text()


def test_resume_refuses_another_tokenizer_or_protocol(reference, tokenizer, images, tmp_path, capsys):
    from omnitok.cli.main import main
    from omnitok.config import instantiate
    from tests.trainers.recipes import tiny_recipe

    torch.manual_seed(1)  # same recipe and spec, other weights: only the fingerprint differs
    other = instantiate(tiny_recipe()["model"]["init_args"]["tokenizer"]).eval().save_pretrained(tmp_path / "other")
    out = shutil.copytree(reference, tmp_path / "corpus")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    argv = ["tokenize", "--data", str(images), "--out", str(out), "--shard-size", str(SHARD_SIZE)]
    assert main([*argv, "--tokenizer", str(other)]) == 2
    err = capsys.readouterr().err
    assert "omnitok: error:" in err and "another tokenizer" in err and "weights_sha256" in err
    assert main([*argv, "--tokenizer", str(tokenizer), "--size", "32"]) == 2
    assert "another protocol" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_readers_open_the_shards(reference, ray_address):
    import pyarrow.parquet as pq
    import ray
    from datasets import load_dataset

    files = [str(p) for p in shard_files(reference)]
    table = pq.read_table(files)
    assert (
        table.column("key").to_pylist() == IMAGES and str(table.schema.field("tokens").type) == "list<element: uint16>"
    )
    hf = load_dataset("parquet", data_files=files, split="train")
    assert hf["key"] == IMAGES and hf[0]["tokens"] == table.column("tokens")[0].as_py()
    ours = ray.data.read_parquet(files).take_all()
    assert sorted(r["key"] for r in ours) == IMAGES


def test_default_pool_sizing_leaves_a_cpu_for_ray_data_tasks():
    from omnitok.corpus.pipeline import size_pool

    assert size_pool(2, 0, None, 0) == (1, 1.0)  # one whole-CPU actor and one CPU for read tasks
    workers, per_worker = size_pool(2, 0, 2, 0)
    assert workers == 2 and workers * per_worker < 2
    assert size_pool(16, 8, None, 1) == (8, 1.0)


def _rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for path in shard_files(out) for row in pq.read_table(path).to_pylist()]


@pytest.fixture
def http_folder(images):
    """``images`` served over HTTP by a local server (directory listings, as fsspec's HTTP filesystem reads)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(images)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_fsspec_url_and_packed_shards_give_the_folders_tokens(reference, images, tokenizer, http_folder, tmp_path):
    """The same images read over HTTP (fsspec) and from packed shards (litdata) tokenize to the folder's rows."""
    from omnitok.cli.main import main
    from omnitok.trainers.packing import pack_media

    expected = {row["key"]: row for row in _rows(reference)}
    argv = ["tokenize", "--tokenizer", str(tokenizer), "--shard-size", str(SHARD_SIZE)]  # joins the session's Ray
    assert main([*argv, "--data", http_folder, "--out", str(tmp_path / "http")]) == 1  # 1: bad.png skipped
    manifest = json.loads((tmp_path / "http" / "manifest.json").read_text())
    assert [s["source"] for s in manifest["skipped"]] == [http_folder + "bad.png"]
    for row in _rows(tmp_path / "http"):
        assert row["source"] == http_folder + row["key"]
        assert row["tokens"] == expected[row["key"]]["tokens"] and row["text"] == expected[row["key"]]["text"]
    assert sorted(r["key"] for r in _rows(tmp_path / "http")) == sorted(IMAGES)

    pack_media(images, tmp_path / "packed", workers=1, log=lambda line: None)  # bad.png is left out of the pack
    assert main([*argv, "--data", str(tmp_path / "packed"), "--out", str(tmp_path / "from-pack")]) == 0
    rows = _rows(tmp_path / "from-pack")
    assert [r["key"] for r in rows] == [f"{i:09d}" for i in range(len(IMAGES))]  # positions in the pack
    for row in rows:
        key = row["source"].removeprefix(f"{tmp_path / 'packed'}/")
        assert row["tokens"] == expected[key]["tokens"] and row["text"] is None  # packs hold no captions
    assert sorted(r["source"] for r in rows) == sorted(f"{tmp_path / 'packed'}/{k}" for k in IMAGES)


def test_video_and_audio_corpora_hold_encodes_tokens_and_media_records(ray_address, tmp_path):
    """The tokenizer's modality decides how files are read: a video and an audio corpus against ``omnitok encode``'s
    token files (tokens, shape, levels, media record)."""
    import soundfile

    from omnitok.cli.main import main
    from omnitok.data import harmonic_chirp, write_moving_shapes
    from omnitok.tokens import read_token_file
    from tests.nn.audio_models import QUANTIZERS, tiny_codec
    from tests.nn.video_models import tiny_causal_video_tokenizer

    torch.manual_seed(0)
    video_tok = tiny_causal_video_tokenizer().eval().save_pretrained(tmp_path / "video-tok")
    audio_tok = tiny_codec(QUANTIZERS["rvq_dropout"]()).eval().save_pretrained(tmp_path / "audio-tok")
    write_moving_shapes(tmp_path / "videos", count=2, frames=5, size=32, fps=8)
    (tmp_path / "audio").mkdir()
    for i, seconds in enumerate((0.2, 0.3)):
        soundfile.write(
            str(tmp_path / "audio" / f"{i}.wav"), harmonic_chirp(seconds, 16_000, seed=i)[0].numpy(), 16_000
        )
    for media, tok in (("videos", video_tok), ("audio", audio_tok)):
        data, out, encoded = tmp_path / media, tmp_path / f"{media}-corpus", tmp_path / f"{media}-tokens"
        assert main(["tokenize", "--tokenizer", str(tok), "--data", str(data), "--out", str(out)]) == 0
        assert main(["encode", str(data), "--tokenizer", str(tok), "--out", str(encoded)]) == 0
        rows = _rows(out)
        assert len(rows) == 2
        for row in rows:
            file = read_token_file(encoded / f"{row['key']}.safetensors")
            assert row["shape"] == list(file.tokens.shape[1:]) and json.loads(row["media"]) == file.media
            assert row["levels"] == (file.tokens.shape[-1] if media == "audio" else 1)
            assert torch.equal(torch.tensor(row["tokens"]).reshape(file.tokens.shape), file.tokens.cpu())


@pytest.fixture(scope="module")
def omni_media(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny random-init omni tokenizer (image + audio, one codebook) saved with save_pretrained, and a folder of
    two 16x16 PNGs and one 160-sample wav (``tests/cli/test_omni_commands.py``'s media)."""
    from tests.cli.test_omni_commands import _media
    from tests.models.omni_models import tiny_omni

    root = tmp_path_factory.mktemp("omni")
    _media(root / "media")
    return tiny_omni(("image", "audio")).save_pretrained(root / "tokenizer"), root / "media"


def test_an_omni_folder_tokenizes_the_view_of_modality(omni_media, tmp_path, ray_address):
    """``--modality`` reaches the Ray workers: each corpus holds the chosen view's ids (the in-memory omni model's
    ``view(m).encode`` of the same inputs), lists only that modality's files and records that view's spec."""
    import soundfile
    from PIL import Image

    from omnitok.cli.main import main
    from omnitok.fingerprint import file_sha256
    from tests.models.omni_models import tiny_omni

    folder, media = omni_media
    omni = tiny_omni(("image", "audio"))
    for modality in ("image", "audio"):
        out = tmp_path / modality
        argv = ["tokenize", "--tokenizer", str(folder), "--modality", modality, "--data", str(media)]
        assert main([*argv, "--out", str(out), "--batch-size", "4"]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["tokenizer"]["spec"] == json.loads(omni.view(modality).spec.to_json())
        assert manifest["tokenizer"]["weights_sha256"] == file_sha256(folder / "model.safetensors")
        rows = _rows(out)
        assert [r["key"] for r in rows] == (["a.png", "b.png"] if modality == "image" else ["c.wav"])
        for row in rows:
            if modality == "image":
                pixels = np.asarray(Image.open(media / row["key"]), dtype=np.float32)
                x = torch.from_numpy(pixels).permute(2, 0, 1)[None] / 127.5 - 1  # [1, 3, 16, 16] in [-1, 1]
            else:
                wave, rate = soundfile.read(str(media / row["key"]), dtype="float32")
                x = torch.from_numpy(wave)[None, None]  # [1, 1, 160] at 16 kHz, the view's rate
                assert rate == omni.audio.spec.sample_rate
            expected = omni.view(modality).encode(x)
            assert row["grid"] == list(expected.shape[1:]) == ([4, 4] if modality == "image" else [20])
            assert torch.equal(torch.tensor(row["tokens"]).reshape(expected.shape), expected)


@pytest.mark.parametrize(
    "which, modality, message",
    [
        ("omni", None, "holds several modalities (image, audio); choose one with --modality"),
        ("omni", "video", "has no 'video' modality; it holds image, audio"),
        ("single", "audio", "tokenizes image, not audio"),
    ],
)
def test_a_missing_or_absent_modality_is_refused_before_ray_starts(
    omni_media, tokenizer, tmp_path, capsys, which, modality, message
):
    """The errors of ``encode``/``decode``/``eval`` (the same resolver), raised while planning: no Ray, no output."""
    from omnitok.cli.main import main

    folder, media = omni_media
    ref = folder if which == "omni" else tokenizer
    argv = ["tokenize", "--tokenizer", str(ref), "--data", str(media), "--out", str(tmp_path / "corpus")]
    assert main([*argv, *(["--modality", modality] if modality else [])]) == 2
    err = capsys.readouterr().err
    assert f"omnitok: error: {ref} {message}" in err and "Traceback" not in err
    assert not (tmp_path / "corpus").exists()


def test_a_single_modality_tokenizer_takes_its_own_modality(tokenizer, images, tmp_path):
    """``--modality image`` on an image tokenizer is a check that passes: planning reads the tokenizer as it is."""
    from omnitok.corpus.pipeline import PROTOCOL_KEYS, TokenizeJob, plan

    protocol = dict.fromkeys(PROTOCOL_KEYS)
    job = TokenizeJob(str(tokenizer), str(images), tmp_path / "corpus", protocol, modality="image")
    assert plan(job).identity == plan(TokenizeJob(str(tokenizer), str(images), tmp_path / "corpus", protocol)).identity
