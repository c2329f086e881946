"""One regression test per defect the bad-input campaign found (numbered as in the issue), each through the CLI.

Items 5 and 13 need a process that can crash or be killed, so they run ``omnitok`` as a subprocess; the rest run
in-process through ``main(argv)``."""

from __future__ import annotations

import errno
import hashlib
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
import soundfile
import torch
import yaml
from torchvision.io import decode_image, write_jpeg, write_png

from omnitok.cli.main import main
from omnitok.hub import load_tokenizer
from omnitok.protocol import TokenizerSpec, check_decodable, check_tokens
from omnitok.tokens import WEIGHTS_KEY, read_token_file, save_tokens
from tests.reliability.malformed import (
    bomb_png_header,
    corrupt_png,
    forged_token_file,
    snapshot,
    text_file,
)
from tests.trainers.recipes import tiny_recipe

REPO = Path(__file__).resolve().parents[2]
COUNT = 150  # images the killed encode is given: enough that the kill lands mid-run


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("omnitok: error:")]


def _eval(tokenizer: Path, data: Path, out: Path, extra: list[str] = ()) -> list[str]:
    """``omnitok eval`` at 32 px showing one sample (the smallest report)."""
    return [
        "eval",
        "--tokenizer",
        str(tokenizer),
        "--data",
        str(data),
        "--out",
        str(out),
        "--resolution",
        "32",
        "--show",
        "1",
        "--worst",
        "0",
        *extra,
    ]


def _cli_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


# ---------------------------------------------------------------------------------------------------- data loss
def test_1_eval_overwrite_never_deletes_the_data_or_a_run(image_tokenizer, trained_run, images, tmp_path, capsys):
    before = snapshot(images)
    code = main(_eval(image_tokenizer, images, out=images, extra=["--overwrite"]))
    assert code == 2 and str(images) in _error_lines(capsys.readouterr().err)[0]
    assert snapshot(images) == before
    run = shutil.copytree(trained_run, tmp_path / "run")
    kept = snapshot(run)
    code = main(_eval(image_tokenizer, images, out=run, extra=["--overwrite"]))
    assert code == 2 and "more than an omnitok report" in capsys.readouterr().err
    assert snapshot(run) == kept


def test_2_a_failed_resume_changes_nothing_and_the_run_still_resumes(trained_run, tmp_path, capsys):
    run = shutil.copytree(trained_run, tmp_path / "run")
    before = snapshot(run)
    code = main(
        [
            "train",
            "--resume",
            str(run),
            "--set",
            "model.tokenizer.quantizer.codebook_size=512",
            "--set",
            "trainer.max_steps=3",
        ]
    )
    assert code == 2 and "does not fit this recipe" in capsys.readouterr().err
    assert snapshot(run) == before  # config.yaml included
    assert main(["train", "--resume", str(run), "--set", "trainer.max_steps=3"]) == 0


def test_3_export_refuses_an_existing_folder_unless_overwrite_replaces_an_earlier_export(trained_run, tmp_path, capsys):
    out = tmp_path / "tokenizer"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["export", str(trained_run), "--out", str(out)]) == 2
    assert main(["export", str(trained_run), "--out", str(out), "--overwrite"]) == 2
    assert "more than a tokenizer folder" in capsys.readouterr().err and (out / "notes.txt").read_text() == "mine"
    fresh = tmp_path / "fresh"
    assert main(["export", str(trained_run), "--out", str(fresh)]) == 0
    assert main(["export", str(trained_run), "--out", str(fresh)]) == 2
    assert main(["export", str(trained_run), "--out", str(fresh), "--overwrite", "--weights", "live"]) == 0
    assert load_tokenizer(fresh).spec.codebook_sizes == (1024,)


def test_4_decode_refuses_a_batch_file_by_name_and_decodes_the_others(image_tokenizer, tmp_path, capsys):
    tokenizer = load_tokenizer(image_tokenizer)
    tokens = tokenizer.encode(torch.rand(2, 3, 32, 32) * 2 - 1)
    save_tokens(tmp_path / "in" / "batch.safetensors", tokens, tokenizer.spec)
    save_tokens(tmp_path / "in" / "single.safetensors", tokens[:1], tokenizer.spec)
    code = main(["decode", str(tmp_path / "in"), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "batch.safetensors" in err and "batch of 2" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["single.png"]


# ------------------------------------------------------------------------------------------ crashes, exhaustion
def test_5_a_corrupt_png_is_a_per_file_error_not_a_crash(image_tokenizer, images, tmp_path):
    corrupt_png(images / "corrupt.png")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "omnitok.cli.main",
            "encode",
            str(images),
            "--tokenizer",
            str(image_tokenizer),
            "--out",
            str(tmp_path / "tokens"),
        ],
        capture_output=True,
        text=True,
        env=_cli_env(),
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr  # -11 (SIGSEGV) before the fix
    assert "corrupt.png: cannot decode image" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "tokens").rglob("*.safetensors")) == [
        "a.png.safetensors",
        "b.png.safetensors",
    ]


def test_5_eval_skips_and_training_survives_a_corrupt_png(image_tokenizer, images, tmp_path, capsys):
    corrupt_png(images / "corrupt.png")
    code = main(_eval(image_tokenizer, images, out=tmp_path / "report", extra=["--skip-unreadable"]))
    assert code == 0 and "corrupt.png" in (tmp_path / "report" / "report.md").read_text()
    for name in ("c.png", "d.png", "e.png"):  # enough images for a batch of 4 beside the corrupt one
        write_png((torch.rand(3, 32, 32) * 255).to(torch.uint8), str(images / name))
    recipe = tiny_recipe(
        trainer__max_steps=2, data__root=str(images), data__val_fraction=0.0, trainer__heldout_samples=0
    )
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", "--config", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run")]) == 0
    assert "corrupt.png" in capsys.readouterr().out  # reported as skipped


def test_6_image_sizes_are_checked_before_decoding(image_tokenizer, tmp_path, capsys, monkeypatch):
    from omnitok.data import read_image

    (tmp_path / "in").mkdir()
    bomb = bomb_png_header(tmp_path / "in" / "bomb.png")
    assert bomb.stat().st_size < 1000
    code = main(["encode", str(bomb), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 1 and "bomb.png: needs 10,000,000,000 pixels" in err and "OMNITOK_MAX_IMAGE_PIXELS" in err
    # a real image above the (lowered) limit: a PNG is refused; a JPEG is read at a reduced scale that covers --size
    monkeypatch.setenv("OMNITOK_MAX_IMAGE_PIXELS", str(100 * 100))
    picture = torch.zeros(3, 256, 256, dtype=torch.uint8)
    picture[0] = torch.linspace(0, 255, 256).to(torch.uint8)  # a smooth ramp, so scales agree closely
    write_png(picture, str(tmp_path / "big.png"))
    write_jpeg(picture, str(tmp_path / "big.jpg"), quality=95)
    with pytest.raises(Exception, match="above the limit of 10,000"):
        read_image(tmp_path / "big.png", target_side=32)
    small = read_image(tmp_path / "big.jpg", target_side=32)
    assert small.shape == (3, 32, 32)  # 1/8 scale, decoded by libjpeg itself
    full = decode_image(str(tmp_path / "big.jpg"))[:, 4::8, 4::8]
    assert (small.float() - full.float()).abs().mean() < 3


def test_6_token_grids_and_codebooks_are_checked_before_allocating(image_tokenizer, tmp_path, capsys, monkeypatch):
    spec16 = TokenizerSpec("image", True, (16384,), downsample=(16, 16))
    huge = torch.zeros(1, 1024, 1024, dtype=torch.int16)  # 2 MB of tokens -> 16384^2 x 3 values decoded
    with pytest.raises(Exception, match="above the limit"):
        check_decodable(huge, spec16)
    check_tokens(huge, spec16)  # the tokens themselves are valid: only decoding them is refused
    tokenizer = load_tokenizer(image_tokenizer)
    save_tokens(tmp_path / "in" / "wide.safetensors", torch.zeros(1, 64, 64, dtype=torch.long), tokenizer.spec)
    monkeypatch.setenv("OMNITOK_MAX_DECODED_VALUES", "10000")
    code = main(["decode", str(tmp_path / "in"), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "o")])
    assert code == 1 and "OMNITOK_MAX_DECODED_VALUES" in capsys.readouterr().err and not (tmp_path / "o").exists()
    monkeypatch.delenv("OMNITOK_MAX_DECODED_VALUES")
    started = time.perf_counter()
    assert (
        main(
            [
                "train",
                "--config",
                str(REPO / "configs/image/quickstart_vq.yaml"),
                "--out",
                str(tmp_path / "r"),
                "--set",
                "model.tokenizer.quantizer.codebook_size=1000000000000",
            ]
        )
        == 2
    )
    assert "OMNITOK_MAX_CODEBOOK_SIZE" in capsys.readouterr().err and time.perf_counter() - started < 30


# --------------------------------------------------------------------------------- wrong acceptance and refusal
def test_8_an_unreadable_subfolder_is_an_error_naming_it(image_tokenizer, images, tmp_path, capsys, monkeypatch):
    real_scandir = os.scandir
    blocked = images / "sub"

    def scandir(path=".", *args):
        if Path(path) == blocked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", scandir)  # as root, chmod cannot make a folder unreadable
    code = main(["encode", str(images), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot list folder {blocked}: Permission denied" in err
    assert not (tmp_path / "t").exists()


def test_9_narrow_integer_tokens_with_valid_values_decode(image_tokenizer, tmp_path):
    tokenizer = load_tokenizer(image_tokenizer)
    tokens = torch.full((1, 8, 8), 207, dtype=torch.long)
    tokens[0, 0, 0] = 1023
    for dtype in (torch.uint8, torch.int16, torch.int32):
        narrow = tokens.clamp(max=torch.iinfo(dtype).max).to(dtype)
        check_tokens(narrow, tokenizer.spec)  # "index 207 is outside the codebook" before the fix
        forged_token_file(tmp_path / "in" / f"{dtype}.safetensors", narrow, tokenizer.spec)
    assert (
        main(["decode", str(tmp_path / "in"), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "o")]) == 0
    )
    expected = ((tokenizer.decode(tokens.clamp(max=255)) + 1) / 2).clamp(0, 1)[0]
    decoded = decode_image(str(tmp_path / "o" / "torch.uint8.png")).float() / 255
    assert (decoded - expected).abs().max() <= 1 / 255 + 1e-6


def test_9_continuous_latents_decode_as_floats(tmp_path):
    """Widening narrow integer indices must leave a continuous tokenizer's float latents alone."""
    from omnitok.config import instantiate
    from tests.trainers.recipes import tiny_recipe

    torch.manual_seed(0)
    folder = (
        instantiate(tiny_recipe("quickstart_kl")["model"]["init_args"]["tokenizer"])
        .eval()
        .save_pretrained(tmp_path / "kl")
    )
    tokenizer = load_tokenizer(folder)
    latents = tokenizer.encode(torch.rand(1, 3, 32, 32) * 2 - 1)
    save_tokens(tmp_path / "in" / "x.png.safetensors", latents, tokenizer.spec)
    assert main(["decode", str(tmp_path / "in"), "--tokenizer", str(folder), "--out", str(tmp_path / "o")]) == 0
    expected = ((tokenizer.decode(latents) + 1) / 2).clamp(0, 1)[0]
    decoded = decode_image(str(tmp_path / "o" / "x.png")).float() / 255
    assert (decoded - expected).abs().max() <= 1 / 255 + 1e-6


def test_10_forged_media_records_are_refused_by_file(video_tokenizer, audio_tokenizer, tmp_path, capsys):
    video = load_tokenizer(video_tokenizer)
    tokens = video.encode(torch.zeros(1, 3, 5, 16, 16))
    for name, media in {"negative": {"frames": -3}, "too_many": {"frames": 999}, "nan_fps": '{"fps": NaN}'}.items():
        forged_token_file(tmp_path / "video" / f"{name}.mp4.safetensors", tokens, video.spec, media)
    code = main(["decode", str(tmp_path / "video"), "--tokenizer", str(video_tokenizer), "--out", str(tmp_path / "v")])
    out = capsys.readouterr().out
    assert code == 1 and "3 file(s) failed" in out and not (tmp_path / "v").exists()
    assert "negative.mp4.safetensors: media record field 'frames' must be a positive integer, got -3" in out
    assert "frames=999, more than the 5" in out
    audio = load_tokenizer(audio_tokenizer)
    tokens = audio.encode(torch.zeros(1, 1, 800))
    forged_token_file(tmp_path / "audio" / "bad.wav.safetensors", tokens, audio.spec, {"samples": "many"})
    save_tokens(tmp_path / "audio" / "good.wav.safetensors", tokens, audio.spec, {"samples": 800})
    code = main(["decode", str(tmp_path / "audio"), "--tokenizer", str(audio_tokenizer), "--out", str(tmp_path / "a")])
    assert code == 1 and "bad.wav.safetensors: media record field 'samples'" in capsys.readouterr().err
    assert soundfile.info(str(tmp_path / "a" / "good.wav")).frames == 800  # the rest of the batch is decoded


def test_11_token_files_carry_the_weights_fingerprint_checked_on_decode(
    image_tokenizer, other_image_tokenizer, images, tmp_path, capsys
):
    assert main(["encode", str(images), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "t")]) == 0
    digest = hashlib.sha256((image_tokenizer / "model.safetensors").read_bytes()).hexdigest()
    assert read_token_file(tmp_path / "t" / "a.png.safetensors").weights_sha256 == digest
    assert load_tokenizer(image_tokenizer).to(torch.float64).weights_sha256 == digest  # survives dtype changes
    args = ["decode", str(tmp_path / "t"), "--tokenizer", str(other_image_tokenizer)]
    assert main([*args, "--out", str(tmp_path / "o1")]) == 1
    assert "--allow-other-weights" in capsys.readouterr().err and not (tmp_path / "o1").exists()
    assert main([*args, "--out", str(tmp_path / "o2"), "--allow-other-weights"]) == 0
    assert (
        main(["decode", str(tmp_path / "t"), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "o3")]) == 0
    )
    report = tmp_path / "report"
    assert main(_eval(image_tokenizer, images, out=report)) == 0  # reports name the weights they measured
    assert json.loads((report / "metrics.json").read_text())["tokenizers"][0]["weights_sha256"] == digest


# ---------------------------------------------------------------------------------------- clean errors everywhere
def test_12_malformed_token_files_fail_one_by_one_and_the_rest_decode(image_tokenizer, tmp_path, capsys):
    tokenizer = load_tokenizer(image_tokenizer)
    tokens = torch.zeros(1, 8, 8, dtype=torch.long)
    spec = tokenizer.spec.to_dict()
    bad = {
        "json": "{not json",
        "types": json.dumps({**spec, "downsample": "four"}),
        "missing": json.dumps({k: v for k, v in spec.items() if k != "modality"}),
        "negative": json.dumps({**spec, "codebook_sizes": [-5]}),
    }
    for name, text in bad.items():
        forged_token_file(tmp_path / "in" / f"{name}.safetensors", tokens, text)
    forged_token_file(tmp_path / "in" / "empty.safetensors", torch.zeros(1, 0, 8, dtype=torch.long), tokenizer.spec)
    save_tokens(tmp_path / "in" / "good.safetensors", tokens, tokenizer.spec)
    code = main(["decode", str(tmp_path / "in"), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 1 and "5 file(s) failed" in captured.out and "Traceback" not in captured.err
    for name in (*bad, "empty"):
        assert f"{name}.safetensors" in captured.out
    assert "are empty" in captured.out and "not valid JSON" in captured.out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["good.png"]


def test_12_unwritable_outputs_stop_with_one_clear_error(image_tokenizer, images, tmp_path, capsys, monkeypatch):
    code = main(["encode", str(images), "--tokenizer", str(image_tokenizer), "--out", "/proc/omnitok-out"])
    assert code == 2 and "cannot write /proc/omnitok-out" in capsys.readouterr().err

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("safetensors.torch.save_file", full_disk)
    code = main(["encode", str(images), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "t")])
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert not [p for p in (tmp_path / "t").rglob("*") if p.is_file()]  # no temporary file left behind


def test_12_bad_numbers_and_non_audio_files_get_clear_messages(audio_tokenizer, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    text_file(tmp_path / "in" / "notes.mp3")
    for value in ("nan", "0", "inf", "-1"):
        with pytest.raises(SystemExit) as stop:
            main(
                [
                    "encode",
                    str(tmp_path / "in"),
                    "--tokenizer",
                    str(audio_tokenizer),
                    "--out",
                    str(tmp_path / "t"),
                    "--chunk-seconds",
                    value,
                ]
            )
        assert stop.value.code == 2
        assert "omnitok: error: encode: argument --chunk-seconds" in capsys.readouterr().err
    code = main(["encode", str(tmp_path / "in"), "--tokenizer", str(audio_tokenizer), "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 1 and "notes.mp3: unreadable audio (not a recognised audio format)" in err and "pipe" not in err


def test_12_13_a_killed_encode_resumes_and_leaves_no_temporary_files(image_tokenizer, tmp_path):
    root = tmp_path / "many"
    for i in range(COUNT):
        (root / f"{i:03d}").mkdir(parents=True)
        write_png((torch.rand(3, 32, 32) * 255).to(torch.uint8), str(root / f"{i:03d}" / "x.png"))
    out = tmp_path / "tokens"
    command = [
        sys.executable,
        "-m",
        "omnitok.cli.main",
        "encode",
        str(root),
        "--tokenizer",
        str(image_tokenizer),
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, env=_cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.rglob("*.safetensors")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = list(out.rglob("*.safetensors"))
    assert 0 < len(written) < COUNT, "the encode finished before it could be killed"
    (out / "000" / ".x.png.safetensors.abcd1234.tmp").write_bytes(b"half")  # what a kill mid-write leaves
    result = subprocess.run(
        [*command, "--resume"], env=_cli_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"({len(written)} already there, kept)" in result.stdout
    assert not [p for p in out.rglob(".*")]  # no hidden temporary file left
    tokenizer = load_tokenizer(image_tokenizer)
    for i in (0, COUNT - 1):
        x = decode_image(str(root / f"{i:03d}" / "x.png")).float().unsqueeze(0) / 127.5 - 1
        assert torch.equal(read_token_file(out / f"{i:03d}" / "x.png.safetensors").tokens, tokenizer.encode(x))


def test_13_resume_refuses_token_files_of_another_tokenizer(
    image_tokenizer, other_image_tokenizer, images, tmp_path, capsys
):
    assert main(["encode", str(images), "--tokenizer", str(other_image_tokenizer), "--out", str(tmp_path / "t")]) == 0
    code = main(["encode", str(images), "--tokenizer", str(image_tokenizer), "--out", str(tmp_path / "t"), "--resume"])
    assert code == 2 and "written by another tokenizer" in capsys.readouterr().err


def test_audio_write_uses_the_weights_key(audio_tokenizer, tmp_path):
    """Audio and video token files carry the fingerprint too (one writer for all modalities)."""
    soundfile.write(str(tmp_path / "a.wav"), np.zeros(1600, dtype=np.float32), 16_000)
    assert (
        main(["encode", str(tmp_path / "a.wav"), "--tokenizer", str(audio_tokenizer), "--out", str(tmp_path / "t")])
        == 0
    )
    from safetensors import safe_open

    with safe_open(str(tmp_path / "t" / "a.wav.safetensors"), "pt") as f:
        assert (
            f.metadata()[WEIGHTS_KEY]
            == hashlib.sha256((audio_tokenizer / "model.safetensors").read_bytes()).hexdigest()
        )


# ------------------------------------------------------------------------- found while reviewing the fixes above
def test_the_decode_limit_is_per_sample_and_long_audio_streams_past_the_read_limit(
    audio_tokenizer, tmp_path, monkeypatch
):
    spec = TokenizerSpec("image", True, (64,), downsample=(4, 4))
    monkeypatch.setenv("OMNITOK_MAX_DECODED_VALUES", str(3 * 32 * 32))
    check_decodable(torch.zeros(8, 8, 8, dtype=torch.long), spec)  # 8 samples of 3 x 32 x 32: each within
    (tmp_path / "in").mkdir()
    soundfile.write(str(tmp_path / "in" / "long.wav"), np.zeros(8000, dtype=np.float32) + 0.1, 16_000)
    soundfile.write(str(tmp_path / "in" / "short.wav"), np.zeros(800, dtype=np.float32) + 0.1, 16_000)
    monkeypatch.setenv("OMNITOK_MAX_DECODED_VALUES", "4000")  # long.wav is above it, short.wav below
    args = ["encode", str(tmp_path / "in"), "--tokenizer", str(audio_tokenizer)]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 1  # read whole: refused, the other file still written
    assert (tmp_path / "whole" / "short.wav.safetensors").is_file()
    assert main([*args, "--out", str(tmp_path / "chunked"), "--chunk-seconds", "0.1"]) == 0  # streamed: both
    assert read_token_file(tmp_path / "chunked" / "long.wav.safetensors").media["samples"] == 8000


def test_files_saved_always_read_back_and_resume_keeps_files_without_a_fingerprint(image_tokenizer, images, tmp_path):
    tokenizer = load_tokenizer(image_tokenizer)
    tokens = torch.zeros(1, 8, 8, dtype=torch.long)
    with pytest.raises(Exception, match="height=999, more than the 32"):
        save_tokens(tmp_path / "x.safetensors", tokens, tokenizer.spec, media={"height": 999})
    assert not (tmp_path / "x.safetensors").exists()
    out = tmp_path / "t"
    assert main(["encode", str(images), "--tokenizer", str(image_tokenizer), "--out", str(out)]) == 0
    old = read_token_file(out / "a.png.safetensors")
    save_tokens(out / "a.png.safetensors", old.tokens, old.spec)  # as written before fingerprints existed
    assert main(["encode", str(images), "--tokenizer", str(image_tokenizer), "--out", str(out), "--resume"]) == 0


def test_trainer_settings_and_subclasses_that_were_wrongly_refused():
    from omnitok.trainers.run import RunSettings
    from omnitok.trainers.system import TokenizerTrainer

    assert RunSettings.from_config({"precision": 32}).precision == 32  # YAML's `precision: 32`

    class WeightedTrainer(TokenizerTrainer):
        def __init__(self, tokenizer, extra_weight: float = 0.5, **kwargs):
            super().__init__(tokenizer, **kwargs)
            self.extra_weight = extra_weight

    config = tiny_recipe()["model"]["init_args"]["tokenizer"]
    assert WeightedTrainer(config, extra_weight=2.0).extra_weight == 2.0
