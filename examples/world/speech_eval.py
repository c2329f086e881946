"""The world's two speech directions, measured on held-out scenes spoken in held-out voices.

- Speech understanding (speech -> caption): the Transformer reads the speech codec's tokens of a held-out spoken
  caption and writes the caption greedily; exact match and per-attribute accuracy, as for images.
- Speech generation (caption -> speech): the Transformer writes speech tokens for a held-out caption (with the
  evaluation's speech sampling settings), the codec decodes them, and the independent :class:`~examples.world.speech.SpeechJudge`
  (trained on true speech only) hears which shape, colour and cell were said.

Beside them: the judge on the true held-out speech (its ceiling) and on the codec's reconstructions of it (what a
perfect token generator could reach), and the same figures on combinations training never showed.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from examples.world.judge import attribute_accuracy
from examples.world.scenes import World
from examples.world.speech import SpeechBank, SpeechJudge, WorldSpeech

SPEECH = "speech"


@dataclasses.dataclass
class SpeechEvaluation:
    """Held-out speech figures (accuracy dicts as :func:`attribute_accuracy` gives them).

    Attributes:
        understanding: caption accuracy on held-out speech (``exact`` is the headline).
        generation: judge-read attribute accuracy of speech generated from held-out captions.
        judge_true, judge_reconstructed: the judge on the true held-out speech and on the codec's reconstructions.
        unseen: the same figures on combinations training never showed (empty when there are none).
        samples: ``{"caption", "written"}`` pairs for the report.
        seconds: wall time per direction.
    """

    understanding: dict[str, float]
    generation: dict[str, float]
    judge_true: dict[str, float]
    judge_reconstructed: dict[str, float]
    unseen: dict[str, dict[str, float]]
    utterances: int
    samples: list[dict[str, str]]
    seconds: dict[str, float]


def encode_speech(codec: Any, waves: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Codec tokens of ``waves`` [N, 1, S]: LongTensor [N, frames(, levels)]."""
    with torch.no_grad():
        return torch.cat([codec.encode(chunk) for chunk in waves.split(batch_size)]).long().cpu()


def decode_speech(codec: Any, tokens: torch.Tensor, samples: int, batch_size: int = 64) -> torch.Tensor:
    """Waveforms [N, 1, samples] decoded from ``tokens``, clamped to [-1, 1] and cut to ``samples``."""
    with torch.no_grad():
        waves = torch.cat([codec.decode(chunk) for chunk in tokens.split(batch_size)]).float()
    return waves[..., :samples].clamp(-1, 1)


@torch.no_grad()
def evaluate_speech(
    backend: Any,
    codec: Any,
    judge: SpeechJudge,
    world: World,
    bank: SpeechBank,
    settings: Any,
    levels: int | None = None,
) -> SpeechEvaluation:
    """Score both speech directions on ``settings.scenes`` held-out scenes (``settings``: ``WorldEvalSettings``);
    ``levels``: the residual levels the Transformer reads and writes (None: all of the codec's)."""
    from examples.world.evaluation import unseen_figures, write_captions

    held_out = WorldSpeech(world, settings.split, settings.scenes, bank)
    tokens = encode_speech(codec, held_out.waves)
    tokens = tokens[..., :levels] if levels is not None and tokens.ndim == 3 else tokens
    truth, labels = held_out.captions, held_out.labels
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    written, understanding = write_captions(backend, SPEECH, tokens, truth, labels, settings.batch_size)
    seconds["understanding"] = time.perf_counter() - start

    start = time.perf_counter()
    generator = torch.Generator().manual_seed(settings.seed)
    grid = tuple(tokens.shape[1:2])
    generated = []
    for i in range(0, len(truth), settings.batch_size):
        prompts = [[caption] for caption in truth[i : i + settings.batch_size]]
        spans = backend.media(prompts, SPEECH, grid, settings.sampling(SPEECH), generator)
        generated.append(torch.cat([span.tokens.reshape(1, *tokens.shape[1:]) for span in spans]))
    samples = held_out.waves.shape[-1]
    judged = judge.read(decode_speech(codec, torch.cat(generated), samples))
    generation = attribute_accuracy(judged, labels)
    seconds["generation"] = time.perf_counter() - start

    judged_true = judge.read(held_out.waves)
    judged_reconstructed = judge.read(decode_speech(codec, tokens, samples))
    unseen = unseen_figures(world, written, truth, labels, judged)
    shown = [{"caption": truth[i], "written": written[i]} for i in range(min(settings.samples_shown, len(truth)))]
    return SpeechEvaluation(
        understanding=understanding,
        generation=generation,
        judge_true=attribute_accuracy(judged_true, labels),
        judge_reconstructed=attribute_accuracy(judged_reconstructed, labels),
        unseen=unseen,
        utterances=len(truth),
        samples=shown,
        seconds=seconds,
    )
