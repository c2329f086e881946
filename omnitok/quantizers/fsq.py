"""Finite scalar quantization (Mentzer et al., 2023): each channel is bounded and rounded to a few levels.

The implicit codebook is the product of the per-channel levels, e.g. [8, 8, 8, 5, 5, 5] = 64000 codes; an index
is the mixed-radix number of the per-channel level digits (first channel least significant), matching
vector-quantize-pytorch's ``FSQ``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from omnitok.ops.backend import Backend
from omnitok.ops.fsq import fsq_codes_from_indices, fsq_quantize
from omnitok.quantizers.base import FlatQuantized, Quantizer


class FiniteScalarQuantizer(Quantizer):
    """FSQ with optional projections when ``dim`` differs from the number of levels.

    Args:
        dim: channels of the latents.
        levels: levels per quantized channel (each >= 3), e.g. [8, 8, 8, 5, 5, 5].
        eps: slack in the tanh bound so the outermost levels stay reachable.
        backend: FSQ op backend, see :func:`omnitok.ops.fsq_quantize`.
    """

    def __init__(self, dim: int, levels: Sequence[int], eps: float = 1e-3, backend: Backend = "auto"):
        super().__init__()
        levels = [int(level) for level in levels]
        if not levels or any(level < 3 for level in levels):
            raise ValueError(f"FSQ levels must each be >= 3, got {levels}")
        if not 0 <= eps < 1 / (max(levels) - 1):
            raise ValueError(f"FSQ eps must be in [0, 1 / (max(levels) - 1)) so no extra level appears, got {eps}")
        self.dim, self.levels, self.eps, self.backend = dim, levels, eps, backend
        self.codebook_size = math.prod(levels)
        projected = dim != len(levels)
        self.project_in = nn.Linear(dim, len(levels)) if projected else nn.Identity()
        self.project_out = nn.Linear(len(levels), dim) if projected else nn.Identity()

    def codes_from_indices(self, indices: Tensor) -> Tensor:
        """indices [N] -> codes [N, len(levels)] in [-1, 1] (before the output projection)."""
        return fsq_codes_from_indices(indices, self.levels, backend=self.backend)

    def encode_flat(self, x: Tensor) -> Tensor:
        return fsq_quantize(self.project_in(x), self.levels, eps=self.eps, backend=self.backend).indices

    def decode_flat(self, indices: Tensor) -> Tensor:
        return self.project_out(self.codes_from_indices(indices))

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        out = fsq_quantize(self.project_in(x), self.levels, eps=self.eps, backend=self.backend)
        return FlatQuantized(self.project_out(out.codes), out.indices, x.new_zeros(()))
