"""Generation with the unified Transformer: constrained media spans (with classifier-free guidance) and text.

A media target gets its begin token, then exactly its grid: every cell the vocabulary's layout forces (row and
frame separators, stream filler) is fed as is, every code cell is sampled only among that tokenizer level's ids,
and the end token closes the span, so the result always decodes. A text target samples text ids until eos or
``max_text_tokens``. Prompts are left-padded into one batch and decoded incrementally with the KV cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.unified.checkpoint import check_compatible
from omnitok.unified.layout import FREE
from omnitok.unified.model import UnifiedTransformer
from omnitok.unified.packing import span_layout
from omnitok.unified.sampling import GenerationConfig, guide, sample
from omnitok.unified.spans import ContinuousInput, MediaSpan, Packed
from omnitok.unified.vocabulary import SharedVocabulary

Segment = str | MediaSpan


def generate(
    model: UnifiedTransformer,
    vocab: SharedVocabulary,
    prompt: Sequence[Segment],
    target: str,
    grid: Sequence[int] | None = None,
    config: GenerationConfig | None = None,
    negative_prompt: Sequence[Segment] | None = None,
    generator: torch.Generator | None = None,
) -> MediaSpan | str:
    """Continue one prompt with a ``target`` span: a tokenizer name (-> MediaSpan of exactly ``grid``) or "text"."""
    return generate_batch(model, vocab, [prompt], target, grid, config, negative_prompt, generator)[0]


@torch.no_grad()
def generate_batch(
    model: UnifiedTransformer,
    vocab: SharedVocabulary,
    prompts: Sequence[Sequence[Segment]],
    target: str,
    grid: Sequence[int] | None = None,
    config: GenerationConfig | None = None,
    negative_prompt: Sequence[Segment] | None = None,
    generator: torch.Generator | None = None,
) -> list[MediaSpan | str]:
    """Continue each prompt (a list of text and MediaSpans) with a ``target`` span.

    Args:
        target: a discrete tokenizer name in ``vocab`` or "text".
        grid: the media grid; default the vocabulary's fixed grid for ``target``.
        config: sampling settings; cfg_scale applies to media targets.
        negative_prompt: the unconditional prompt for guidance (default: empty); giving one turns guidance on.
        generator: makes sampling deterministic.

    Returns:
        per prompt: a MediaSpan (tokens [1, *grid(, Q)], ready for the tokenizer's decode) or the generated text.
    """
    check_compatible(model, vocab)
    config = config or GenerationConfig()
    if not prompts:
        raise ConfigError("generate_batch needs at least one prompt")
    was_training = model.training
    model.eval()
    try:
        if target == "text":
            if negative_prompt is not None:
                raise ConfigError("classifier-free guidance (negative_prompt) applies to media targets, not text")
            return list(_generate_text(model, vocab, [vocab.pack(p, eos=False) for p in prompts], config, generator))
        return _generate_media(model, vocab, prompts, target, grid, config, negative_prompt, generator)
    finally:
        model.train(was_training)


def _generate_media(
    model: UnifiedTransformer,
    vocab: SharedVocabulary,
    prompts: Sequence[Sequence[Segment]],
    target: str,
    grid: Sequence[int] | None,
    config: GenerationConfig,
    negative_prompt: Sequence[Segment] | None,
    generator: torch.Generator | None,
) -> list[MediaSpan | str]:
    spec = vocab.spec(target)
    if not spec.discrete:
        raise ConfigError(f"{target!r} is continuous: the Transformer reads its latents but cannot generate them")
    grid = tuple(grid) if grid is not None else vocab.fixed_grid(target)
    if grid is None:
        raise ConfigError(f"generating {target!r} needs grid=(...) (the vocabulary has no fixed grid for it)")
    layout = span_layout(vocab, target, grid)
    begin = [
        _with_token(vocab.pack(p, eos=False), vocab, vocab.begin_id(target), vocab.tag_of(target)) for p in prompts
    ]
    guided = config.cfg_scale != 1.0 or negative_prompt is not None
    rows = list(begin)
    if guided:
        uncond = _with_token(vocab.pack(list(negative_prompt or []), eos=False), vocab, vocab.begin_id(target), 0)
        rows += [uncond] * len(begin)
    n = len(begin)
    state = _Decoder(model, vocab, rows)
    levels = spec.num_levels
    allowed = torch.zeros(levels, vocab.size, dtype=torch.bool)
    for q in range(levels):
        r = vocab.range_of(target, q)
        allowed[q, r.start : r.stop] = True
    cells = torch.empty(n, len(layout.forced), vocab.num_streams, dtype=torch.long)
    for i in range(len(layout.forced)):
        logits = state.logits  # (R, S, V)
        if guided:
            logits = guide(logits[:n], logits[n:], config.cfg_scale)
        for s in range(vocab.num_streams):
            forced = int(layout.forced[i, s])
            if forced != FREE:
                cells[:, i, s] = forced
            else:
                level = int(layout.level[i, s])
                cells[:, i, s] = sample(logits[:, s], allowed[level], config, generator).cpu()
        step = cells[:, i].repeat(2, 1) if guided else cells[:, i]
        if i + 1 < len(layout.forced):
            state.step(step, layout.positions[i])
    spans = []
    for b in range(n):
        ids = torch.cat(
            [_special_row(vocab, vocab.begin_id(target)), cells[b], _special_row(vocab, vocab.end_id(target))]
        )
        (span,) = vocab.unpack(ids[:, 0] if vocab.layout == "flattened" else ids)
        spans.append(span)
    return spans


def _generate_text(
    model: UnifiedTransformer,
    vocab: SharedVocabulary,
    rows: list[Packed],
    config: GenerationConfig,
    generator: torch.Generator | None,
) -> list[str]:
    state = _Decoder(model, vocab, rows)
    allowed = torch.zeros(vocab.size, dtype=torch.bool)
    allowed[: vocab.text.size] = True
    allowed[vocab.eos_id] = True
    out: list[list[int]] = [[] for _ in rows]
    done = torch.zeros(len(rows), dtype=torch.bool)
    for i in range(config.max_text_tokens):
        token = sample(state.logits[:, 0], allowed, config, generator).cpu()
        token[done] = vocab.eos_id
        for b in range(len(rows)):
            if not done[b] and token[b] != vocab.eos_id:
                out[b].append(int(token[b]))
        done |= token == vocab.eos_id
        if bool(done.all()) or i + 1 == config.max_text_tokens:
            break
        step = torch.full((len(rows), vocab.num_streams), vocab.pad_id)
        step[:, 0] = token
        state.step(step, torch.tensor([i, 0, 0]))
    return [vocab.text.decode(ids) for ids in out]


class _Decoder:
    """Incremental decoding of a left-padded batch: holds the cache, the attention mask and the next logits."""

    def __init__(self, model: UnifiedTransformer, vocab: SharedVocabulary, rows: list[Packed]):
        self.model, self.vocab = model, vocab
        self.device = next(model.parameters()).device
        batch = vocab.collate(rows, padding_side="left")
        self.attention = batch["attention_mask"].to(self.device)
        positions = batch["positions"]
        self.t0 = positions[:, -1, 0] + 1  # next t of each row (left padding: the last column is real)
        continuous = {
            k: ContinuousInput(v.mask.to(self.device), v.values.to(self.device)) for k, v in batch["continuous"].items()
        }
        self.cache = model.new_cache()
        logits = model(batch["ids"].to(self.device), positions.to(self.device), continuous, self.attention, self.cache)
        self.logits = self._last(logits)

    def _last(self, logits: Tensor) -> Tensor:
        logits = logits[:, -1]
        return logits[:, None] if logits.ndim == 2 else logits  # (R, S, V)

    def step(self, tokens: Tensor, position: Tensor) -> None:
        """Feed one token per row (tokens [R, S]) at ``position`` (t, row, col), t relative to each row's start."""
        rows = tokens.shape[0]
        pos = position.view(1, 1, 3).repeat(rows, 1, 1)
        pos[:, 0, 0] += self.t0
        ids = tokens.view(rows, 1, -1)
        ids = ids[..., 0] if self.vocab.layout == "flattened" else ids
        self.attention = torch.cat([self.attention, self.attention.new_ones(rows, 1)], dim=1)
        logits = self.model(ids.to(self.device), pos.to(self.device), None, self.attention, self.cache)
        self.logits = self._last(logits)


def _with_token(packed: Packed, vocab: SharedVocabulary, token: int, tag: int) -> Packed:
    """``packed`` followed by one special token at the next t."""
    t = int(packed.positions[-1, 0]) + 1 if len(packed) else 0
    row = _special_row(vocab, token)
    ids = torch.cat([packed.ids, row[:, 0] if vocab.layout == "flattened" else row])
    positions = torch.cat([packed.positions, torch.tensor([[t, 0, 0]])])
    return Packed(ids, positions, torch.cat([packed.modality, torch.tensor([tag])]), packed.continuous)


def _special_row(vocab: SharedVocabulary, token: int) -> Tensor:
    """[1, S]: ``token`` in stream 0, pad in the others."""
    row = torch.full((1, vocab.num_streams), vocab.pad_id)
    row[0, 0] = token
    return row
