"""Generation through a Hugging Face model's own ``generate`` with omnitok's span constraints.

:class:`SpanConstraint` is a ``transformers`` logits processor that reads each row's ids so far: inside a media span
(after a begin token with no end yet) the next cell comes from the same :func:`~omnitok.unified.packing.span_layout`
that packing and unpacking use, so a code cell allows only that tokenizer level's ids, a separator cell forces the
separator and the cell after the grid forces the end token; outside spans the text ids, eos and (when allowed) the
begin tokens of tokenizers with a known grid are left to the LM, everything else (codes, separators, padding rows of
the embedding table) is masked. :class:`SpanGuidance` is classifier-free guidance on media cells
(:func:`~omnitok.unified.sampling.guide`), running the unconditional prompt with its own cache.
:func:`generate_media` / :func:`generate_text` wrap ``model.generate`` and return MediaSpans / text;
:func:`decode_spans` turns spans back into media with their tokenizers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from omnitok.errors import ConfigError, ShapeError
from omnitok.unified.hf_vocabulary import check_extendable, require_transformers
from omnitok.unified.layout import FREE, SpanLayout
from omnitok.unified.packing import span_layout
from omnitok.unified.sampling import GenerationConfig, guide
from omnitok.unified.spans import MediaSpan
from omnitok.unified.vocabulary import SharedVocabulary

Segment = str | MediaSpan


@dataclasses.dataclass(frozen=True)
class SpanState:
    """Where a row stands: outside any span (``name`` None), or at cell ``cell`` of ``name``'s span."""

    name: str | None = None
    cell: int = 0


class SpanConstraint:
    """Logits processor (``transformers.LogitsProcessor`` interface): media spans follow the vocabulary's layout.

    Args:
        vocab: the shared vocabulary the model was extended with.
        grids: name -> grid of the spans to generate (default: the vocabulary's fixed grids).
        open_spans: outside spans, may the LM open a span itself (begin tokens of tokenizers with a grid)?
    """

    def __init__(
        self, vocab: SharedVocabulary, grids: Mapping[str, Sequence[int]] | None = None, open_spans: bool = True
    ):
        check_extendable(vocab)
        self.vocab, self.open_spans = vocab, bool(open_spans)
        self.grids = {n: vocab.fixed_grid(n) for n in vocab.names if vocab.fixed_grid(n) is not None}
        self.grids.update({n: tuple(int(g) for g in grid) for n, grid in (grids or {}).items()})
        self.layouts: dict[str, SpanLayout] = {n: span_layout(vocab, n, g) for n, g in self.grids.items()}
        self._begin = {vocab.begin_id(n): n for n in vocab.names}
        self._begin_ids = torch.tensor(list(self._begin))
        self._masks: dict[tuple[str, int], Tensor] = {}

    def state(self, ids: Tensor) -> SpanState:
        """The state after one row's ids [n] (prompt and generated tokens)."""
        at = torch.isin(ids, self._begin_ids.to(ids.device)).nonzero()
        if not len(at):
            return SpanState()
        start = int(at[-1])
        name = self._begin[int(ids[start])]
        after = ids[start + 1 :]
        if bool((after == self.vocab.end_id(name)).any()):
            return SpanState()
        if name not in self.layouts:
            raise ConfigError(f"a {name!r} span is open but its grid is unknown; pass grids={{{name!r}: (...)}}")
        return SpanState(name, len(after))

    def allowed(self, state: SpanState, width: int) -> Tensor:
        """bool [width]: the ids the next token may take in ``state`` (width: the model's logits)."""
        if state.name is None:
            key = ("", 0)
        else:
            layout = self.layouts[state.name]
            if state.cell >= len(layout.forced):
                key = ("force", self.vocab.end_id(state.name))
            elif int(layout.forced[state.cell, 0]) != FREE:
                key = ("force", int(layout.forced[state.cell, 0]))
            else:
                key = (state.name, int(layout.level[state.cell, 0]))
        if key not in self._masks:
            self._masks[key] = self._mask(key, width)
        return self._masks[key]

    def _mask(self, key: tuple[str, int], width: int) -> Tensor:
        vocab = self.vocab
        if width < vocab.size:
            raise ShapeError(f"the model gives {width} logits, fewer than the vocabulary's {vocab.size} ids")
        mask = torch.zeros(width, dtype=torch.bool)
        kind, value = key
        if kind == "force":
            mask[value] = True
        elif kind:
            r = vocab.range_of(kind, value)
            mask[r.start : r.stop] = True
        else:
            mask[: vocab.text.size] = True
            mask[vocab.eos_id] = True
            if self.open_spans:
                mask[[vocab.begin_id(n) for n in self.layouts]] = True
        return mask

    def in_media_cell(self, state: SpanState) -> bool:
        """True at a code cell of a span (where guidance applies)."""
        if state.name is None:
            return False
        layout = self.layouts[state.name]
        return state.cell < len(layout.forced) and int(layout.forced[state.cell, 0]) == FREE

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        states = [self.state(row) for row in input_ids]
        mask = torch.stack([self.allowed(s, scores.shape[-1]) for s in states]).to(scores.device)
        return scores.masked_fill(~mask, float("-inf"))


class SpanGuidance:
    """Logits processor: classifier-free guidance at media code cells, cond + (scale - 1) * (cond - uncond).

    The unconditional rows (``negative_ids`` [B, n], left-padded, with ``negative_mask``) continue with the tokens the
    conditional rows generate, through the model's own cache. Greedy search and sampling only (no beams).
    """

    def __init__(
        self, model: Any, constraint: SpanConstraint, scale: float, negative_ids: Tensor, negative_mask: Tensor
    ):
        self.model, self.constraint, self.scale = model, constraint, float(scale)
        self.ids, self.mask = negative_ids, negative_mask.long()
        self.cache: Any = None
        self.seen = 0  # conditional tokens generated so far

    def _uncond_logits(self, input_ids: Tensor) -> Tensor:
        device = input_ids.device
        if self.cache is None:
            new, mask = self.ids.to(device), self.mask.to(device)
        else:
            new, mask = input_ids[:, -1:], torch.cat([self.mask.to(device), self.mask.new_ones(len(input_ids), 1)], 1)
        self.mask = mask
        positions = (mask.cumsum(-1) - 1).clamp_min(0)[:, -new.shape[1] :]
        out = self.model(
            input_ids=new, attention_mask=mask, position_ids=positions, past_key_values=self.cache, use_cache=True
        )
        self.cache = out.past_key_values
        return out.logits[:, -1].float()

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        if len(input_ids) != len(self.ids):
            raise ShapeError(f"{len(self.ids)} unconditional rows for {len(input_ids)} rows (beam search?)")
        uncond = self._uncond_logits(input_ids)
        states = [self.constraint.state(row) for row in input_ids]
        media = torch.tensor([self.constraint.in_media_cell(s) for s in states], device=scores.device)
        guided = guide(scores.float(), uncond[:, : scores.shape[-1]], self.scale).to(scores.dtype)
        return torch.where(media[:, None], guided, scores)


def left_pad(vocab: SharedVocabulary, rows: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Id rows -> ids [B, n] left-padded with the pad id, and the attention mask [B, n] (1 = real)."""
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), vocab.pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, length - len(row) :], mask[b, length - len(row) :] = row, 1
    return ids, mask


def _sampling(config: GenerationConfig) -> dict[str, Any]:
    """omnitok's GenerationConfig -> ``generate`` keywords (None top-k/top-p: all tokens, not transformers' 50)."""
    if config.temperature == 0:
        return {"do_sample": False}
    return {
        "do_sample": True,
        "temperature": config.temperature,
        "top_k": config.top_k or 0,
        "top_p": config.top_p or 1.0,
    }


@torch.no_grad()
def generate_media(
    model: Any,
    vocab: SharedVocabulary,
    prompts: Sequence[Sequence[Segment]],
    target: str,
    grid: Sequence[int] | None = None,
    config: GenerationConfig | None = None,
    negative_prompt: Sequence[Segment] | None = None,
) -> list[MediaSpan]:
    """Continue each prompt with a ``target`` span of exactly ``grid`` through ``model.generate``.

    Args:
        model: an extended ``AutoModelForCausalLM``.
        prompts: lists of text and MediaSpans.
        target: a discrete tokenizer name in ``vocab``.
        grid: the span's grid; default the vocabulary's fixed grid for ``target``.
        config: temperature/top-k/top-p and ``cfg_scale`` (seed with ``torch.manual_seed``).
        negative_prompt: the unconditional prompt of guidance (default empty); giving one turns guidance on.

    Returns:
        one MediaSpan per prompt: tokens [1, *grid(, Q)], ready for the tokenizer's ``decode``.
    """
    require_transformers()
    from transformers import LogitsProcessorList

    config = config or GenerationConfig()
    if not prompts:
        raise ConfigError("generate_media needs at least one prompt")
    if not vocab.spec(target).discrete:
        raise ConfigError(f"{target!r} is continuous: a causal LM cannot generate its latents")
    grid = tuple(grid) if grid is not None else vocab.fixed_grid(target)
    if grid is None:
        raise ConfigError(f"generating {target!r} needs grid=(...) (the vocabulary has no fixed grid for it)")
    constraint = SpanConstraint(vocab, {target: grid}, open_spans=False)
    cells = len(constraint.layouts[target].forced) + 1  # the grid's cells and the end token
    begin = torch.tensor([vocab.begin_id(target)])
    ids, mask = left_pad(vocab, [torch.cat([vocab.pack(p, eos=False).ids, begin]) for p in prompts])
    processors: list[Any] = [constraint]
    if config.cfg_scale != 1.0 or negative_prompt is not None:
        uncond = torch.cat([vocab.pack(list(negative_prompt or []), eos=False).ids, begin])
        neg_ids, neg_mask = left_pad(vocab, [uncond] * len(prompts))
        processors.insert(0, SpanGuidance(model, constraint, config.cfg_scale, neg_ids, neg_mask))
    device = model.get_input_embeddings().weight.device
    out = model.generate(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        logits_processor=LogitsProcessorList(processors),
        max_new_tokens=cells,
        pad_token_id=vocab.pad_id,
        eos_token_id=vocab.end_id(target),
        repetition_penalty=1.0,  # codes repeat legitimately; an LM's default penalty would bend the media
        **_sampling(config),
    )
    spans = []
    for row in out[:, ids.shape[1] :].cpu():
        (span,) = vocab.unpack(torch.cat([begin, row]))
        spans.append(span)
    return spans


@torch.no_grad()
def generate_text(
    model: Any,
    vocab: SharedVocabulary,
    prompts: Sequence[Sequence[Segment]],
    config: GenerationConfig | None = None,
    stop_ids: Sequence[int] = (),
) -> list[str]:
    """Continue each prompt with text (no media spans) until the vocabulary's eos, the model's own eos
    (``generation_config.eos_token_id``), a ``stop_ids`` token or ``config.max_text_tokens``; returns the decoded
    text of each."""
    require_transformers()
    from transformers import LogitsProcessorList

    config = config or GenerationConfig()
    if not prompts:
        raise ConfigError("generate_text needs at least one prompt")
    ids, mask = left_pad(vocab, [vocab.pack(p, eos=False).ids for p in prompts])
    own = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    own = [] if own is None else [own] if isinstance(own, int) else list(own)
    stops = list(dict.fromkeys([vocab.eos_id, *[int(s) for s in stop_ids], *own]))
    device = model.get_input_embeddings().weight.device
    out = model.generate(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        logits_processor=LogitsProcessorList([SpanConstraint(vocab, open_spans=False)]),
        max_new_tokens=config.max_text_tokens,
        pad_token_id=vocab.pad_id,
        eos_token_id=stops,
        **_sampling(config),
    )
    texts = []
    for row in out[:, ids.shape[1] :].tolist():
        end = next((i for i, t in enumerate(row) if t in stops or t == vocab.pad_id), len(row))
        texts.append(vocab.text.decode(row[:end]))
    return texts


def decode_spans(spans: Sequence[MediaSpan], tokenizers: Mapping[str, Any]) -> list[Tensor]:
    """Each span's media: ``tokenizers[span.name].decode(span.tokens)`` ([1, C, ...] in the tokenizer's format)."""
    out = []
    for span in spans:
        if span.name not in tokenizers:
            raise ConfigError(f"no tokenizer given for {span.name!r}; have {sorted(tokenizers)}")
        out.append(tokenizers[span.name].decode(span.tokens))
    return out
