"""Grouped (multi-codebook) quantization: channels split into groups, each quantized by its own codebook."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnitok.errors import ConfigError
from omnitok.quantizers.base import FlatQuantized, Quantizer, fresh_copies


class GroupedQuantizer(Quantizer):
    """Splits ``dim`` channels into consecutive groups, one quantizer each; indices gain a last axis of groups.

    Args:
        groups: the group quantizers (their ``dim`` values sum to this quantizer's ``dim``), or one quantizer
            that ``num_groups`` fresh copies are made of.
        num_groups: number of groups when ``groups`` is a single quantizer.
    """

    kind = "grouped"

    def __init__(self, groups: Quantizer | Sequence[Quantizer], num_groups: int | None = None):
        super().__init__()
        quantizers = fresh_copies(groups, num_groups, "groups")
        if len({q.codebook_size for q in quantizers}) != 1:
            raise ConfigError("all groups need the same codebook_size")
        self.groups = nn.ModuleList(quantizers)
        self.group_dims = [q.dim for q in quantizers]
        self.dim, self.codebook_size, self.num_codebooks = sum(self.group_dims), quantizers[0].codebook_size, len(quantizers)

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        outs = [g.quantize_flat(part, active) for g, part in zip(self.groups, x.split(self.group_dims, dim=1))]
        metrics = {f"group{i}/{k}": v for i, out in enumerate(outs) for k, v in out.metrics.items()}
        return FlatQuantized(
            torch.cat([o.quantized for o in outs], dim=1),
            torch.stack([o.indices for o in outs], dim=1),
            sum((o.loss for o in outs), x.new_zeros(())),
            metrics,
        )

    def encode_flat(self, x: Tensor) -> Tensor:
        return torch.stack([g.encode_flat(p) for g, p in zip(self.groups, x.split(self.group_dims, dim=1))], dim=1)

    def decode_flat(self, indices: Tensor) -> Tensor:
        return torch.cat([g.decode_flat(indices[:, i]) for i, g in enumerate(self.groups)], dim=1)
