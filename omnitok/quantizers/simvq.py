"""SimVQ (Zhu et al., 2024, "Addressing Representation Collapse in Vector Quantized Models with One Linear Layer").

The codebook is a frozen random table C0 [K, d0] seen through one learned linear map W [dim, d0]: the codes are
``C = C0 W^T``. A gradient step on W moves every code at once (the whole codebook's span rotates and stretches),
so no code is left behind the way unselected rows of a learned table are. Nearest-code search in l2 through
:func:`omnitok.ops.nearest_code`; losses as in vector-quantize-pytorch's ``SimVQ``:

    commitment_weight * (||sg(z) - c||^2 + input_weight * ||z - sg(c)||^2)

The gradient reaches z straight-through or, by default as in vector-quantize-pytorch, by the rotation trick.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.ops.nearest_code import Backend, nearest_code
from omnitok.quantizers.base import FlatQuantized, Quantizer, check_codebook_size
from omnitok.quantizers.rotation import rotate_to


class SimVQQuantizer(Quantizer):
    """SimVQ: frozen Gaussian codebook C0 [K, frozen_dim] and a learned linear map to ``dim`` channels.

    Args:
        dim: channels of the latents.
        codebook_size: number of codes K.
        frozen_dim: channels of the frozen table; None: ``dim``.
        commitment_weight: overall weight of the two terms below.
        input_weight: weight of ||z - sg(c)||^2 relative to ||sg(z) - c||^2 (0.25, "crucial for it to work").
        rotation_trick: rotation-trick gradients to z (see :mod:`omnitok.quantizers.rotation`); False:
            straight-through.
        backend: nearest-code backend, see :func:`omnitok.ops.nearest_code`.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        frozen_dim: int | None = None,
        commitment_weight: float = 1.0,
        input_weight: float = 0.25,
        rotation_trick: bool = True,
        backend: Backend = "auto",
    ):
        super().__init__()
        check_codebook_size(codebook_size, type(self).__name__)
        self.dim, self.codebook_size = dim, codebook_size
        self.frozen_dim = frozen_dim or dim
        self.commitment_weight, self.input_weight = commitment_weight, input_weight
        self.rotation_trick, self.backend = rotation_trick, backend
        self.register_buffer("frozen_codebook", torch.randn(codebook_size, self.frozen_dim) * self.frozen_dim**-0.5)
        self.code_transform = nn.Linear(self.frozen_dim, dim, bias=False)

    @property
    def codebook(self) -> Tensor:
        """The implicit codebook C0 W^T: [K, dim] (differentiable in W)."""
        return self.code_transform(self.frozen_codebook)

    def encode_flat(self, x: Tensor) -> Tensor:
        return nearest_code(x, self.codebook.detach(), backend=self.backend).indices

    def decode_flat(self, indices: Tensor) -> Tensor:
        return self.code_transform(self.frozen_codebook[indices])

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        indices = self.encode_flat(x.detach())
        codes = self.decode_flat(indices)  # (N, dim), differentiable in W
        z, c = (x, codes) if active is None else (x[active], codes[active])
        loss = x.new_zeros(())
        if z.numel():
            loss = self.commitment_weight * (F.mse_loss(z.detach(), c) + self.input_weight * F.mse_loss(z, c.detach()))
        quantized = rotate_to(x, codes) if self.rotation_trick else x + (codes - x).detach()
        return FlatQuantized(quantized, indices, loss)
