"""Fresh random draws for the op tests (the seed is in every failure message) and the near-tie rule."""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import Tensor

NEAR_TIE_RELATIVE = 1e-6


def fresh_generator() -> tuple[torch.Generator, int]:
    """A generator seeded from the OS, and its seed (so a failure can be replayed)."""
    seed = random.SystemRandom().randrange(2**31)
    return torch.Generator().manual_seed(seed), seed


def clear_winners(x: Tensor, codebook: Tensor, metric: str) -> tuple[Tensor, Tensor]:
    """(brute-force nearest index [N], mask [N] of rows whose two nearest codes are not a near-tie).

    Distances are taken in float64 from the values the ops see. A near-tie is a gap between the two nearest codes
    below 1e-6 relative to the scale float32 rounds at: ||x||^2 + ||c||^2 for l2, 1 for cosine (unit vectors).
    """
    x, codebook = x.double(), codebook.double()
    if metric == "cosine":
        x, codebook = F.normalize(x, dim=1), F.normalize(codebook, dim=1)
        dist, scale = 1 - x @ codebook.T, torch.ones(x.shape[0], dtype=torch.float64)
    else:
        dist = torch.cdist(x, codebook) ** 2
        scale = (x * x).sum(1) + (codebook * codebook).sum(1).max()
    best = dist.argmin(1)
    if codebook.shape[0] == 1:
        return best, torch.ones(x.shape[0], dtype=torch.bool)
    two = dist.topk(2, dim=1, largest=False).values
    return best, (two[:, 1] - two[:, 0]) > NEAR_TIE_RELATIVE * scale.clamp_min(1e-30)


def device_for(backend: str) -> torch.device:
    """Where a test runs a backend: the Triton kernel on the GPU when there is one (else interpreted on the CPU)."""
    return torch.device("cuda" if backend == "triton" and torch.cuda.is_available() else "cpu")
