"""Exponential moving average of a model's weights (buffers such as EMA codebooks are copied, not averaged).

Under FSDP the average is sharded into the same units as the model and each process averages its own shards."""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEma(nn.Module):
    """Holds ``average``, a frozen copy of a model whose parameters track it with decay ``decay``.

    The effective decay warms up as ``min(decay, (1 + step) / (10 + step))`` so early averages are not dominated
    by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.average = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        averaged = [_local(p) for p in self.average.parameters()]
        current = [_local(p.detach()) for p in model.parameters()]
        torch._foreach_lerp_(averaged, [c.to(a.dtype) for a, c in zip(averaged, current)], 1.0 - decay)
        for mine, theirs in zip(self.average.buffers(), model.buffers()):
            mine.copy_(theirs)

    def train(self, mode: bool = True) -> WeightEma:
        super().train(mode)
        self.average.eval()
        return self


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """This process's shard of a weight under FSDP (the average is sharded as the model is, so shards line up)."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor
