"""A missing optional dependency is one ``omnitok: error:`` line naming the extra to install, never a traceback.

Absence is simulated with ``sys.modules[name] = None`` (Python's own "import halted"): in this process for the helper,
and for the commands in one child process that runs each command of each extra with its modules blocked (the commands
are ordered so that no case imports a module a later case blocks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omnitok.errors import OmnitokError
from omnitok.extras import EXTRA_OF, MissingExtraError, extra_hint, require

REPO = Path(__file__).resolve().parents[1]


def test_require_names_the_extra_and_stays_a_module_not_found_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(MissingExtraError) as caught:
        require("timm", "the siglip2 teacher")
    assert str(caught.value) == "the siglip2 teacher needs timm, which is not installed: pip install 'omnitok[hybrid]'"
    assert isinstance(caught.value, ModuleNotFoundError) and not isinstance(caught.value, OmnitokError)
    assert require("json") is json


def test_extra_hint_rewords_only_the_extras_modules(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'omnitok\[scale\]'"), extra_hint("omnitok tokenize"):
        import ray  # noqa: F401
    with pytest.raises(ModuleNotFoundError) as caught, extra_hint("x"):  # not an extra's module: left alone
        import omnitok_no_such_module  # noqa: F401
    assert not isinstance(caught.value, MissingExtraError)


def test_the_extras_table_matches_pyproject():
    import re

    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, (extra, distribution) in EXTRA_OF.items():
        names = [re.split(r"[<>=\[ ]", d)[0].lower() for d in extras[extra]]
        assert distribution.split("[")[0].lower() in names, (module, extra)


CASES = {  # extra: (modules blocked, command; {D} is a scratch folder the child prepares)
    "train": (["lightning"], ["train", "--config", "quickstart_vq", "--out", "{D}/run"]),
    "eval": (["matplotlib"], ["eval", "--tokenizer", "tests.evaluation.toy_tokenizers:pooling", "--data", "builtin",
                              "--out", "{D}/report"]),
    "adapters": (["diffusers"], ["inspect", "diffusers:{D}/vq"]),
    "hybrid": (["timm"], ["inspect", "{D}/teacher"]),
    "audio": (["soundfile", "torchaudio"], ["encode", "{D}/a.wav", "--tokenizer", "{D}/codec", "--out", "{D}/at"]),
    "video": (["decord", "av"], ["encode", "{D}/v.mp4", "--tokenizer", "{D}/video", "--out", "{D}/vt"]),
    "scale": (["ray"], ["tokenize", "--tokenizer", "{D}/codec", "--data", "{D}", "--out", "{D}/corpus"]),
}  # fmt: skip

CHILD = r"""
import contextlib, io, json, sys
from pathlib import Path

D = Path(sys.argv[1])
from omnitok.formats import TOKENIZER_FORMAT
from tests.nn.audio_models import tiny_codec
from tests.nn.video_models import tiny_causal_video_tokenizer

tiny_codec().save_pretrained(D / "codec")
tiny_causal_video_tokenizer().save_pretrained(D / "video")
(D / "a.wav").write_bytes(b"RIFF")
(D / "v.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
(D / "vq").mkdir()
(D / "vq" / "config.json").write_text(json.dumps({"_class_name": "VQModel"}))
(D / "teacher").mkdir()
teacher = {"class_path": "omnitok.semantic.VisionTeacher", "init_args": {"model_name": "siglip2", "pretrained": False}}
model = {"class_path": "omnitok.models.TeacherTokenizer", "init_args": {"teacher": teacher, "downsample": [16, 16]}}
(D / "teacher" / "config.json").write_text(json.dumps({"format_version": TOKENIZER_FORMAT, "model": model}))
from omnitok.cli.main import main

results = {}
for extra, (blocked, argv) in json.loads(sys.argv[2]).items():
    saved = {name: sys.modules.get(name) for name in blocked}
    sys.modules.update({name: None for name in blocked})
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([a.replace("{D}", str(D)) for a in argv])
        except BaseException as stop:  # a traceback would be a failure: keep it for the assertion
            import traceback
            code, err = repr(stop), io.StringIO(traceback.format_exc())
    for name, module in saved.items():
        if module is None:
            del sys.modules[name]
        else:
            sys.modules[name] = module
    results[extra] = [code, err.getvalue()]
print(json.dumps(results))
"""


def test_each_extra_missing_is_a_one_line_hint(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), json.dumps(CASES)],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for extra, (code, err) in results.items():
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1, (extra, code, err)
        assert lines[0].startswith("omnitok: error: ") and " needs " in lines[0] and "Traceback" not in err, (extra, err)
        assert lines[0].endswith(f"which is not installed: pip install 'omnitok[{extra}]'"), (extra, err)
    assert not (tmp_path / "run").exists() and not (tmp_path / "report").exists()  # refused before any output
    assert not (tmp_path / "corpus").exists() and not list((tmp_path).glob("?t/*"))


def test_library_entry_points_name_their_extra(monkeypatch, tmp_path):
    """Used as a library (no CLI around it), the readers and the adapter loader say which extra is missing."""
    import json as json_module

    from omnitok.adapters import load_adapter
    from omnitok.data import read_audio, read_video

    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(MissingExtraError, match=r"reading audio needs soundfile.*omnitok\[audio\]"):
        read_audio(tmp_path / "a.wav")
    monkeypatch.setitem(sys.modules, "decord", None)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingExtraError, match=r"reading video needs .*omnitok\[video\]"):
        read_video(tmp_path / "a.mp4")
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json_module.dumps({"_class_name": "AutoencoderKL"}))
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingExtraError, match=r"omnitok\[adapters\]"):
        load_adapter(f"diffusers:{tmp_path / 'vae'}")
