"""Both directions of the captioned world, measured on held-out ("test") scenes.

- Understanding (image -> caption): the Transformer reads a held-out scene's image tokens and writes a caption
  greedily; the score is exact match with the canonical caption, plus per-attribute accuracy of the caption it
  wrote (a caption outside the grammar counts every attribute wrong).
- Generation (caption -> image): the Transformer writes an image from a held-out caption (with classifier-free
  guidance), the image tokenizer decodes it, and the independent :class:`~examples.world.judge.WorldJudge`
  (trained on true scenes only) reads its shape, colour and cell; the score is the fraction of attributes that
  match the caption, and exact match of all three.

Beside them: chance (uniform guessing over the grammar), the judge on the true held-out images (its ceiling) and on
the tokenizer's reconstructions of them (what a perfect token generator could reach), and a shuffled-caption
baseline (true images judged against another scene's caption: chance measured through the judge).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
from torch import Tensor

from examples.world.judge import WorldJudge, attribute_accuracy
from examples.world.scenes import ATTRIBUTES, World, WorldScenes, chance_levels, parse_caption
from omnitok.config import settings_from_section
from omnitok.errors import ConfigError


@dataclasses.dataclass
class WorldEvalSettings:
    """How the held-out evaluation runs.

    Attributes:
        scenes: held-out "test" scenes scored in each direction.
        cfg_scale: classifier-free guidance scale for image generation (1 = none).
        temperature, top_k, top_p: image sampling (captions are written greedily).
        batch_size: sequences generated at once.
        samples_shown: generated images kept for the report.
        seed: sampling seed.
        split: "test" (the held-out report) or "val" (held-out scenes for tuning settings without touching "test").
        speech_cfg_scale, speech_temperature: speech generation's own settings (None: the image's).
    """

    scenes: int = 256
    cfg_scale: float = 3.0
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    batch_size: int = 128
    samples_shown: int = 24
    seed: int = 0
    split: str = "test"
    speech_cfg_scale: float | None = None
    speech_temperature: float | None = None

    def sampling(self, medium: str = "image") -> Any:
        """Media sampling as an ``omnitok.unified.GenerationConfig``; speech takes ``speech_cfg_scale`` and
        ``speech_temperature`` where they are set."""
        from omnitok.unified import GenerationConfig

        speech = medium == "speech"
        cfg = self.speech_cfg_scale if speech and self.speech_cfg_scale is not None else self.cfg_scale
        temperature = self.speech_temperature if speech and self.speech_temperature is not None else self.temperature
        return GenerationConfig(temperature=temperature, top_k=self.top_k, top_p=self.top_p, cfg_scale=cfg)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> WorldEvalSettings:
        settings = settings_from_section(cls, data, "evaluation")
        if settings.scenes < 1 or settings.batch_size < 1 or settings.samples_shown < 0:
            raise ConfigError("evaluation.scenes and batch_size must be >= 1, samples_shown >= 0")
        if settings.split not in ("test", "val"):
            raise ConfigError(f"evaluation.split must be 'test' or 'val', got {settings.split!r}")
        return settings


@dataclasses.dataclass
class WorldEvaluation:
    """Held-out figures (accuracy dicts as :func:`attribute_accuracy` gives them) and the samples to show.

    Attributes:
        understanding: caption accuracy (``exact`` is the headline) on held-out images.
        generation: judge-read attribute accuracy of images generated from held-out captions.
        chance: uniform guessing (:func:`examples.world.scenes.chance_levels`).
        judge_true: the judge on the true held-out images; judge_reconstructed: on the tokenizer's reconstructions.
        shuffled_captions: true images judged against a random other held-out scene's caption.
        unseen: the same figures restricted to combinations training never showed (empty when there are none).
        samples: ``{"caption", "judged", "right", "image" uint8 [3, S, S]}`` for generated images;
        captions: ``{"truth", "written", "image"}`` for understanding examples.
        seconds: wall time per direction.
        speech: the two speech directions (``SpeechEvaluation``), in a world with speech; else None.
    """

    understanding: dict[str, float]
    generation: dict[str, float]
    chance: dict[str, float]
    judge_true: dict[str, float]
    judge_reconstructed: dict[str, float]
    shuffled_captions: dict[str, float]
    unseen: dict[str, dict[str, float]]
    scenes: int
    settings: WorldEvalSettings
    samples: list[dict[str, Any]]
    captions: list[dict[str, Any]]
    seconds: dict[str, float]
    speech: Any = None  # examples.world.speech_eval.SpeechEvaluation, in a world with speech

    def headline(self) -> dict[str, float]:
        """The numbers the world is judged by (two per medium), with their chance levels."""
        return {
            "understanding_exact": self.understanding["exact"],
            "understanding_chance": self.chance["exact"],
            "generation_attribute_accuracy": self.generation["mean_attribute"],
            "generation_chance": self.chance["mean_attribute"],
            **(
                {
                    "speech_understanding_exact": self.speech.understanding["exact"],
                    "speech_generation_attribute_accuracy": self.speech.generation["mean_attribute"],
                }
                if self.speech is not None
                else {}
            ),
        }


def caption_labels(captions: list[str]) -> Tensor:
    """Labels [N, 3] of captions; a caption outside the grammar gets -1 everywhere (never equal to a label)."""
    rows = []
    for text in captions:
        scene = parse_caption(text)
        rows.append(scene.labels() if scene is not None else torch.full((len(ATTRIBUTES),), -1, dtype=torch.long))
    return torch.stack(rows)


def write_captions(
    backend: Any, name: str, tokens: Tensor, truth: list[str], labels: Tensor, batch_size: int
) -> tuple[list[str], dict[str, float]]:
    """The captions the model writes greedily for each ``name`` token grid, and their accuracy against ``truth``
    (per attribute, and ``exact``)."""
    from omnitok.unified import MediaSpan

    written: list[str] = []
    for i in range(0, len(truth), batch_size):
        written += backend.text([[MediaSpan(name, t)] for t in tokens[i : i + batch_size]])
    accuracy = attribute_accuracy(caption_labels(written), labels)
    accuracy["exact"] = sum(w == t for w, t in zip(written, truth)) / len(truth)
    return written, accuracy


def unseen_figures(
    world: World, written: list[str], truth: list[str], labels: Tensor, judged: Tensor
) -> dict[str, dict[str, float]]:
    """Both directions' figures on the held-out scenes whose combination training never showed (empty if none)."""
    rows = [i for i, caption in enumerate(truth) if world.is_unseen(parse_caption(caption))]
    if not rows:
        return {}
    index = torch.tensor(rows)
    return {
        "understanding": {
            **attribute_accuracy(caption_labels([written[i] for i in rows]), labels[index]),
            "exact": sum(written[i] == truth[i] for i in rows) / len(rows),
        },
        "generation": attribute_accuracy(judged[index], labels[index]),
        "scenes": {"count": float(len(rows))},
    }


def _to_unit8(images: Tensor) -> Tensor:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@torch.no_grad()
def evaluate_world(
    backend: Any,
    tokenizer: Any,
    judge: WorldJudge,
    world: World,
    settings: WorldEvalSettings | None = None,
    image_name: str = "image",
) -> WorldEvaluation:
    """Score the model behind ``backend`` (:class:`examples.world.backends.WorldBackend`) both ways on
    ``settings.scenes`` held-out scenes (see the module docstring)."""

    settings = settings or WorldEvalSettings()
    held_out = WorldScenes(world, settings.split, settings.scenes)  # type: ignore[arg-type]
    images = held_out.images.float() / 127.5 - 1  # (N, 3, S, S)
    truth = [s.caption for s in held_out.scenes]
    labels = held_out.labels
    tokens = torch.cat([tokenizer.encode(chunk) for chunk in images.split(settings.batch_size)]).long()
    grid = tuple(tokens.shape[1:3])
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    written, understanding = write_captions(backend, image_name, tokens, truth, labels, settings.batch_size)
    seconds["understanding"] = time.perf_counter() - start

    start = time.perf_counter()
    sampling = settings.sampling()
    generator = torch.Generator().manual_seed(settings.seed)
    generated = []
    for i in range(0, len(truth), settings.batch_size):
        prompts = [[caption] for caption in truth[i : i + settings.batch_size]]
        spans = backend.media(prompts, image_name, grid, sampling, generator)
        generated.append(torch.cat([span.tokens.reshape(1, *span.tokens.shape[-len(grid) :]) for span in spans]))
    generated_images = torch.cat([tokenizer.decode(t) for t in generated]).float()
    judged = judge.read(generated_images)
    generation = attribute_accuracy(judged, labels)
    seconds["generation"] = time.perf_counter() - start

    reconstructed = torch.cat([tokenizer.decode(t) for t in tokens.split(settings.batch_size)]).float()
    judged_true = judge.read(images)
    shuffle = torch.randperm(len(truth), generator=torch.Generator().manual_seed(settings.seed + 1))
    unseen = unseen_figures(world, written, truth, labels, judged)

    names = {attr: values for attr, values in zip(ATTRIBUTES, _class_names())}
    samples = []
    for i in range(min(settings.samples_shown, len(truth))):
        reading = " ".join(names[a][int(judged[i, k])] for k, a in enumerate(ATTRIBUTES))
        samples.append(
            {
                "caption": truth[i],
                "judged": reading,
                "right": [bool(judged[i, k] == labels[i, k]) for k in range(len(ATTRIBUTES))],
                "image": _to_unit8(generated_images[i]),
            }
        )
    captions = [
        {"truth": truth[i], "written": written[i], "image": held_out.images[i]}
        for i in range(min(settings.samples_shown, len(truth)))
    ]
    return WorldEvaluation(
        understanding=understanding,
        generation=generation,
        chance=chance_levels(),
        judge_true=attribute_accuracy(judged_true, labels),
        judge_reconstructed=attribute_accuracy(judge.read(reconstructed), labels),
        shuffled_captions=attribute_accuracy(judged_true, labels[shuffle]),
        unseen=unseen,
        scenes=len(truth),
        settings=settings,
        samples=samples,
        captions=captions,
        seconds=seconds,
    )


def _class_names() -> list[list[str]]:
    from examples.world.scenes import CELLS, COLOURS, SHAPES

    return [list(SHAPES), list(COLOURS), list(CELLS)]
