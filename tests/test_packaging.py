"""Packaging promises: a light import, the namespace layout, the console script."""

import json
import subprocess
import sys

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
        assert folder.is_dir() and (folder / "__init__.py").is_file(), package
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
