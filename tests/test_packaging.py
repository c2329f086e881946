"""Packaging promises: a light import, the namespace layout, the console script."""

import json
import subprocess
import sys

HEAVY = ["lightning", "pytorch_lightning", "wandb", "lpips", "torchmetrics", "timm", "triton", "decord", "torchaudio", "diffusers", "transformers"]


def _heavy_modules_after(imports: str, baseline: str = "") -> list[str]:
    """Heavy modules loaded by ``imports`` in a fresh interpreter, minus those ``baseline`` alone loads."""
    code = (
        f"import sys, json\n{baseline}\nbefore = set(sys.modules)\n{imports}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    return [m for m in loaded if m.split(".")[0] in HEAVY]


def test_import_omnitok_stays_light():
    assert _heavy_modules_after("import omnitok, omnitok.quantizers, omnitok.models, omnitok.ops, omnitok.nn, omnitok.metrics") == []
    assert _heavy_modules_after("import omnitok.adapters") == []


def test_data_readers_load_nothing_beyond_torchvision():
    # torchvision itself imports triton when it is installed; omnitok.data must add nothing heavy on top
    assert _heavy_modules_after("import omnitok.data", baseline="import torchvision") == []


def test_trainers_and_cli_install_into_the_omnitok_namespace():
    import omnitok.cli
    import omnitok.trainers

    assert omnitok.cli.__file__.replace("\\", "/").endswith("cli/__init__.py")
    assert omnitok.trainers.__file__.replace("\\", "/").endswith("trainers/__init__.py")


def test_console_script_runs():
    from pathlib import Path

    script = Path(sys.executable).parent / "omnitok"
    assert script.is_file(), "the omnitok console script is not installed beside this interpreter"
    out = subprocess.run([str(script), "--help"], check=True, capture_output=True, text=True)
    assert "codebook-study" in out.stdout


def test_cli_reports_bad_input_as_an_error_message(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "omnitok.cli.main", "inspect", str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert out.returncode == 2 and "no tokenizer folder" in out.stderr and "Traceback" not in out.stderr
