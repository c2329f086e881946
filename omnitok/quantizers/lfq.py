"""Lookup-free quantization (MAGVIT-v2, Yu et al., 2023): each channel becomes one sign bit, 2^bits implicit codes.

Index bits are most-significant first (channel 0 is the top bit), matching vector-quantize-pytorch's ``LFQ``.
The entropy loss (per-sample entropy minus ``diversity_gamma`` x codebook entropy) is computed over groups of
``entropy_group_bits`` bits, each with its own 2^group softmax; with one group it is exactly MAGVIT-v2's loss.
:func:`omnitok.ops.lfq_entropy_terms` factorizes that softmax over bits, so no N x 2^group matrix is ever built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.distributed import global_mean
from omnitok.ops.backend import Backend
from omnitok.ops.lfq import lfq_entropy_terms, lfq_quantize
from omnitok.quantizers.base import FlatQuantized, Quantizer
from omnitok.utils import entropy

_MAX_GROUP_BITS = 12


def _default_group_bits(bits: int) -> int:
    return max(g for g in range(1, min(bits, _MAX_GROUP_BITS) + 1) if bits % g == 0)


class LookupFreeQuantizer(Quantizer):
    """LFQ with MAGVIT-v2's entropy regulariser.

    Args:
        dim: channels of the latents.
        codebook_bits: bits per token d (codebook size 2^d); projections are added when ``dim`` differs.
        entropy_weight: weight of the entropy loss.
        diversity_gamma: weight of the codebook-entropy term inside it.
        commitment_weight: weight of ||z - sg(q)||^2.
        inv_temperature: sharpness of the softmax over codes that the entropies are taken of.
        entropy_group_bits: bits per entropy group (must divide ``codebook_bits``); None picks the largest
            divisor up to 12 (exact MAGVIT-v2 loss up to 2^12 codes).
        codebook_scale: code values are +-codebook_scale.
        backend: LFQ op backend, see :func:`omnitok.ops.lfq_quantize` and :func:`omnitok.ops.lfq_entropy_terms`.
    """

    def __init__(
        self,
        dim: int,
        codebook_bits: int,
        entropy_weight: float = 0.1,
        diversity_gamma: float = 1.0,
        commitment_weight: float = 0.25,
        inv_temperature: float = 100.0,
        entropy_group_bits: int | None = None,
        codebook_scale: float = 1.0,
        backend: Backend = "auto",
    ):
        super().__init__()
        if not 1 <= codebook_bits <= 30:
            raise ValueError(f"codebook_bits must be in [1, 30] (up to 2^30 codes), got {codebook_bits}")
        group_bits = entropy_group_bits or _default_group_bits(codebook_bits)
        if codebook_bits % group_bits:
            raise ValueError(f"entropy_group_bits={group_bits} must divide codebook_bits={codebook_bits}")
        self.dim, self.codebook_bits, self.codebook_size = dim, codebook_bits, 2**codebook_bits
        self.entropy_weight, self.diversity_gamma = entropy_weight, diversity_gamma
        self.commitment_weight, self.inv_temperature = commitment_weight, inv_temperature
        self.entropy_group_bits, self.codebook_scale, self.backend = group_bits, codebook_scale, backend
        projected = dim != codebook_bits
        self.project_in = nn.Linear(dim, codebook_bits) if projected else nn.Identity()
        self.project_out = nn.Linear(codebook_bits, dim) if projected else nn.Identity()
        self.register_buffer("_bit_values", 2 ** torch.arange(codebook_bits - 1, -1, -1), persistent=False)

    def to_code_space(self, x: Tensor) -> Tensor:
        """x [N, dim] -> the [N, codebook_bits] vectors whose signs are the bits (the input projection)."""
        return self.project_in(x)

    def encode_flat(self, x: Tensor) -> Tensor:
        return lfq_quantize(self.to_code_space(x), scale=self.codebook_scale, backend=self.backend).indices

    def decode_flat(self, indices: Tensor) -> Tensor:
        bits = (indices[:, None] & self._bit_values) != 0
        return self.project_out(torch.where(bits, self.codebook_scale, -self.codebook_scale))

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        xe = self.to_code_space(x)
        signs = lfq_quantize(xe, scale=self.codebook_scale, backend=self.backend)  # exact codes, straight-through
        rows = xe if active is None else xe[active]
        loss = xe.new_zeros(())
        metrics: dict[str, Tensor] = {}
        if self.commitment_weight > 0 and rows.numel():
            loss = loss + self.commitment_weight * F.mse_loss(rows, torch.sign(rows).detach() * self.codebook_scale)
        if self.training and self.entropy_weight > 0:  # entropy_terms is a collective: run it on every rank
            per_sample, codebook = self.entropy_terms(rows)
            if rows.numel():
                loss = loss + self.entropy_weight * (per_sample - self.diversity_gamma * codebook)
            metrics["per_sample_entropy"], metrics["codebook_entropy"] = per_sample.detach(), codebook.detach()
        return FlatQuantized(self.project_out(signs.codes), signs.indices, loss, metrics)

    def entropy_terms(self, xe: Tensor) -> tuple[Tensor, Tensor]:
        """(mean per-sample entropy, entropy of the mean distribution), in nats, averaged over bit groups."""
        terms = lfq_entropy_terms(
            xe,
            group_bits=self.entropy_group_bits,
            inv_temperature=self.inv_temperature,
            scale=self.codebook_scale,
            backend=self.backend,
        )  # never materializes N x 2^group_bits
        per_sample, prob_sum = terms.per_sample, terms.probability_sums  # scalar, (G, 2^g)
        average = global_mean(prob_sum, xe.shape[0])  # the batch-average distribution over all ranks' tokens
        return per_sample, entropy(average).mean()
