"""Extending a Hugging Face causal LM with a shared vocabulary: added tokens and resized embeddings.

The vocabulary's text side is the LM's own tokenizer (``HFTextVocabulary``), so its text ids are the LM's. Every
id past them (pad, bos, eos, row and frame separators, begin/end per tokenizer, one id per code of each level) is
added to the tokenizer as a special token, in id order, so token ``<|omnitok_image_q0_17|>`` gets exactly
``vocab.range_of("image", 0)[17]`` (tokenizers sharing a codebook share its tokens, named by the group:
``<|omnitok_image+audio_q0_17|>``). Multi-codebook tokenizers use the flattened layout (one head): the delayed
layout's parallel streams need one head per stream and are refused.

Embedding rule (stated, tested): the rows of every id from the first added id up to the resized table's end are
drawn from N(mean, covariance_scale * covariance), the mean and covariance of the text rows [0, T) of the same
matrix (input and output separately; a tied matrix once, and it stays tied). ``covariance_scale=1`` gives new rows
the statistics of the old ones; a small scale (e.g. 1e-9, transformers' ``mean_resizing``) puts them at the mean.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.unified.vocabulary import SharedVocabulary


def require_transformers() -> Any:
    """Import transformers, or raise the one-line install hint (``omnitok.extras``)."""
    from omnitok.extras import require

    return require("transformers", "a Hugging Face causal LM as the unified Transformer")


def token_names(vocab: SharedVocabulary) -> list[str]:
    """The added tokens' strings, one per id in [text size, vocab.size), in id order."""
    check_extendable(vocab)
    names: dict[int, str] = {
        vocab.pad_id: "<|omnitok_pad|>",
        vocab.bos_id: "<|omnitok_bos|>",
        vocab.eos_id: "<|omnitok_eos|>",
        vocab.row_sep_id: "<|omnitok_row|>",
        vocab.frame_sep_id: "<|omnitok_frame|>",
    }
    for name in vocab.names:
        names[vocab.begin_id(name)] = f"<|omnitok_begin_{name}|>"
        names[vocab.end_id(name)] = f"<|omnitok_end_{name}|>"
        codebook = vocab.codebook_of(name)  # a shared codebook's ids get their group's name, once
        for level in range(vocab.spec(name).num_levels):
            for code, i in enumerate(vocab.range_of(name, level)):
                names[i] = f"<|omnitok_{codebook}_q{level}_{code}|>"
    first = vocab.text.size
    if sorted(names) != list(range(first, vocab.size)):
        raise ConfigError("the vocabulary's added ids are not contiguous after the text ids")  # a layout change
    return [names[i] for i in range(first, vocab.size)]


def check_extendable(vocab: SharedVocabulary) -> None:
    """Raise ConfigError unless ``vocab`` fits a one-head causal LM (flattened layout, discrete tokenizers only)."""
    if vocab.layout != "flattened":
        raise ConfigError(
            "a Hugging Face causal LM has one output head; the delayed layout needs one head per stream. "
            "Build the SharedVocabulary with layout='flattened' (a position's levels become consecutive tokens)"
        )
    continuous = [n for n in vocab.names if vocab.is_continuous(n)]
    if continuous:
        raise ConfigError(
            f"continuous tokenizers {continuous} enter a model through a projection of their latents, which a "
            "Hugging Face causal LM does not have; use discrete tokenizers with it"
        )


def extend_tokenizer(tokenizer: Any, vocab: SharedVocabulary) -> dict[str, int]:
    """Add the vocabulary's tokens to ``tokenizer`` (a transformers tokenizer) with ids equal to the vocabulary's.

    Idempotent: a tokenizer that already holds them (e.g. a saved extended one) is only checked. Returns
    token -> id of the added tokens. Raises ConfigError when the tokenizer's size does not match the text ids.
    """
    names = token_names(vocab)
    first = vocab.text.size
    have = len(tokenizer)
    if have == first:
        tokenizer.add_tokens(names, special_tokens=True)
    elif have != vocab.size:
        raise ConfigError(
            f"the tokenizer has {have} ids; extending it needs exactly the vocabulary's {first} text ids "
            f"(or all {vocab.size} ids of an already extended tokenizer)"
        )
    check_token_ids(tokenizer, vocab, names)
    return {name: first + i for i, name in enumerate(names)}


def check_token_ids(tokenizer: Any, vocab: SharedVocabulary, names: list[str] | None = None) -> None:
    """Raise ConfigError unless every added token of ``vocab`` has its vocabulary id in ``tokenizer``."""
    names = names if names is not None else token_names(vocab)
    ids = tokenizer.convert_tokens_to_ids(names)
    want = list(range(vocab.text.size, vocab.size))
    if ids != want:
        bad = next(k for k, (a, b) in enumerate(zip(ids, want)) if a != b)
        raise ConfigError(f"token {names[bad]!r} has id {ids[bad]} in the tokenizer, the vocabulary's is {want[bad]}")


@dataclasses.dataclass
class EmbeddingInit:
    """The rule for new embedding rows: N(mean, covariance_scale * covariance) of the text rows, seeded."""

    covariance_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.covariance_scale >= 0:
            raise ConfigError(f"covariance_scale must be >= 0, got {self.covariance_scale}")


def extend_embeddings(
    model: Any, vocab: SharedVocabulary, init: EmbeddingInit | None = None, pad_to_multiple_of: int | None = 64
) -> int:
    """Resize ``model``'s input and output embeddings to hold ``vocab.size`` ids (rounded up to
    ``pad_to_multiple_of``; never shrunk) and draw rows [text size, rows) by ``init``. Returns the new row count."""
    check_extendable(vocab)
    init = init or EmbeddingInit()
    inputs = model.get_input_embeddings()
    old = int(inputs.weight.shape[0])
    if old < vocab.text.size:
        raise ConfigError(f"the model embeds {old} ids, fewer than the tokenizer's {vocab.text.size} text ids")
    rows = max(old, vocab.size)
    if pad_to_multiple_of:
        rows = -(-rows // pad_to_multiple_of) * pad_to_multiple_of
    if rows != old:
        model.resize_token_embeddings(rows, mean_resizing=False)
    generator = torch.Generator().manual_seed(init.seed)
    first = vocab.text.size
    inputs = model.get_input_embeddings()
    outputs = model.get_output_embeddings()
    tied = outputs is not None and outputs.weight is inputs.weight
    with torch.no_grad():
        _draw_rows(inputs.weight, first, init.covariance_scale, generator)
        if outputs is not None and not tied:
            _draw_rows(outputs.weight, first, init.covariance_scale, generator)
            bias = getattr(outputs, "bias", None)
            if bias is not None:
                bias[first:] = bias[:first].mean()
    if tied and model.get_output_embeddings().weight is not model.get_input_embeddings().weight:
        raise ConfigError("resizing untied the model's input and output embeddings")  # transformers' tie_weights
    return rows


def _draw_rows(weight: Tensor, first: int, scale: float, generator: torch.Generator) -> None:
    """weight [N, D]: rows [first, N) ~ N(mu, scale * sigma) of rows [0, first); statistics in float64 on the
    weight's device, the noise from ``generator`` on the CPU (same rows on any device)."""
    text = weight[:first].detach().double()
    mean = text.mean(0)
    centered = text - mean
    cov = centered.T @ centered / max(first - 1, 1)  # (D, D)
    dim = cov.shape[0]
    jitter = 1e-10 * float(cov.diagonal().mean().clamp_min(1e-30))
    eye = torch.eye(dim, dtype=torch.float64, device=cov.device)
    factor = torch.linalg.cholesky(scale * cov + jitter * eye)
    noise = torch.randn(weight.shape[0] - first, dim, generator=generator).to(cov.device, torch.float64)
    weight[first:] = (mean + noise @ factor.T).to(weight.dtype)


@dataclasses.dataclass
class ExtendedLM:
    """What :func:`extend_causal_lm` returns: the model and tokenizer (both changed in place) and the ids added."""

    model: Any
    tokenizer: Any
    vocabulary: SharedVocabulary
    added: dict[str, int]


def extend_causal_lm(
    model: Any,
    tokenizer: Any,
    vocab: SharedVocabulary,
    init: EmbeddingInit | None = None,
    pad_to_multiple_of: int | None = 64,
) -> ExtendedLM:
    """Add ``vocab``'s tokens to ``tokenizer`` and resize ``model``'s embeddings for them (see the module rule).

    Also sets the model's ``pad_token_id`` (and its generation config's) to the vocabulary's pad id when unset."""
    require_transformers()
    added = extend_tokenizer(tokenizer, vocab)
    extend_embeddings(model, vocab, init, pad_to_multiple_of)
    for config in (model.config, getattr(model, "generation_config", None)):
        if config is not None and getattr(config, "pad_token_id", None) is None:
            config.pad_token_id = vocab.pad_id
    return ExtendedLM(model, tokenizer, vocab, added)
