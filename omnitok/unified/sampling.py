"""Turning next-token logits into tokens: temperature, top-k, top-p (nucleus) and classifier-free guidance."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from omnitok.errors import ConfigError


@dataclasses.dataclass
class GenerationConfig:
    """How :func:`~omnitok.unified.generate` samples.

    Attributes:
        temperature: logits are divided by it; 0 means greedy (argmax).
        top_k: keep the k most likely allowed tokens (None: all).
        top_p: keep the smallest most-likely set whose probability reaches top_p (None: all).
        cfg_scale: classifier-free guidance for media spans: cond + (scale - 1) * (cond - uncond); 1 = no guidance.
        max_text_tokens: the most text tokens a text target produces before stopping without eos.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    cfg_scale: float = 1.0
    max_text_tokens: int = 64

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_text_tokens < 1:
            raise ConfigError(f"max_text_tokens must be >= 1, got {self.max_text_tokens}")


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """logits [N, V] with everything outside the top-k and the top-p nucleus set to -inf.

    top-k keeps every token tied with the k-th largest logit. top-p keeps, in order of probability, each token
    whose preceding probability mass is below ``top_p`` (so the most likely token always stays)."""
    out = logits.clone()
    if top_k is not None and top_k < out.shape[-1]:
        kth = out.topk(top_k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        probs, order = out.softmax(-1).sort(dim=-1, descending=True)
        before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def guide(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: cond + (scale - 1) * (cond - uncond); exactly ``cond`` at scale 1."""
    return cond + (scale - 1.0) * (cond - uncond)


def sample(
    logits: Tensor, allowed: Tensor | None, config: GenerationConfig, generator: torch.Generator | None = None
) -> Tensor:
    """logits [N, V] -> token ids [N], drawn only from ``allowed`` ([V] or [N, V] bool) tokens."""
    logits = logits.float()
    if allowed is not None:
        logits = logits.masked_fill(~allowed.to(logits.device), float("-inf"))
    if config.temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits / config.temperature, config.top_k, config.top_p).softmax(-1)
    if generator is not None and generator.device != probs.device:  # e.g. a CPU generator driving a GPU model
        probs = probs.to(generator.device)
    return torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)
