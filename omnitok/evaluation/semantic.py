"""The "Semantic features" report section: how much teacher semantics each tokenizer's tokens carry.

For each tokenizer (each part of a decoupled one):

- *head cosine*: cosine between the tokenizer's own semantic head (hybrid tokenizers) and the teacher's features
  at the token grid;
- *read-out cosine*: the same figure for a ridge read-out fitted from token embeddings to teacher features on
  half of the images, measured on the other half (any tokenizer, head or not);
- *linear probe*: a ridge classifier on mean-pooled token embeddings of a labelled set (train/test split),
  beside the majority-class chance.

Token embeddings are the code vectors of the ids (``quantizer.decode(encode(x))``) for discrete omnitok
tokenizers and the latents themselves for continuous ones. Where the teacher's weights cannot be loaded the
section says so instead of printing figures from a random network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from omnitok.data.labelled import LabelledImages, labelled_folder, labelled_scenes
from omnitok.errors import ConfigError, WeightsError
from omnitok.metrics.semantic import linear_probe, pool_tokens, readout_cosine, teacher_cosine
from omnitok.semantic.base import SemanticTeacher

SCENE_TEACHER_PATH = "runs/teachers/scene_teacher.safetensors"
"""Where ``--teacher scene`` keeps the quickstart scene classifier (trained on first use)."""
TITLE = "Semantic features"


def load_teacher(ref: str | SemanticTeacher, pretrained: bool = True) -> SemanticTeacher:
    """``scene`` (the quickstart classifier, trained on first use), a ``.safetensors`` scene classifier, or a timm
    ViT name / short name (``siglip2``, ``dinov2``, ``clip``, ...) loaded with its pretrained weights."""
    from omnitok.semantic import SceneTeacher, VisionTeacher

    if isinstance(ref, SemanticTeacher):
        return ref
    if ref == "scene":
        return SceneTeacher(weights=SCENE_TEACHER_PATH, train_if_missing=True)
    if ref.endswith(".safetensors"):
        return SceneTeacher(weights=ref)
    return VisionTeacher(ref, pretrained=pretrained)


def check_teacher_modality(data: Any) -> None:
    """ConfigError unless ``data`` is of the modality the teachers :func:`load_teacher` builds read (vision
    teachers: images), checked before any weights load."""
    from omnitok.semantic import VisionTeacher

    if data.modality != VisionTeacher.modality:
        raise ConfigError(
            f"--teacher measures {VisionTeacher.modality} tokenizers; these are {data.modality} tokenizers"
        )


def load_probe_data(
    probe_data: str, size: int = 32, seed: int = 0, test_fraction: float = 0.25, scenes: tuple[int, int] = (1024, 512)
) -> tuple[LabelledImages, LabelledImages]:
    """``scenes`` (``scenes`` = train / test counts of labelled scenes) or an ImageNet-style folder split at random (seeded)."""
    if probe_data == "scenes":
        return labelled_scenes(scenes[0], size, "train", seed), labelled_scenes(scenes[1], size, "test", seed)
    if not Path(probe_data).is_dir():
        raise ConfigError(f"--probe-data must be 'scenes' or a folder of class folders, got {probe_data!r}")
    data = labelled_folder(probe_data, size)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    cut = max(1, int(len(data) * test_fraction))
    test, train = order[:cut], order[cut:]
    pick = lambda rows: LabelledImages(data.images[rows], data.labels[rows], data.classes)
    return pick(train), pick(test)


def token_embeddings(tokenizer: Any, x: Tensor) -> Tensor | None:
    """Embeddings [B, D, *grid] of the tokens of ``x``: code vectors (discrete) or latents (continuous); None for a
    discrete tokenizer that does not expose its codebook."""
    tokens = tokenizer.encode(x)
    if not tokenizer.spec.discrete:
        return tokens.float()
    quantizer = getattr(tokenizer, "quantizer", None)
    return None if quantizer is None else quantizer.decode(tokens).float()


@torch.no_grad()
def _embed(tokenizer: Any, images: Tensor, device: torch.device, batch_size: int) -> Tensor | None:
    """images: float [N, 3, R, R] in [-1, 1] -> embeddings [N, D, *grid] on the CPU."""
    parts = []
    for start in range(0, images.shape[0], batch_size):
        part = token_embeddings(tokenizer, images[start : start + batch_size].to(device))
        if part is None:
            return None
        parts.append(part.cpu())
    return torch.cat(parts)


@torch.no_grad()
def semantic_figures(
    tokenizer: Any, teacher: SemanticTeacher, images: Tensor, probe: tuple[LabelledImages, LabelledImages],
    device: torch.device | str = "cpu", batch_size: int = 64,
) -> dict[str, Any]:  # fmt: skip
    """Head cosine, read-out cosine (on ``images`` [N, 3, R, R] in [-1, 1]) and the linear probe of one tokenizer."""
    device = torch.device(device)
    teacher = teacher.to(device)
    figures: dict[str, Any] = {"head_cosine": None, "readout_cosine": None, "probe_accuracy": None}
    embeddings = _embed(tokenizer, images, device, batch_size)
    if embeddings is None:
        figures["note"] = "no code vectors exposed (no quantizer attribute)"
        return figures
    grid = tuple(embeddings.shape[2:])
    targets = torch.cat(
        [teacher.at_grid(images[i : i + batch_size].to(device), grid).cpu() for i in range(0, len(images), batch_size)]
    )
    if hasattr(tokenizer, "semantic_features"):
        predicted = torch.cat(
            [
                tokenizer.semantic_features(images[i : i + batch_size].to(device)).cpu()
                for i in range(0, len(images), batch_size)
            ]
        )
        if predicted.shape == targets.shape:
            figures["head_cosine"] = float(teacher_cosine(predicted, targets).mean())
    half = len(images) // 2
    if half >= 1:
        figures["readout_cosine"] = readout_cosine(embeddings[:half], targets[:half], embeddings[half:], targets[half:])
    train, test = probe
    train_x = pool_tokens(_embed(tokenizer, train.batch(0, len(train)), device, batch_size))
    test_x = pool_tokens(_embed(tokenizer, test.batch(0, len(test)), device, batch_size))
    result = linear_probe(train_x, train.labels, test_x, test.labels, num_classes=len(train.classes))
    figures.update(
        probe_accuracy=result.accuracy, probe_chance=result.chance, probe_train_accuracy=result.train_accuracy
    )
    return figures


def semantic_section(
    tokenizers: Sequence[Any], data: Any | None = None, *, teacher: str | SemanticTeacher = "scene",
    probe_data: str = "scenes", probe_size: int = 32, device: torch.device | str = "cpu", seed: int = 0,
    max_images: int = 256, probe_scenes: tuple[int, int] = (1024, 512),
) -> Any:  # fmt: skip
    """A :class:`omnitok.report.ReportSection` with the semantic figures of ``tokenizers``.

    Args:
        tokenizers: ``NamedTokenizer``s (name, tokenizer, ref); a tokenizer with ``spans`` (decoupled) gives one
            row per part.
        data: the report's ``EvalImages`` (cosines are measured on up to ``max_images`` of them); None: on the
            probe images.
        teacher: see :func:`load_teacher`.
        probe_data: "scenes" or an ImageNet-style folder; probe_size: its image side in pixels; probe_scenes: the
            train / test counts of scenes.
    """
    from omnitok.report.sections import ReportSection

    header = ["tokenizer", "head cosine ↑", "read-out cosine ↑", "linear probe accuracy ↑", "chance"]
    try:
        frozen = load_teacher(teacher)
    except WeightsError as err:
        return ReportSection(
            TITLE,
            notes=[f"Teacher {teacher}: unavailable (weights not found): {err}"],
            data={"teacher": str(teacher), "unavailable": str(err)},
        )
    probe = load_probe_data(probe_data, probe_size, seed, scenes=probe_scenes)
    if data is not None:
        images = data.batch(0, min(len(data), max_images)) * 2 - 1  # [0, 1] -> [-1, 1]
    else:
        images = torch.cat([probe[1].batch(0, len(probe[1]))])[:max_images]
    rows, results = [], {}
    for named in tokenizers:
        parts = getattr(named.tokenizer, "spans", None) or {"": named.tokenizer}
        for part, tokenizer in parts.items():
            name = f"{named.name}/{part}" if part else named.name
            figures = semantic_figures(tokenizer, frozen, images, probe, device)
            results[name] = figures
            rows.append(
                [
                    name,
                    figures["head_cosine"],
                    figures["readout_cosine"],
                    figures["probe_accuracy"],
                    figures.get("probe_chance"),
                ]
            )
    teacher_name = teacher if isinstance(teacher, str) else type(teacher).__name__
    notes = [
        (
            f"Teacher: {teacher_name}. Cosines at each tokenizer's token grid (teacher features average-pooled or "
            f"interpolated to it) on {images.shape[0]} images; the read-out is a ridge map fitted on the first half."
        ),
        (
            f"Linear probe: ridge classifier on mean-pooled token embeddings, {len(probe[0])} train / "
            f"{len(probe[1])} test images of {probe_data!r} ({len(probe[0].classes)} classes); chance is the "
            "majority class's share."
        ),
    ]
    return ReportSection(
        TITLE, header, rows, notes=notes, data={"teacher": teacher_name, "probe_data": probe_data, "results": results}
    )
