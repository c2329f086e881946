"""Index backpropagation quantization (IBQ; Shi et al., 2024, "Taming Scalable Visual Tokenizer for Autoregressive
Image Generation", SEED-Voken).

Plain VQ trains only the codes it selects, so at 2^14+ codes most of the codebook never moves and dies. IBQ scores
every code by its logit ``l = z . c`` and takes the hard one-hot of the argmax with the gradient of the softmax
(straight-through over the categorical distribution), ``one_hot = hard - sg(softmax(l)) + softmax(l)``, and
``q = one_hot @ C``. The decoder's gradient at q then reaches the logits of *all* codes, so every code (and the
encoder, through the logits) is trained at every step. Losses, as SEED-Voken's ``IndexPropagationQuantize``:

    double_quant * ||q - z||^2  +  commitment * ||sg(c) - z||^2  +  codebook * ||c - sg(z)||^2
    + entropy * (mean_i H(softmax(l_i / T)) - gamma H(mean_i softmax(l_i / T)))

(means over tokens and channels; c the selected code). The output value is exactly the selected code; the search
is :func:`omnitok.ops.nearest_code` with ``metric="inner"`` (argmax of the logits, never N x K in ``encode``), while
training builds the N x K logits it needs for the softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.distributed import global_mean
from omnitok.ops.nearest_code import Backend, nearest_code
from omnitok.quantizers.base import FlatQuantized, Quantizer, check_codebook_size
from omnitok.utils import entropy


class IndexBackpropQuantizer(Quantizer):
    """IBQ: a learned codebook whose every code gets gradient through a straight-through softmax.

    Args:
        dim: channels of the latents (the code vectors have ``dim`` channels).
        codebook_size: number of codes K.
        commitment_weight: weight of ||z - sg(c)||^2 (1.0 in SEED-Voken).
        codebook_weight: weight of ||sg(z) - c||^2 (SEED-Voken's beta, 0.25).
        double_quant_weight: weight of ||q - z||^2, q the index-backpropagated output.
        entropy_weight: weight of the entropy penalty over softmax(logits / entropy_temperature); 0 disables it.
        entropy_temperature: temperature of that softmax.
        diversity_gamma: weight of the batch-entropy term inside the penalty.
        init_scale: codes start uniform in [-init_scale, init_scale]; None: 1 / K (SEED-Voken's initialisation).
        backend: nearest-code backend of the search, see :func:`omnitok.ops.nearest_code`.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        commitment_weight: float = 1.0,
        codebook_weight: float = 0.25,
        double_quant_weight: float = 1.0,
        entropy_weight: float = 0.0,
        entropy_temperature: float = 0.01,
        diversity_gamma: float = 1.0,
        init_scale: float | None = None,
        backend: Backend = "auto",
    ):
        super().__init__()
        check_codebook_size(codebook_size, type(self).__name__)
        self.dim, self.codebook_size = dim, codebook_size
        self.commitment_weight, self.codebook_weight = commitment_weight, codebook_weight
        self.double_quant_weight = double_quant_weight
        self.entropy_weight, self.entropy_temperature = entropy_weight, entropy_temperature
        self.diversity_gamma, self.backend = diversity_gamma, backend
        scale = 1.0 / codebook_size if init_scale is None else init_scale
        self.codebook = nn.Parameter(torch.empty(codebook_size, dim).uniform_(-scale, scale))

    def encode_flat(self, x: Tensor) -> Tensor:
        return nearest_code(x, self.codebook, metric="inner", backend=self.backend).indices

    def decode_flat(self, indices: Tensor) -> Tensor:
        return self.codebook[indices]

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        indices = self.encode_flat(x.detach())
        codes = self.codebook[indices]  # (N, D): the hard one-hot times C, gradient to the selected codes
        rows = slice(None) if active is None else active
        entropy_on = self.training and self.entropy_weight > 0
        metrics: dict[str, Tensor] = {}
        if torch.is_grad_enabled() or entropy_on:
            logits = x @ self.codebook.T  # (N, K)
            soft = torch.softmax(logits, dim=1)
            expected = soft @ self.codebook.detach()  # gradient through the probabilities only
            quantized = codes + (expected - expected.detach())  # value: exactly the codes
        else:
            logits, quantized = None, codes
        z, q, c = x[rows], quantized[rows], codes[rows]
        loss = x.new_zeros(())
        if z.numel():
            loss = (
                self.double_quant_weight * F.mse_loss(q, z)
                + self.commitment_weight * F.mse_loss(z, c.detach())
                + self.codebook_weight * F.mse_loss(c, z.detach())
            )
        if entropy_on:  # a collective in training (global batch average): every rank runs it
            penalty = self._entropy_penalty(logits[rows])
            loss = loss + self.entropy_weight * penalty
            metrics["entropy_penalty"] = penalty.detach()
        return FlatQuantized(quantized, indices, loss, metrics)

    def _entropy_penalty(self, logits: Tensor) -> Tensor:
        """Mean per-token entropy minus ``diversity_gamma`` x entropy of the global-batch mean distribution."""
        probs = torch.softmax(logits / self.entropy_temperature, dim=1)  # (N, K)
        average = global_mean(probs.sum(0), probs.shape[0])
        per_sample = entropy(probs).mean() if probs.shape[0] else probs.sum() * 0
        return per_sample - self.diversity_gamma * entropy(average)
