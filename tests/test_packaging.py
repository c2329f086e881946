"""Packaging promises: a light import, the namespace layout, the console script."""

import functools
import json
import subprocess
import sys

import pytest

HEAVY = ["lightning", "pytorch_lightning", "wandb", "lpips", "torchmetrics", "timm", "triton", "decord", "torchaudio", "diffusers", "transformers", "litdata", "ray", "pyarrow"]


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
    assert _heavy_modules_after("import omnitok.corpus, omnitok.cli.main") == []


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
    assert "encode" in out.stdout and "train" in out.stdout


def test_cli_reports_bad_input_as_an_error_message(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "omnitok.cli.main", "inspect", str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert out.returncode == 2 and "no tokenizer folder" in out.stderr and "Traceback" not in out.stderr


def test_the_library_holds_no_demo_and_imports_no_example():
    """Demos live in examples/ (not installed): no installed package is an example, and no library file imports one."""
    import ast
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: root / path for name, path in setuptools["package-dir"].items()}
    for package in setuptools["packages"]:
        top = max((name for name in folders if package == name or package.startswith(name + ".")), key=len)
        folder = folders[top].joinpath(*package[len(top) :].strip(".").split(".")) if package != top else folders[top]
        data_only = package in setuptools["package-data"] and not any(folder.rglob("*.py"))  # configs/: recipes
        assert folder.is_dir() and ((folder / "__init__.py").is_file() or data_only), package
        assert not folder.resolve().is_relative_to(root / "examples"), package
    offenders = []
    for folder in {root / "omnitok", root / "trainers", root / "cli"}:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "examples"]
    assert not offenders, offenders


def test_every_package_folder_is_listed_for_the_wheel():
    """setuptools installs only the packages pyproject.toml names: a new subpackage missing from that list imports
    in an editable checkout and is absent from the wheel."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = set()
    for package, folder in setuptools["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(root / folder).parts
            on_disk.add(".".join((package, *relative)))
    assert on_disk - listed == set()


WHEEL_SCRIPT = """
import sys
import torch
from PIL import Image
import omnitok
from omnitok.cli.recipes import find_recipe
from omnitok.config import instantiate, load_yaml_config

assert "site-packages" in omnitok.__file__, omnitok.__file__  # the installed wheel, not the checkout
recipe = load_yaml_config(find_recipe("quickstart_fsq"))  # a recipe shipped inside the wheel
tokenizer = instantiate(recipe["model"]["init_args"]["tokenizer"]).eval()
x = torch.rand(2, 3, 32, 32) * 2 - 1
tokens = tokenizer.encode(x)
assert tokens.shape == (2, 8, 8) and tokenizer.decode(tokens).shape == x.shape
tokenizer.save_pretrained("tok")
assert torch.equal(omnitok.load_tokenizer("tok").encode(x), tokens)
assert omnitok.load_tokenizer("tok", dtype="bf16").decode(tokens).dtype == torch.bfloat16
omnitok.save_tokens("tokens.safetensors", tokens, tokenizer.spec)
assert torch.equal(omnitok.load_tokens("tokens.safetensors")[0], tokens)
Image.fromarray(((x[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save("photo.png")
print("script ok")
"""


@pytest.mark.slow
def test_the_wheel_alone_codes_from_a_script_and_trains_by_recipe_name(tmp_path):
    """Build the wheel, install it (not editable) into a fresh venv with the core dependencies only, then encode and
    decode from a Python script and from the CLI, and name a shipped recipe. About 3 minutes on 2 cores, most of it
    pip installing torch and its CUDA libraries (5.5 GB) into the new venv."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=900, check=False)

    def ok(result: subprocess.CompletedProcess) -> str:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result.stdout

    ok(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
            str(root)]))  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("omnitok-*.whl")
    venv = tmp_path / "venv"
    ok(run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)]))
    python, omnitok_script = venv / "bin" / "python", venv / "bin" / "omnitok"
    ok(run([str(python), "-m", "pip", "install", "-q", str(wheel)]))
    extras = ["lightning", "lpips", "wandb", "torchmetrics", "matplotlib", "timm", "decord", "av", "torchaudio",
              "soundfile", "diffusers", "transformers", "litdata", "ray", "scipy", "skimage"]  # fmt: skip
    found = ok(run([str(python), "-c", f"import importlib.util as u; print([m for m in {extras} if u.find_spec(m)])"]))
    assert found.strip() == "[]"  # core dependencies only

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"HF_HUB_OFFLINE": "1"}
    in_venv = functools.partial(run, cwd=work, env=env)
    assert "script ok" in ok(in_venv([str(python), "-c", WHEEL_SCRIPT]))
    assert ok(in_venv([str(omnitok_script), "--version"])).strip() == "omnitok 0.1.0"
    assert "VectorQuantizer" in ok(in_venv([str(omnitok_script), "train", "--config", "quickstart_vq", "--print-config"]))
    refused = in_venv([str(omnitok_script), "train", "--config", "quickstart_vq", "--out", "run"])
    assert refused.returncode == 2 and not (work / "run").exists()
    assert refused.stderr.strip().endswith("pip install 'omnitok[train]'"), refused.stderr
    ok(in_venv([str(omnitok_script), "encode", "photo.png", "--tokenizer", "tok", "--out", "tokens"]))
    ok(in_venv([str(python), "-m", "omnitok", "decode", "tokens", "--tokenizer", "tok", "--out", "decoded"]))
    assert (work / "decoded" / "photo.png").is_file()
