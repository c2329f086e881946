"""Publish a tokenizer folder on the Hugging Face Hub with a generated model card.

:func:`push_to_hub` uploads a folder ``save_pretrained`` wrote (``config.json``, ``model.safetensors``, and
``calibration.json`` when calibrated) plus ``README.md``, the model card :func:`model_card` writes. When the folder
sits in a training run (``omnitok train`` writes ``RUN/tokenizer/``), the run's recipe (``RUN/config.yaml``), its
held-out figures (``RUN/heldout.md`` / ``heldout.json``) and its evaluation report (``RUN/report/``) go along and
into the card. Uses ``huggingface_hub.HfApi`` (``create_repo``, ``upload_folder``) and ``ModelCard``; the token is
huggingface_hub's (``HF_TOKEN`` or ``huggingface-cli login``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from omnitok.errors import ConfigError, OutputError

RUN_FILES = {  # file of the training run -> its name in the repository
    "config.yaml": "training_config.yaml",
    "heldout.md": "heldout.md",
    "heldout.json": "heldout.json",
    "showcase.png": "showcase.png",  # heldout.md refers to it
}
REPORT_FILES = ("report.md", "report.html", "metrics.json")


def model_card(folder: str | os.PathLike, repo_id: str = "") -> Any:
    """The model card (``huggingface_hub.ModelCard``) of a tokenizer folder: architecture, spec, latent
    normalization, training recipe, held-out figures, the evaluation report's figures and the weights fingerprint.

    Raises:
        WeightsError / ConfigError: the folder does not load as a tokenizer.
    """
    from huggingface_hub import ModelCard, ModelCardData

    from omnitok.calibration import read_calibration
    from omnitok.fingerprint import file_sha256
    from omnitok.hub import CONFIG_NAME, WEIGHTS_NAME, load_pretrained

    folder = Path(folder)
    tokenizer = load_pretrained(folder)  # the folder must load before anything is published
    spec = tokenizer.spec
    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    run = folder.parent
    name = repo_id.split("/")[-1] or folder.resolve().name
    kind = "discrete" if spec.discrete else "continuous"
    data = ModelCardData(library_name="omnitok", tags=["omnitok", "tokenizer", spec.modality, kind])
    parameters = sum(p.numel() for p in tokenizer.parameters())
    lines = [
        f"# {name}",
        "",
        f"A {kind} {spec.modality} tokenizer saved with omnitok; load it with omnitok (`pip install omnitok`).",
        "",
        "```python",
        "import omnitok",
        "",
        f'tokenizer = omnitok.load_tokenizer("{repo_id or folder}")',
        "tokens = tokenizer.encode(x)  # x: " + _layout(spec) + f" in {list(spec.value_range)}",
        "x_hat = tokenizer.decode(tokens)",
        "```",
        "",
        "## Architecture",
        "",
        f"- model: `{config['model']['class_path']}` ({parameters:,} parameters)",
    ]
    for part in ("encoder", "quantizer", "decoder"):
        value = config["model"].get("init_args", {}).get(part)
        if isinstance(value, dict) and "class_path" in value:
            lines.append(f"- {part}: `{value['class_path']}`")
    lines += ["", "## Spec", "", "| field | value |", "| --- | --- |"]
    lines += [f"| {key} | `{json.dumps(value)}` |" for key, value in spec.to_dict().items()] + [""]
    lines += _normalization(spec, read_calibration(folder))
    lines += _section("Training recipe", run / "config.yaml", "yaml")
    lines += _heldout(run)
    lines += _report(run / "report")
    lines += [
        "## Weights fingerprint",
        "",
        (
            f"SHA-256 of `{WEIGHTS_NAME}`: `{file_sha256(folder / WEIGHTS_NAME)}` (token files record it; "
            "`omnitok decode` refuses tokens written by other weights)."
        ),
        "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload omnitok tokenizer",
) -> str:
    """Create ``repo_id`` (kept if it exists) and upload the tokenizer folder with its model card; returns the
    commit URL.

    Raises:
        ConfigError: ``folder`` is not a tokenizer folder; OutputError: the Hub refused (network, auth, name).
    """
    from huggingface_hub import HfApi

    from omnitok.hub import CONFIG_NAME, WEIGHTS_NAME

    folder = Path(folder)
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
    if missing:
        raise ConfigError(f"{folder}: no {', '.join(missing)}; push_to_hub uploads a folder save_pretrained wrote")
    card = model_card(folder, repo_id)
    with tempfile.TemporaryDirectory(prefix="omnitok-push-") as staging:
        staging = Path(staging)
        _stage(folder, staging)
        card.save(staging / "README.md")
        api = HfApi(token=token)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            info = api.upload_folder(
                repo_id=repo_id, folder_path=staging, repo_type="model", commit_message=commit_message
            )
        except Exception as err:  # network, auth, an invalid name: one failure for the caller
            raise OutputError(f"could not push {folder} to the hub as {repo_id!r}: {err}") from err
    return str(getattr(info, "commit_url", info))


def _stage(folder: Path, staging: Path) -> None:
    """Copy what is published into ``staging``: the tokenizer folder's files, and the run's recipe, held-out
    figures and report when the folder sits in a training run."""
    for item in folder.iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copy2(item, staging / item.name)
    for source, target in RUN_FILES.items():
        if (folder.parent / source).is_file():
            shutil.copy2(folder.parent / source, staging / target)
    report = folder.parent / "report"
    if (report / "metrics.json").is_file():
        shutil.copytree(report, staging / "report", ignore=shutil.ignore_patterns(".*"))


def _layout(spec: Any) -> str:
    from omnitok.modalities import get_modality

    return get_modality(spec.modality).layout


def _normalization(spec: Any, calibration: dict[str, Any] | None) -> list[str]:
    if spec.discrete:
        return []
    lines = ["## Latent normalization", ""]
    lines.append(
        f"`latent_scale` = {spec.latent_scale:.6g}, `latent_shift` = {spec.latent_shift:.6g}: a consumer takes"
    )
    lines.append("`(z - latent_shift) * latent_scale` of the latents `z` that `encode` returns.")
    if calibration:
        lines.append(
            f"Measured by `omnitok calibrate` on {calibration.get('data') or 'data'} ({calibration.get('samples')} "
            f"samples; latents mean {calibration.get('mean'):.4g}, std {calibration.get('std'):.4g}): "
            f"{calibration.get('convention', '')}."
        )
    else:
        lines.append("Not calibrated (the defaults 1 and 0); `omnitok calibrate` measures them on data.")
    return lines + [""]


def _section(title: str, path: Path, language: str) -> list[str]:
    if not path.is_file():
        return []
    return [f"## {title}", "", f"```{language}", path.read_text(encoding="utf-8").rstrip(), "```", ""]


def _heldout(run: Path) -> list[str]:
    markdown = run / "heldout.md"
    if not markdown.is_file():
        return []
    text = markdown.read_text(encoding="utf-8").strip()
    body = text.split("\n", 1)[1].strip() if text.startswith("# ") and "\n" in text else text
    title = text.split("\n", 1)[0].lstrip("# ").strip() if text.startswith("# ") else "Held-out reconstruction"
    return [f"## Measured: {title}", "", body, ""]


def _report(report: Path) -> list[str]:
    """The evaluation report's protocol in brief and its reconstruction figures, from its metrics.json."""
    from omnitok.report.document import read_metrics_document
    from omnitok.report.tables import format_value, metric_label

    if not (report / "metrics.json").is_file():
        return []
    try:
        doc = read_metrics_document(report / "metrics.json")
    except ConfigError:
        return []
    p = doc["protocol"]
    metrics = [(k, v) for k, v in doc["metrics"].items() if v.get("available", True) is not False]
    header = ["tokenizer"] + [metric_label(k, v.get("higher_is_better")) for k, v in metrics]
    rows = [[t["name"]] + [format_value(t["reconstruction"].get(k)) for k, _ in metrics] for t in doc["tokenizers"]]
    rows += [[f"baseline: {b['name']}"] + [format_value(b["reconstruction"].get(k)) for k, _ in metrics]
             for b in doc.get("baselines", [])]  # fmt: skip
    lines = [
        "## Evaluation report",
        "",
        (
            f"`omnitok eval` on {p.get('num_samples')} {doc['modality']} samples of `{p.get('data')}` "
            f"(dataset fingerprint `{str(p.get('fingerprint'))[:16]}…`, seed {p.get('seed')}); the whole report is "
            "in [report/report.md](report/report.md) ([HTML](report/report.html), [metrics.json](report/metrics.json))."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]
