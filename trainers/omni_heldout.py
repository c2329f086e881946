"""The held-out report of an omni run (:class:`omnitok.trainers.OmniTrainer`): each modality measured as a
single-modality run measures it (:class:`omnitok.trainers.callbacks.HeldOutEvaluation`, which calls this for omni
runs), plus how the modalities use the one shared codebook.

Files in the run folder:

- ``heldout.json``: ``{"omni": true, "step", "skipped_files", "modalities": {modality: the single-modality figures
  (``<metric>_before`` / ``<metric>_after``, ``baselines``, ...)}, "codebook_size", "codebook": {...}}``, where
  ``codebook`` is :meth:`omnitok.quantizers.stats.SharedCodebookStats.to_dict` of the held-out encodings after
  training (``{m}/codebook_usage``, ``{m}/perplexity``, ``{m}/codes_used``, ``{m}/tokens``, ``all/...``,
  ``overlap/used_by_{k}``, ``overlap/only/{a+b}``, ``overlap/unused``; ``level{q}/`` before each for several levels);
- ``heldout.md``: a section per modality (the single-modality table) and the shared-codebook table;
- ``reconstructions_{modality}.png``: each modality's picture (image grid, frame strips, spectrograms).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from omnitok.modalities import get_modality
from omnitok.quantizers.stats import CodebookStats, shared_codebook_stats
from omnitok.trainers.callbacks import _markdown, heldout_result, reconstruct_heldout
from omnitok.trainers.omni_system import codebook_figures
from omnitok.trainers.rank_split import broadcast_flag
from omnitok.utils import atomic_path


def _loaders(trainer: Any) -> dict[str, Any]:
    """modality -> its held-out loader, for the modalities that have held-out data."""
    data = trainer.datamodule
    if data is None or not hasattr(data, "test_dataloaders"):
        return {}
    return {m: loader for m, loader in data.test_dataloaders().items() if not isinstance(loader, list)}


@torch.no_grad()
def _measure(trainer: Any, module: Any, max_samples: int) -> dict[str, dict[str, Any]] | None:
    """modality -> reconstruct_heldout's figures plus ``codes`` (its held-out indices) on rank 0; None elsewhere. A
    collective (every rank walks every modality's batches)."""
    loaders = _loaders(trainer)
    views = module.heldout_views()
    measured: dict[str, dict[str, Any]] = {}
    for modality, view in views.items():
        if modality not in loaders:
            continue
        figures = reconstruct_heldout(trainer, view, view.spec, loaders[modality], modality, max_samples, module.device)
        if figures is None:
            continue
        step = max(1, getattr(loaders[modality], "batch_size", None) or 16)
        was_training = view.training
        view.eval()
        figures["codes"] = torch.cat(
            [view.encode(chunk.to(module.device)).cpu() for chunk in figures["x"].split(step)]
        )  # [n, *grid(, Q)]: what encode gives, the indices of the forward above
        view.train(was_training)
        measured[modality] = figures
    return measured if trainer.is_global_zero else None


def measure_before(folder: Path, max_samples: int, trainer: Any, module: Any) -> None:
    """heldout_before.json: each modality's held-out scores before training (kept across resumes)."""
    path = folder / "heldout_before.json"
    if not _loaders(trainer) or broadcast_flag(path.exists(), trainer):
        return
    measured = _measure(trainer, module, max_samples)
    if measured is None:
        return
    scores = {m: figures["scores"] for m, figures in measured.items()}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"step": module.step, "modalities": scores}))


def measure_after(folder: Path, max_samples: int, trainer: Any, module: Any) -> dict[str, Any] | None:
    """heldout.json / heldout.md / reconstructions_{m}.png after training (see the module docstring); returns the
    result written (rank 0) or None."""
    if not _loaders(trainer):
        return None
    measured = _measure(trainer, module, max_samples)
    if measured is None:
        return None
    before_path = folder / "heldout_before.json"
    before = json.loads(before_path.read_text()).get("modalities", {}) if before_path.exists() else {}
    sizes = module.tokenizer.quantizer.codebook_sizes
    stats: dict[str, CodebookStats] = {}
    result: dict[str, Any] = {"omni": True, "step": module.step, "skipped_files": len(module.skipped_files)}
    result["modalities"] = {}
    for modality, figures in measured.items():
        spec = module.tokenizer.specs[modality]
        result["modalities"][modality] = heldout_result(spec, figures, before.get(modality, {}), module.step)
        stats[modality] = CodebookStats(sizes)
        stats[modality].update(figures["codes"])
    result["codebook_size"] = sizes[0]
    result["codebook"] = codebook_figures(stats)
    with atomic_path(folder / "heldout.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    with atomic_path(folder / "heldout.md") as tmp:
        tmp.write_text(_omni_markdown(result, stats))
    for modality, figures in measured.items():
        spec = module.tokenizer.specs[modality]
        picture = get_modality(modality).heldout_picture(spec, figures["x"], figures["x_hat"])
        if picture is not None:
            with atomic_path(folder / f"reconstructions_{modality}.png") as tmp:
                tmp.write_bytes(picture)
    return result


def _omni_markdown(result: dict[str, Any], stats: dict[str, CodebookStats]) -> str:
    lines = [f"# Held-out reconstruction of an omni tokenizer (one codebook of {result['codebook_size']} codes)", ""]
    for modality, figures in result["modalities"].items():
        names = get_modality(modality).heldout_metrics()
        section = _markdown(figures, names).replace("# Held-out reconstruction", f"## {modality}: held-out", 1)
        lines += [section.rstrip(), ""]
    if stats:
        shared = shared_codebook_stats(dict(stats))  # level 0 (the table); heldout.json has every level
        level = " (level 0)" if len(next(iter(stats.values())).codebook_sizes) > 1 else ""
        lines += [
            f"## The shared codebook on the held-out sets{level}",
            "",
            "| modality | tokens | codes used | usage | perplexity |",
            "|---|---|---|---|---|",
        ]
        for m in shared.modalities:
            lines.append(
                f"| {m} | {shared.tokens[m]} | {shared.used[m]} | {shared.usage[m]:.3f} | {shared.perplexity[m]:.1f} |"
            )
        total = sum(shared.tokens.values())
        lines.append(f"| all | {total} | {shared.used_all} | {shared.usage_all:.3f} | {shared.perplexity_all:.1f} |")
        by = ", ".join(f"{k} of them: {count}" for k, count in shared.used_by.items())
        only = ", ".join(f"{'+'.join(group)}: {count}" for group, count in shared.used_by_exactly.items())
        lines += [
            "",
            f"Codes used by exactly {by}; unused: {shared.unused}.",
            "",
            f"Codes used by exactly: {only}.",
            "",
        ]
    return "\n".join(lines)


__all__ = ["measure_after", "measure_before"]
