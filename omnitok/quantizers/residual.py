"""Residual (multi-level) quantization: each level quantizes what the previous levels left over.

Quantizer dropout (SoundStream, DAC) trains one model for several bitrates: in training each sample keeps a
random number of leading levels, and a decoder given only the first q levels still reconstructs. Dropout is per
sample and every level runs on every rank, so data-parallel codebook updates stay in step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnitok.errors import ConfigError
from omnitok.quantizers.base import FlatQuantized, Quantizer, fresh_copies
from omnitok.quantizers.draws import RandomDraws


class ResidualQuantizer(Quantizer):
    """Residual VQ / FSQ / LFQ: ``levels`` quantizers applied in turn to the running residual.

    Args:
        levels: the level quantizers, or one quantizer that ``num_levels`` fresh copies are made of.
        num_levels: number of levels when ``levels`` is a single quantizer.
        level_scales: level i quantizes residual / scale_i and contributes code * scale_i (residual FSQ and LFQ
            use shrinking scales so later levels see a unit-range input); None means 1 for every level.
        dropout: probability that a training sample keeps only a random leading subset of levels.
        min_levels: fewest levels a dropped-out sample keeps.
    """

    kind = "residual"

    def __init__(
        self,
        levels: Quantizer | Sequence[Quantizer],
        num_levels: int | None = None,
        level_scales: Sequence[float] | None = None,
        dropout: float = 0.0,
        min_levels: int = 1,
    ):
        super().__init__()
        quantizers = fresh_copies(levels, num_levels, "levels")
        if len({q.dim for q in quantizers}) != 1 or len({q.codebook_size for q in quantizers}) != 1:
            raise ConfigError("all residual levels need the same dim and codebook_size")
        if level_scales is not None and len(level_scales) != len(quantizers):
            raise ConfigError(f"level_scales has {len(level_scales)} entries for {len(quantizers)} levels")
        if not 0.0 <= dropout <= 1.0 or not 1 <= min_levels <= len(quantizers):
            raise ConfigError(f"need 0 <= dropout <= 1 and 1 <= min_levels <= {len(quantizers)}")
        self.levels = nn.ModuleList(quantizers)
        self.level_scales = [float(s) for s in level_scales] if level_scales is not None else [1.0] * len(quantizers)
        self.dim, self.codebook_size, self.num_codebooks = quantizers[0].dim, quantizers[0].codebook_size, len(quantizers)
        self.dropout, self.min_levels = dropout, min_levels
        self.draws = RandomDraws()

    def _kept_levels(self, n: int, device: torch.device, rows: bool = False) -> Tensor:
        """Levels each of n samples (``rows``: each of n rows) keeps: all, or with probability ``dropout`` a random
        count >= min_levels."""
        kept = torch.full((n,), self.num_codebooks, device=device)
        if self.training and self.dropout > 0:  # drawn per sample (row) by its place in the global batch
            generators = self.draws.per_row(n, device) if rows else self.draws.per_sample(n, device)
            draws = [
                (torch.rand((), generator=g) < self.dropout, torch.randint(self.min_levels, self.num_codebooks + 1, (), generator=g))
                for g in generators
            ]
            if draws:
                drop, random = (torch.stack(values).to(device) for values in zip(*draws))
                kept = torch.where(drop, random, kept)
        return kept

    def quantize_batch(self, x: Tensor, batch_size: int) -> FlatQuantized:
        kept = self._kept_levels(batch_size, x.device).repeat_interleave(x.shape[0] // batch_size)  # per sample
        return self.quantize_flat(x, kept=kept)

    def quantize_flat(self, x: Tensor, active: Tensor | None = None, kept: Tensor | None = None) -> FlatQuantized:
        """``kept`` [N]: levels each row keeps (drawn per row when not given, e.g. inside a grouped quantizer)."""
        kept = self._kept_levels(x.shape[0], x.device, rows=True) if kept is None else kept
        active = torch.ones(x.shape[0], dtype=torch.bool, device=x.device) if active is None else active
        residual, quantized, loss = x, torch.zeros_like(x), x.new_zeros(())
        indices, metrics = [], {}
        for i, (level, scale) in enumerate(zip(self.levels, self.level_scales)):
            level_active = (active & (kept > i))[:, None]
            out = level.quantize_flat(residual / scale, active=level_active[:, 0])
            # each level contributes its straight-through output (so its projections train, as in EnCodec/DAC).
            # The next residual subtracts the exact code values but with the same straight-through gradient, so
            # the chain cancels and the encoder gets the identity once (as in DAC); a detached subtraction gave it
            # the identity once per active level, a gradient scaled by 1..n from sample to sample under dropout.
            step = out.quantized * scale
            code = level.decode_flat(out.indices).detach() * scale + (step - step.detach())
            quantized = quantized + step * level_active
            residual = residual - code * level_active
            loss = loss + out.loss
            indices.append(out.indices)
            metrics.update({f"level{i}/{k}": v for k, v in out.metrics.items()})
        metrics["mean_levels"] = kept.float().mean()
        return FlatQuantized(quantized, torch.stack(indices, dim=1), loss, metrics)

    def encode_flat(self, x: Tensor) -> Tensor:
        residual, indices = x, []
        for level, scale in zip(self.levels, self.level_scales):
            idx = level.encode_flat(residual / scale)
            residual = residual - level.decode_flat(idx) * scale
            indices.append(idx)
        return torch.stack(indices, dim=1)

    def decode_flat(self, indices: Tensor) -> Tensor:
        """indices [N, q] with q <= levels: the sum of the first q levels' codes."""
        total = None
        for i in range(indices.shape[1]):
            codes = self.levels[i].decode_flat(indices[:, i]) * self.level_scales[i]
            total = codes if total is None else total + codes
        return total
