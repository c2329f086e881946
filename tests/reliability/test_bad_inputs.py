"""The bad-input suite: every registered ``omnitok`` subcommand against generated malformed media, token files,
configs, checkpoints and arguments, run in-process through ``main(argv)``.

Each case checks what a user relies on when an input is bad: the exit status (2: the command refused; 1: some
files failed and the others were processed), an ``omnitok: error:`` line naming the file or key, no traceback, no
partial output (the output folder is absent or unchanged, no temporary file left), and inputs left byte for byte
as they were. A subcommand added later without cases here fails :func:`test_every_command_has_bad_input_cases`,
and every subcommand gets the generic argument cases automatically."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from torchvision.io import write_jpeg

from omnitok.cli.main import build_parser, main
from omnitok.hub import load_tokenizer
from omnitok.tokens import save_tokens
from tests.reliability.malformed import (
    bomb_png_header,
    corrupt_png,
    forged_token_file,
    snapshot,
    text_file,
    truncated,
)
from tests.trainers.recipes import tiny_recipe

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Env:
    """Where a case makes its inputs (``inputs/``) and points its outputs (``out``), and the shared tokenizers."""

    root: Path
    image_tokenizer: Path
    other_image_tokenizer: Path
    audio_tokenizer: Path
    video_tokenizer: Path
    trained_run: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def file(self, name: str) -> Path:
        path = self.inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def recipe(self, **overrides) -> Path:
        path = self.file("recipe.yaml")
        path.write_text(yaml.safe_dump(tiny_recipe(**overrides)))
        return path

    def tokenizer_copy(self) -> Path:
        return shutil.copytree(self.image_tokenizer, self.inputs / "tokenizer")


@dataclasses.dataclass
class Case:
    """``make(env)`` creates the bad input and returns (argv, text the error must contain)."""

    command: str
    name: str
    make: Callable[[Env], tuple[list[str], str]]
    code: int = 2

    @property
    def id(self) -> str:
        return f"{self.command}:{self.name}"


def _png(env: Env, name: str = "good.png") -> Path:
    from torchvision.io import write_png

    path = env.file(name)
    write_png((torch.rand(3, 32, 32) * 255).to(torch.uint8), str(path))
    return path


def _jpeg(env: Env, name: str) -> Path:
    path = env.file(name)
    write_jpeg((torch.rand(3, 32, 32) * 255).to(torch.uint8), str(path))
    return path


def _image_tokens(env: Env, name: str = "good.png.safetensors") -> Path:
    tokenizer = load_tokenizer(env.image_tokenizer)
    return save_tokens(env.file(name), torch.zeros(1, 8, 8, dtype=torch.long), tokenizer.spec)


def _encode(env: Env, tokenizer: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["encode", *map(str, inputs), "--tokenizer", str(tokenizer), "--out", str(env.out), *extra]


def _decode(env: Env, tokenizer: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return ["decode", *map(str, inputs), "--tokenizer", str(tokenizer), "--out", str(env.out), *extra]


def _eval(env: Env, data: Path | str, *extra: str, tokenizer: Path | None = None) -> list[str]:
    return [
        "eval",
        "--tokenizer",
        str(tokenizer or env.image_tokenizer),
        "--data",
        str(data),
        "--out",
        str(env.out),
        "--resolution",
        "32",
        *extra,
    ]


def _forged_config(env: Env, model: dict) -> Path:
    folder = env.tokenizer_copy()
    (folder / "config.json").write_text(json.dumps({"omnitok_version": "0.1.0", "model": model}))
    return folder


def _case_encode() -> list[Case]:
    def corrupt(env):
        return _encode(env, env.image_tokenizer, corrupt_png(env.file("corrupt.png"))), "corrupt.png: cannot decode"

    def bomb(env):
        return _encode(
            env, env.image_tokenizer, bomb_png_header(env.file("bomb.png"))
        ), "bomb.png: needs 10,000,000,000 pixels"

    def truncated_jpeg(env):
        path = truncated(env.file("cut.jpg"), _jpeg(env, "whole/source.jpg"), keep=0.4)
        return _encode(env, env.image_tokenizer, path), "cut.jpg"

    def empty_png(env):
        env.file("empty.png").write_bytes(b"")
        return _encode(env, env.image_tokenizer, env.file("empty.png")), "empty.png: empty file"

    def text_png(env):
        return _encode(env, env.image_tokenizer, text_file(env.file("notes.png"))), "notes.png: cannot decode image"

    def text_mp3(env):
        return _encode(env, env.audio_tokenizer, text_file(env.file("notes.mp3"))), "notes.mp3: unreadable audio"

    def nan_wav(env):
        path = env.file("nan.wav")
        soundfile.write(str(path), np.full(800, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
        return _encode(env, env.audio_tokenizer, path), "nan.wav: audio holds NaN"

    def text_mp4(env):
        return _encode(env, env.video_tokenizer, text_file(env.file("clip.mp4"))), "clip.mp4"

    def missing_input(env):
        return _encode(env, env.image_tokenizer, env.inputs / "absent"), "absent"

    def missing_tokenizer(env):
        return _encode(env, env.inputs / "no-tokenizer", _png(env)), "no-tokenizer"

    def broken_config_json(env):
        folder = env.tokenizer_copy()
        (folder / "config.json").write_text("{ not json")
        return _encode(env, folder, _png(env)), "config.json"

    def truncated_weights(env):
        folder = env.tokenizer_copy()
        truncated(folder / "model.safetensors", folder / "model.safetensors", keep=0.3)
        return _encode(env, folder, _png(env)), "model.safetensors"

    def config_names_os_system(env):
        folder = _forged_config(env, {"class_path": "os.system", "init_args": {"command": "echo owned"}})
        return _encode(env, folder, _png(env)), "trust"

    def output_is_a_file(env):
        text_file(env.out)
        return _encode(env, env.image_tokenizer, _png(env)), str(env.out)

    def size_zero(env):
        return _encode(env, env.image_tokenizer, _png(env), extra=("--size", "0")), "--size"

    def chunk_seconds_nan(env):
        return _encode(env, env.audio_tokenizer, env.inputs, extra=("--chunk-seconds", "nan")), "--chunk-seconds"

    def batch_size_zero(env):
        return _encode(env, env.image_tokenizer, _png(env), extra=("--batch-size", "0")), "--batch-size"

    def corrupt_in_a_batch(env):
        path = corrupt_png(env.file("corrupt.png"))
        return _encode(env, env.image_tokenizer, path, extra=("--batch-size", "4")), "corrupt.png: cannot decode"

    per_file = [corrupt, bomb, truncated_jpeg, empty_png, text_png, text_mp3, nan_wav, text_mp4, corrupt_in_a_batch]
    refused = [
        missing_input,
        missing_tokenizer,
        broken_config_json,
        truncated_weights,
        config_names_os_system,
        output_is_a_file,
        size_zero,
        chunk_seconds_nan,
        batch_size_zero,
    ]
    return [Case("encode", f.__name__, f, code=1) for f in per_file] + [Case("encode", f.__name__, f) for f in refused]


def _case_decode() -> list[Case]:
    def bad_spec_json(env):
        path = forged_token_file(env.file("spec.png.safetensors"), torch.zeros(1, 8, 8, dtype=torch.long), "{nope")
        return _decode(env, env.image_tokenizer, path), "spec.png.safetensors"

    def out_of_range(env):
        tokens = torch.full((1, 8, 8), 5000, dtype=torch.long)
        spec = load_tokenizer(env.image_tokenizer).spec
        path = forged_token_file(env.file("range.png.safetensors"), tokens, spec)
        return _decode(env, env.image_tokenizer, path), "range.png.safetensors"

    def truncated_tokens(env):
        path = truncated(env.file("cut.png.safetensors"), _image_tokens(env, "whole/src.safetensors"), keep=0.6)
        return _decode(env, env.image_tokenizer, path), "cut.png.safetensors"

    def not_safetensors(env):
        return _decode(env, env.image_tokenizer, text_file(env.file("text.png.safetensors"))), "text.png.safetensors"

    def forged_frames(env):
        video = load_tokenizer(env.video_tokenizer)
        tokens = video.encode(torch.zeros(1, 3, 5, 16, 16))
        path = forged_token_file(env.file("c.mp4.safetensors"), tokens, video.spec, {"frames": -3})
        return _decode(env, env.video_tokenizer, path), "c.mp4.safetensors: media record field 'frames'"

    def other_weights(env):
        tokenizer = load_tokenizer(env.other_image_tokenizer)
        path = env.file("w.png.safetensors")
        save_tokens(path, torch.zeros(1, 8, 8, dtype=torch.long), tokenizer.spec, weights_sha256="0" * 64)
        return _decode(env, env.image_tokenizer, path), "w.png.safetensors was written by weights"

    def no_token_files(env):
        env.inputs.mkdir(parents=True)
        return _decode(env, env.image_tokenizer, env.inputs), "no token files"

    def batch_size_zero(env):
        return _decode(env, env.image_tokenizer, _image_tokens(env), extra=("--batch-size", "0")), "--batch-size"

    def out_of_range_in_a_batch(env):
        spec = load_tokenizer(env.image_tokenizer).spec
        path = forged_token_file(env.file("range.png.safetensors"), torch.full((1, 8, 8), 5000), spec)
        return _decode(env, env.image_tokenizer, path, extra=("--batch-size", "3")), "range.png.safetensors"

    def audio_tokens_for_an_image_tokenizer(env):
        audio = load_tokenizer(env.audio_tokenizer)
        path = save_tokens(env.file("a.wav.safetensors"), audio.encode(torch.zeros(1, 1, 800)), audio.spec)
        return _decode(env, env.image_tokenizer, path), "a.wav.safetensors was written by a different tokenizer"

    per_file = [
        bad_spec_json,
        out_of_range,
        truncated_tokens,
        not_safetensors,
        forged_frames,
        other_weights,
        audio_tokens_for_an_image_tokenizer,
        out_of_range_in_a_batch,
    ]
    return [Case("decode", f.__name__, f, code=1) for f in per_file] + [
        Case("decode", f.__name__, f) for f in (no_token_files, batch_size_zero)
    ]


def _case_eval() -> list[Case]:
    def only_corrupt_images(env):
        corrupt_png(env.file("data/corrupt.png"))
        return _eval(env, env.inputs / "data"), "corrupt.png"

    def missing_data(env):
        return _eval(env, env.inputs / "nowhere"), "nowhere"

    def out_is_the_data(env):
        _png(env, "data/a.png")
        return [
            "eval",
            "--tokenizer",
            str(env.image_tokenizer),
            "--data",
            str(env.inputs / "data"),
            "--out",
            str(env.inputs / "data"),
            "--overwrite",
            "--resolution",
            "32",
        ], "holds the input"

    def resolution_zero(env):
        return _eval(env, "builtin", "--resolution", "0"), "--resolution"

    def seconds_nan(env):
        return _eval(env, "generated", "--seconds", "nan", tokenizer=env.audio_tokenizer), "--seconds"

    def missing_tokenizer(env):
        _png(env, "data/a.png")
        return _eval(env, env.inputs / "data", tokenizer=env.inputs / "gone"), "gone"

    def batch_size_zero(env):
        return _eval(env, "builtin", "--batch-size", "0"), "--batch-size"

    cases = (only_corrupt_images, missing_data, out_is_the_data, resolution_zero, seconds_nan, missing_tokenizer)
    return [Case("eval", f.__name__, f) for f in (*cases, batch_size_zero)]


def _train(env: Env, recipe: Path, *extra: str) -> list[str]:
    return ["train", "--config", str(recipe), "--out", str(env.out), *extra]


def _case_train() -> list[Case]:
    def missing_config(env):
        return _train(env, env.inputs / "absent.yaml"), "absent.yaml"

    def invalid_yaml(env):
        return _train(env, text_file(env.file("bad.yaml"), "model: [unclosed")), "bad.yaml"

    def unknown_top_level_key(env):
        path = env.file("extra.yaml")
        path.write_text(yaml.safe_dump({**tiny_recipe(), "trainr": {}}))
        return _train(env, path), "trainr"

    def negative_codebook(env):
        return _train(env, env.recipe(), "--set", "model.tokenizer.quantizer.codebook_size=-5"), "codebook_size"

    def huge_codebook(env):
        argv = _train(env, env.recipe(), "--set", "model.tokenizer.quantizer.codebook_size=1000000000000")
        return argv, "OMNITOK_MAX_CODEBOOK_SIZE"

    def resume_text_file(env):
        return ["train", "--resume", str(text_file(env.file("last.ckpt")))], "last.ckpt"

    def resume_truncated_checkpoint(env):
        source = env.trained_run / "checkpoints" / "last.ckpt"
        return ["train", "--resume", str(truncated(env.file("cut.ckpt"), source))], "cut.ckpt"

    def set_without_equals(env):
        return _train(env, env.recipe(), "--set", "trainer.max_steps"), "KEY=VALUE"

    return [
        Case("train", f.__name__, f)
        for f in (
            missing_config,
            invalid_yaml,
            unknown_top_level_key,
            negative_codebook,
            huge_codebook,
            resume_text_file,
            resume_truncated_checkpoint,
            set_without_equals,
        )
    ]


def _case_export() -> list[Case]:
    def missing_checkpoint(env):
        return ["export", str(env.inputs / "none.ckpt"), "--out", str(env.out)], "none.ckpt"

    def text_checkpoint(env):
        return ["export", str(text_file(env.file("a.ckpt"))), "--out", str(env.out)], "a.ckpt"

    def folder_in_use(env):
        env.out.mkdir(parents=True)
        text_file(env.out / "keep.txt")
        return ["export", str(env.trained_run), "--out", str(env.out), "--overwrite"], "keep.txt"

    return [Case("export", f.__name__, f) for f in (missing_checkpoint, text_checkpoint, folder_in_use)]


def _case_inspect() -> list[Case]:
    def missing(env):
        return ["inspect", str(env.inputs / "none")], "none"

    def os_system(env):
        return ["inspect", str(_forged_config(env, {"class_path": "os.system"}))], "trust"

    def negative_codebook_in_config(env):
        model = {"class_path": "omnitok.quantizers.VectorQuantizer", "init_args": {"dim": 4, "codebook_size": -1}}
        return ["inspect", str(_forged_config(env, model))], "codebook_size"

    return [Case("inspect", f.__name__, f) for f in (missing, os_system, negative_codebook_in_config)]


def _case_data() -> list[Case]:
    def missing_source(env):
        return ["data", "pack", str(env.inputs / "none"), str(env.out)], "none"

    def no_media(env):
        text_file(env.file("notes/a.txt"))
        return ["data", "pack", str(env.inputs / "notes"), str(env.out)], "no media files"

    def only_corrupt_images(env):
        corrupt_png(env.file("photos/a.png"))
        return ["data", "pack", str(env.inputs / "photos"), str(env.out), "--workers", "1"], "a.png"

    def output_in_use(env):
        _png(env, "photos/a.png")
        env.out.mkdir(parents=True)
        text_file(env.out / "keep.txt")
        return ["data", "pack", str(env.inputs / "photos"), str(env.out)], "not empty"

    def bad_chunk_size(env):
        _png(env, "photos/a.png")
        return ["data", "pack", str(env.inputs / "photos"), str(env.out), "--chunk-bytes", "lots"], "--chunk-bytes"

    cases = (missing_source, no_media, only_corrupt_images, output_in_use, bad_chunk_size)
    return [Case("data", f.__name__, f) for f in cases]


def _case_tokenize() -> list[Case]:
    """Refusals that come before Ray starts (the skipped-file and all-fail paths run on Ray in tests/corpus)."""

    def _tokenize(env, data, *extra, tokenizer=None):
        return ["tokenize", "--tokenizer", str(tokenizer or env.image_tokenizer), "--data", str(data), "--out", str(env.out), *extra]

    def missing_data(env):
        return _tokenize(env, env.inputs / "nowhere"), "nowhere"

    def no_images(env):
        text_file(env.file("notes/a.txt"))
        return _tokenize(env, env.inputs / "notes"), "no image files"

    def missing_tokenizer(env):
        _png(env, "photos/a.png")
        return _tokenize(env, env.inputs / "photos", tokenizer=env.inputs / "gone"), "gone"

    def output_is_a_file(env):
        _png(env, "photos/a.png")
        text_file(env.out)
        return _tokenize(env, env.inputs / "photos"), str(env.out)

    def output_in_use(env):
        _png(env, "photos/a.png")
        env.out.mkdir(parents=True)
        text_file(env.out / "keep.txt")
        return _tokenize(env, env.inputs / "photos"), "not empty"

    def workers_zero(env):
        _png(env, "photos/a.png")
        return _tokenize(env, env.inputs / "photos", "--workers", "0"), "--workers"

    cases = (missing_data, no_images, missing_tokenizer, output_is_a_file, output_in_use, workers_zero)
    return [Case("tokenize", f.__name__, f) for f in cases]


def _metrics_doc(env: Env, name: str, seed: int = 0) -> Path:
    """A minimal metrics.json of an image evaluation (what ``omnitok compare`` reads)."""
    protocol = {"modality": "image", "data": "builtin", "fingerprint": "0" * 64, "num_samples": 1, "seed": seed}
    doc = {"schema": "omnitok.eval/3", "modality": "image", "protocol": protocol, "metrics": {}, "samples": ["a"]}
    path = env.file(name)
    path.write_text(json.dumps(dict(doc, tokenizers=[], baselines=[])))
    return path


def _case_compare() -> list[Case]:
    def missing_report(env):
        a = _metrics_doc(env, "a.json")
        return ["compare", str(a), str(env.inputs / "gone.json"), "--out", str(env.out)], "gone.json"

    def not_json(env):
        a, b = _metrics_doc(env, "a.json"), text_file(env.file("b.json"))
        return ["compare", str(a), str(b), "--out", str(env.out)], "b.json"

    def other_protocol(env):
        a, b = _metrics_doc(env, "a.json"), _metrics_doc(env, "b.json", seed=1)
        return ["compare", str(a), str(b), "--out", str(env.out)], "protocol.seed"

    return [Case("compare", f.__name__, f) for f in (missing_report, not_json, other_protocol)]


def _case_push() -> list[Case]:
    def missing_folder(env):
        return ["push", str(env.inputs / "gone"), "me/tokenizer"], "gone"

    def folder_without_weights(env):
        text_file(env.file("half/config.json"))
        return ["push", str(env.inputs / "half"), "me/tokenizer"], "model.safetensors"

    return [Case("push", f.__name__, f) for f in (missing_folder, folder_without_weights)]


def _case_calibrate() -> list[Case]:
    def discrete_tokenizer(env):
        return ["calibrate", str(env.tokenizer_copy()), "--data", "builtin", "--size", "32"], "discrete"

    def missing_folder(env):
        return ["calibrate", str(env.inputs / "gone"), "--data", "builtin"], "gone"

    return [Case("calibrate", f.__name__, f) for f in (discrete_tokenizer, missing_folder)]


CASES = [
    *_case_compare(),
    *_case_push(),
    *_case_calibrate(),
    *_case_tokenize(),
    *_case_data(),
    *_case_encode(),
    *_case_decode(),
    *_case_eval(),
    *_case_train(),
    *_case_export(),
    *_case_inspect(),
]


def registered_commands() -> list[str]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    return sorted(commands.choices)


@pytest.fixture
def env(tmp_path, image_tokenizer, other_image_tokenizer, audio_tokenizer, video_tokenizer, trained_run) -> Env:
    return Env(tmp_path, image_tokenizer, other_image_tokenizer, audio_tokenizer, video_tokenizer, trained_run)


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's refusals
        return int(stop.code)


def _check(case: Case, env: Env, capsys) -> None:
    argv, named = case.make(env)
    inputs_before = snapshot(env.inputs) if env.inputs.exists() else {}
    shared_before = snapshot(env.trained_run, env.image_tokenizer)
    out_before = snapshot(env.out) if env.out.exists() else None
    code = _run(argv)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("omnitok: error:")]
    assert code == case.code, f"{case.id}: exit {code}\n{captured.out}\n{captured.err}"
    assert errors, f"{case.id}: no 'omnitok: error:' line in\n{captured.err}"
    assert any(named in line for line in errors), f"{case.id}: {named!r} not named in {errors}"
    assert "Traceback" not in captured.out + captured.err
    assert (snapshot(env.inputs) if env.inputs.exists() else {}) == inputs_before, f"{case.id}: inputs changed"
    assert snapshot(env.trained_run, env.image_tokenizer) == shared_before
    if out_before is None:
        leftovers = [p for p in env.out.rglob("*") if p.is_file()] if env.out.is_dir() else []
        assert not leftovers, f"{case.id}: partial output {leftovers}"
    else:
        assert snapshot(env.out) == out_before, f"{case.id}: output changed"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, env: Env, capsys) -> None:
    _check(case, env, capsys)


@pytest.mark.parametrize("command", registered_commands())
def test_argument_errors_name_the_command_for_every_command(command: str, capsys) -> None:
    assert _run([command, "--no-such-option"]) == 2  # missing required arguments, or the unknown option
    err = capsys.readouterr().err
    assert f"omnitok: error: {command}:" in err and "Traceback" not in err
    parser, argv = _subparser(command), [command]
    while actions := [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]:  # e.g. "data pack"
        name, parser = next(iter(actions[0].choices.items()))
        argv.append(name)
    required = [a.option_strings[0] if a.option_strings else "x" for a in parser._actions if a.required]
    positional = sum(1 for a in parser._actions if a.required and not a.option_strings)
    argv += ["x"] * positional + [item for o in required if o != "x" for item in (o, "x")]
    assert _run([*argv, "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert f"omnitok: error: {command}: unrecognized arguments: --no-such-option" in err and "Traceback" not in err


def _subparser(command: str):
    (commands,) = [a for a in build_parser()._actions if a.dest == "command"]
    return commands.choices[command]


def test_every_command_has_bad_input_cases() -> None:
    covered = {case.command for case in CASES}
    missing = [c for c in registered_commands() if c not in covered]
    assert not missing, f"subcommands without bad-input cases: {missing}; add cases to {__name__}"
