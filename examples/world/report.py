"""The captioned world's report: ``report.html`` (self-contained) and ``metrics.json``.

The page states both headline numbers beside their chance levels, the judge's own accuracy (on the true held-out
images and on the tokenizer's reconstructions), the shuffled-caption baseline, generated images beside the captions
that asked for them (with what the judge read), captions written for held-out images, and the setup (steps, sizes,
wall time). Pictures are embedded as PNG data URIs; no scripts, no network.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from examples.world.evaluation import WorldEvaluation
from examples.world.scenes import ATTRIBUTES
from omnitok.report.html import _STYLE
from omnitok.utils import atomic_path

SCHEMA = "omnitok.world/1"
_EXTRA_STYLE = """
.samples { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .8rem; }
.samples figure { margin: 0; } .samples img { width: 96px; height: 96px; image-rendering: pixelated; }
.ok { color: #176b2c; } .bad { color: #b3261e; } .headline td:first-child { font-weight: 600; }
"""


def metrics_document(evaluation: WorldEvaluation, setup: dict[str, Any]) -> dict[str, Any]:
    """The ``metrics.json`` content: headline, every accuracy table, chance, settings and setup."""
    return {
        "schema": SCHEMA,
        "headline": evaluation.headline(),
        "understanding": evaluation.understanding,
        "generation": evaluation.generation,
        "chance": evaluation.chance,
        "judge_true_heldout": evaluation.judge_true,
        "judge_reconstructed_heldout": evaluation.judge_reconstructed,
        "shuffled_captions": evaluation.shuffled_captions,
        "unseen_combinations": evaluation.unseen,
        "heldout_scenes": evaluation.scenes,
        **({"speech": _speech_document(evaluation.speech)} if evaluation.speech is not None else {}),
        "evaluation": {**vars(evaluation.settings), "seconds": evaluation.seconds},
        "setup": setup,
    }


def _speech_document(speech: Any) -> dict[str, Any]:
    return {
        "understanding": speech.understanding,
        "generation": speech.generation,
        "judge_true_heldout": speech.judge_true,
        "judge_reconstructed_heldout": speech.judge_reconstructed,
        "unseen_combinations": speech.unseen,
        "heldout_utterances": speech.utterances,
        "seconds": speech.seconds,
    }


def _headline_table(table_id: str, rows: list[tuple[str, str, float, float]]) -> str:
    """A headline table: (direction, measure, held-out value, chance) per row, with the ratio to chance."""
    body = "".join(
        f"<tr><td>{html.escape(direction)}</td><td>{html.escape(measure)}</td><td>{_percent(value)}</td>"
        f"<td>{_percent(chance)}</td><td>{value / chance:.1f}</td></tr>"
        for direction, measure, value, chance in rows
    )
    head = "<th>direction</th><th>measure</th><th>held-out</th><th>chance</th><th>x chance</th>"
    return f'<table class="headline" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _sampling_label(config: Any) -> str:
    """How a direction sampled: "greedy" or "temperature T", and the guidance scale when there is guidance."""
    how = "greedy" if config.temperature == 0 else f"temperature {config.temperature:g}"
    return how + (f", CFG {config.cfg_scale:g}" if config.cfg_scale != 1.0 else "")


def _speech_html(speech: Any, chance: dict[str, float], sampling: Any) -> list[str]:
    """The speech directions: headline rows, the per-attribute table, combinations never seen, captions written."""
    parts = [
        "<h2>Speech</h2>",
        _headline_table(
            "speech-headline",
            [
                ("speech → caption", "exact-match caption", speech.understanding["exact"], chance["exact"]),
                (
                    f"caption → speech ({_sampling_label(sampling)})",
                    "attribute accuracy (speech judge)",
                    speech.generation["mean_attribute"],
                    chance["mean_attribute"],
                ),
            ],
        ),
        (
            '<p class="note">Held-out captions are spoken in voices (speeds, pitches) training never heard. Generated '
            "speech is decoded by the speech codec and read by an independent log-mel classifier trained on true "
            "speech only.</p>"
        ),
    ]
    rows = [
        ("speech → caption: caption written for held-out speech", speech.understanding),
        ("caption → speech: speech judge reading of the generated speech", speech.generation),
        ("speech judge on the true held-out speech (ceiling)", speech.judge_true),
        ("speech judge on the codec's reconstructions", speech.judge_reconstructed),
        ("chance (uniform guessing)", chance),
    ]
    parts.append(_accuracy_table("Speech accuracy per attribute", rows))
    if speech.unseen:
        count = int(speech.unseen["scenes"]["count"])
        unseen_rows = [(f"speech {k} ({count} scenes)", v) for k, v in speech.unseen.items() if k != "scenes"]
        parts.append(_accuracy_table("Speech: combinations never seen in training", unseen_rows))
    parts.append("<h2>Captions written for held-out speech</h2><ul>")
    for item in speech.samples:
        cls = "ok" if item["written"] == item["caption"] else "bad"
        parts.append(
            f'<li>heard: {html.escape(item["caption"])} — wrote: <span class="{cls}">{html.escape(item["written"])}'
            "</span></li>"
        )
    parts.append("</ul>")
    return parts


def _png(image: Tensor, side: int = 96) -> str:
    """uint8 [3, H, W] -> a PNG data URI, upscaled (nearest neighbour) to about ``side`` pixels."""
    from torchvision.io import encode_png

    scale = max(1, side // max(image.shape[-2:]))
    big = image.repeat_interleave(scale, 1).repeat_interleave(scale, 2).contiguous()
    return "data:image/png;base64," + base64.b64encode(encode_png(big).numpy().tobytes()).decode("ascii")


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _accuracy_table(title: str, rows: list[tuple[str, dict[str, float]]], note: str = "") -> str:
    columns = [*ATTRIBUTES, "mean_attribute", "exact"]
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in ["", *columns])
    body = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{_percent(values[c]) if c in values else '—'}</td>" for c in columns)
        + "</tr>"
        for name, values in rows
    )
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<h2>{html.escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note_html}"


def render_world_html(evaluation: WorldEvaluation, setup: dict[str, Any]) -> str:
    """The whole page as a string."""
    e, chance = evaluation, evaluation.chance
    headline = e.headline()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>omnitok captioned world</title>",
        f"<style>{_STYLE}{_EXTRA_STYLE}</style></head><body>",
        "<h1>Captioned world: understanding and generation</h1>",
        f'<p class="subtitle">{html.escape(str(setup.get("world", "")))}. {e.scenes} held-out scenes ("{e.settings.split}" split).</p>',
        _headline_table(
            "headline",
            [
                (
                    "understanding (image → caption)",
                    "exact-match caption",
                    headline["understanding_exact"],
                    chance["exact"],
                ),
                (
                    f"generation (caption → image, {_sampling_label(e.settings.sampling())})",
                    "attribute accuracy (judge)",
                    headline["generation_attribute_accuracy"],
                    chance["mean_attribute"],
                ),
            ],
        ),
        (
            '<p class="note">Chance = uniform guessing over the grammar (3 shapes, 4 colours, 4 cells; 48 captions), which '
            "is how held-out scenes are drawn. Generated images are read by an independent CNN trained on true scenes "
            "only, never by the Transformer itself.</p>"
        ),
    ]
    rows = [
        ("understanding: caption written for a held-out image", e.understanding),
        ("generation: judge reading of the generated image", e.generation),
        ("judge on the true held-out images (ceiling)", e.judge_true),
        ("judge on the tokenizer's reconstructions", e.judge_reconstructed),
        ("baseline: true image vs a shuffled caption", e.shuffled_captions),
        ("chance (uniform guessing)", e.chance),
    ]
    parts.append(_accuracy_table("Accuracy per attribute", rows))
    if e.unseen:
        count = int(e.unseen["scenes"]["count"])
        unseen_rows = [(f"{k} ({count} scenes)", v) for k, v in e.unseen.items() if k != "scenes"]
        parts.append(_accuracy_table("Combinations never seen in training", unseen_rows))

    parts.append("<h2>Generated images</h2><div class=samples>")
    for sample in e.samples:
        marks = " ".join(
            f'<span class="{"ok" if ok else "bad"}">{html.escape(word)}</span>'
            for ok, word in zip(sample["right"], _split_reading(sample["judged"]))
        )
        parts.append(
            f'<figure><img src="{_png(sample["image"])}" alt="{html.escape(sample["caption"])}">'
            f"<figcaption>asked: {html.escape(sample['caption'])}<br>judge: {marks}</figcaption></figure>"
        )
    parts.append("</div><h2>Captions written for held-out images</h2><div class=samples>")
    for item in e.captions:
        cls = "ok" if item["written"] == item["truth"] else "bad"
        parts.append(
            f'<figure><img src="{_png(item["image"])}" alt="{html.escape(item["truth"])}">'
            f'<figcaption>wrote: <span class="{cls}">{html.escape(item["written"])}</span><br>'
            f"truth: {html.escape(item['truth'])}</figcaption></figure>"
        )
    parts.append("</div>")
    if e.speech is not None:
        parts += _speech_html(e.speech, chance, e.settings.sampling("speech"))
    items = [(key, json.dumps(value) if not isinstance(value, str) else value) for key, value in setup.items()]
    items.append(("evaluation", json.dumps({**vars(e.settings), "seconds": e.seconds})))
    rows_html = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items)
    parts.append(f'<h2>Setup</h2><dl class="protocol" id="setup">{rows_html}</dl>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _split_reading(reading: str) -> list[str]:
    """The judge's reading "circle red top left" -> ["circle", "red", "top left"] (cells have two words)."""
    words = reading.split(" ", 2)
    return words if len(words) == 3 else [reading, "", ""]


def write_world_report(evaluation: WorldEvaluation, setup: dict[str, Any], out: str | os.PathLike) -> Path:
    """Write ``report.html`` and ``metrics.json`` into the folder ``out`` (each file atomically); returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    document = json.dumps(metrics_document(evaluation, setup), indent=2, allow_nan=False, default=_jsonable)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(document + "\n", encoding="utf-8")
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(render_world_html(evaluation, setup), encoding="utf-8")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write a {type(value).__name__} to metrics.json")
