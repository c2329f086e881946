"""Finite scalar quantization (Mentzer et al., 2023): each channel is bounded and rounded to a few levels.

The implicit codebook is the product of the per-channel levels, e.g. [8, 8, 8, 5, 5, 5] = 64000 codes; an index
is the mixed-radix number of the per-channel level digits (first channel least significant), matching
vector-quantize-pytorch's ``FSQ``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnitok.quantizers.base import FlatQuantized, Quantizer


class FiniteScalarQuantizer(Quantizer):
    """FSQ with optional projections when ``dim`` differs from the number of levels.

    Args:
        dim: channels of the latents.
        levels: levels per quantized channel (each >= 3), e.g. [8, 8, 8, 5, 5, 5].
        eps: slack in the tanh bound so the outermost levels stay reachable.
    """

    def __init__(self, dim: int, levels: Sequence[int], eps: float = 1e-3):
        super().__init__()
        levels = [int(level) for level in levels]
        if not levels or any(level < 3 for level in levels):
            raise ValueError(f"FSQ levels must each be >= 3, got {levels}")
        if not 0 <= eps < 1 / (max(levels) - 1):
            raise ValueError(f"FSQ eps must be in [0, 1 / (max(levels) - 1)) so no extra level appears, got {eps}")
        self.dim, self.levels, self.eps = dim, levels, eps
        self.codebook_size = math.prod(levels)
        projected = dim != len(levels)
        self.project_in = nn.Linear(dim, len(levels)) if projected else nn.Identity()
        self.project_out = nn.Linear(len(levels), dim) if projected else nn.Identity()
        basis = [math.prod(levels[:i]) for i in range(len(levels))]
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        self.register_buffer("_basis", torch.tensor(basis, dtype=torch.long), persistent=False)

    def _digits_and_codes(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [N, len(levels)] -> (rounded level values centred on 0 with straight-through grads, codes in [-1, 1])."""
        levels = self._levels
        half_l = (levels - 1) * (1 + self.eps) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        bounded = torch.tanh(x + shift) * half_l - offset
        rounded = bounded + (torch.round(bounded) - bounded).detach()
        half_width = torch.floor(levels / 2)
        return rounded, rounded / half_width

    def _index(self, rounded: Tensor) -> Tensor:
        digits = rounded.detach().round().long() + (self._levels.long() // 2)
        return (digits * self._basis).sum(1)

    def codes_from_indices(self, indices: Tensor) -> Tensor:
        """indices [N] -> codes [N, len(levels)] in [-1, 1] (before the output projection)."""
        levels = self._levels.long()
        digits = (indices[:, None] // self._basis) % levels
        half_width = levels // 2
        return (digits - half_width).float() / half_width.float()

    def encode_flat(self, x: Tensor) -> Tensor:
        return self._index(self._digits_and_codes(self.project_in(x))[0])

    def decode_flat(self, indices: Tensor) -> Tensor:
        return self.project_out(self.codes_from_indices(indices))

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        rounded, codes = self._digits_and_codes(self.project_in(x))
        return FlatQuantized(self.project_out(codes), self._index(rounded), x.new_zeros(()))
