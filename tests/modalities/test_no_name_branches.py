"""Outside ``omnitok/modalities/``, library code asks the modality's definition and never branches on a
modality's name: no "image"/"video"/"audio" literal in a comparison or a ``match`` case, and no table keyed by
several modality names. Sample dicts keyed by their one modality (``{"image": x, "path": p}``) are data, not
branches, and are allowed."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"image", "video", "audio"}
FOLDERS = ("omnitok", "trainers", "cli")
# Accepted exceptions (file, enclosing function): user-facing option values that name modalities.
EXCEPTED = {
    ("omnitok/adapters/transformers.py", "__init__"),  # Emu3VQVAEAdapter(mode="image" | "video") checks its option
}


def _names_in(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    return set()


def offences(source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, what) for every name branch in ``source``."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Compare):
            hit = set().union(*(_names_in(n) for n in (node.left, *node.comparators)))
            if hit:
                found.append((node.lineno, function, f"compares with {sorted(hit)}"))
        if isinstance(node, ast.match_case):
            hit = {c.value.value for c in ast.walk(node.pattern) if isinstance(c, ast.MatchValue)
                   and isinstance(c.value, ast.Constant)} & NAMES  # fmt: skip
            if hit:
                found.append((node.pattern.lineno, function, f"matches {sorted(hit)}"))
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)} & NAMES
            if len(keys) >= 2:
                found.append((node.lineno, function, f"a table keyed by {sorted(keys)}"))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source), "<module>")
    return found


def test_the_detector_finds_each_kind_of_branch():
    source = (
        "def f(spec, x):\n"
        "    if spec.modality == 'audio': pass\n"
        "    if spec.modality in ('image', 'video'): pass\n"
        "    table = {'image': 1, 'video': 2}\n"
        "    match spec.modality:\n"
        "        case 'video': pass\n"
        "    sample = {'image': x, 'path': 'p'}\n"
    )
    assert [line for line, _, _ in offences(source)] == [2, 3, 4, 6]


def test_library_code_asks_the_modality_definition():
    problems = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("omnitok/modalities/"):
                continue
            for line, function, what in offences(path.read_text()):
                if (relative, function) not in EXCEPTED:
                    problems.append(f"{relative}:{line} ({function}) {what}")
    assert not problems, "branches on a modality name (ask omnitok.modalities.get_modality instead):\n" + "\n".join(
        problems
    )
