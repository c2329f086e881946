"""Binary spherical quantization (BSQ; Zhao et al., 2024, "Image and Video Tokenization with Binary Spherical
Quantization", the QLIP / BSQ-ViT tokenizers).

LFQ on the unit sphere: the projected latent u is l2-normalised and each channel's sign becomes one bit, the code
being ``sign(u) / sqrt(d)`` (so codes have unit norm too, and the quantization error ||u - c|| is bounded whatever
the encoder's scale). Index bits, entropy terms (per-sample minus ``diversity_gamma`` x batch entropy over
groups of bits, factorized per bit, global batch under data parallelism) and decoding are
:class:`~omnitok.quantizers.LookupFreeQuantizer`'s with ``codebook_scale = 1 / sqrt(d)``, which is also
vector-quantize-pytorch's ``LFQ(spherical=True)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from omnitok.ops.backend import Backend
from omnitok.quantizers.lfq import LookupFreeQuantizer


class BinarySphericalQuantizer(LookupFreeQuantizer):
    """BSQ with 2^codebook_bits implicit codes on the unit sphere.

    Args:
        dim: channels of the latents.
        codebook_bits: bits per token d (codebook size 2^d); projections are added when ``dim`` differs.
        entropy_weight: weight of the entropy loss.
        diversity_gamma: weight of the batch-entropy term inside it.
        commitment_weight: weight of ||u - sg(c)||^2 (u the normalised latent).
        inv_temperature: sharpness of the softmax over codes (logits ``2 inv_temperature u . c``).
        entropy_group_bits: bits per entropy group, see :class:`~omnitok.quantizers.LookupFreeQuantizer`.
        backend: LFQ op backend.
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
        backend: Backend = "auto",
    ):
        super().__init__(
            dim,
            codebook_bits,
            entropy_weight=entropy_weight,
            diversity_gamma=diversity_gamma,
            commitment_weight=commitment_weight,
            inv_temperature=inv_temperature,
            entropy_group_bits=entropy_group_bits,
            codebook_scale=codebook_bits**-0.5,
            backend=backend,
        )

    def to_code_space(self, x: Tensor) -> Tensor:
        """x [N, dim] -> unit vectors u [N, codebook_bits] (zero rows stay zero)."""
        return F.normalize(self.project_in(x), dim=1, eps=1e-6)
