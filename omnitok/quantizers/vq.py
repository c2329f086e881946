"""Vector quantization with an EMA or learned codebook (VQ-VAE, VQGAN, LlamaGen/Janus-style low-dim lookup)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.distributed import global_mean
from omnitok.ops.kmeans import kmeans
from omnitok.ops.nearest_code import Backend, Metric, code_distances, nearest_code
from omnitok.quantizers.base import FlatQuantized, Quantizer, check_codebook_size
from omnitok.quantizers.draws import RandomDraws
from omnitok.quantizers.ema_state import ema_step_, seed_from_kmeans_
from omnitok.quantizers.rotation import rotate_to
from omnitok.utils import entropy


class VectorQuantizer(Quantizer):
    """Nearest-code vector quantizer.

    Args:
        dim: channels of the latents.
        codebook_size: number of codes K.
        codebook_dim: look codes up in a lower dimension (e.g. 8, as LlamaGen/Janus do) through linear
            projections in and out; None keeps ``dim``.
        metric: "l2", or "cosine" (inputs and codes l2-normalized: the LlamaGen/ViT-VQGAN recipe).
        update: "ema" (codebook follows exponential moving averages of its assigned vectors) or "learned"
            (codebook is a parameter trained by the codebook loss).
        decay: EMA decay of code counts and sums.
        eps: Laplace smoothing of EMA counts.
        commitment_weight: weight of ||z - sg(c)||^2 (beta in VQ-VAE).
        codebook_weight: weight of ||sg(z) - c||^2, used with ``update="learned"``.
        entropy_weight: weight of the entropy penalty (per-sample entropy minus entropy of the batch-average
            code distribution, over softmax(-distance / entropy_temperature)); 0 disables it.
        entropy_temperature: temperature of that softmax.
        kmeans_init: initialise the codebook by k-means on the first training batch.
        kmeans_iters: Lloyd iterations for that initialisation.
        dead_code_threshold: in training, codes whose EMA count falls below this are restarted on random
            vectors of the batch (0 disables restarts).
        backend: nearest-code backend, see :func:`omnitok.ops.nearest_code`.
        rotation_trick: pass gradients to the latents by the rotation trick (Fifty et al., 2024; see
            :mod:`omnitok.quantizers.rotation`) instead of straight-through; the output values are the same.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        codebook_dim: int | None = None,
        metric: Metric = "l2",
        update: Literal["ema", "learned"] = "ema",
        decay: float = 0.99,
        eps: float = 1e-5,
        commitment_weight: float = 0.25,
        codebook_weight: float = 1.0,
        entropy_weight: float = 0.0,
        entropy_temperature: float = 0.01,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.0,
        backend: Backend = "auto",
        rotation_trick: bool = False,
    ):
        super().__init__()
        check_codebook_size(codebook_size, type(self).__name__)
        if metric not in ("l2", "cosine"):
            raise ValueError(f"metric must be 'l2' or 'cosine', got {metric!r}")
        if update not in ("ema", "learned"):
            raise ValueError(f"update must be 'ema' or 'learned', got {update!r}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.dim, self.codebook_size = dim, codebook_size
        self.codebook_dim = codebook_dim or dim
        self.metric, self.update = metric, update
        self.decay, self.eps = decay, eps
        self.commitment_weight, self.codebook_weight = commitment_weight, codebook_weight
        self.entropy_weight, self.entropy_temperature = entropy_weight, entropy_temperature
        self.kmeans_init, self.kmeans_iters = kmeans_init, kmeans_iters
        self.dead_code_threshold = dead_code_threshold
        self.backend, self.rotation_trick = backend, rotation_trick

        projected = self.codebook_dim != dim
        self.project_in = nn.Linear(dim, self.codebook_dim) if projected else nn.Identity()
        self.project_out = nn.Linear(self.codebook_dim, dim) if projected else nn.Identity()

        codebook = torch.randn(codebook_size, self.codebook_dim)
        if metric == "cosine":
            codebook = F.normalize(codebook, dim=1)
        if update == "learned":
            self.codebook = nn.Parameter(codebook)
        else:
            self.register_buffer("codebook", codebook)
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", codebook.clone())
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.draws = RandomDraws()

    def _lookup_space(self, x: Tensor) -> Tensor:
        x = self.project_in(x)
        return F.normalize(x, dim=1) if self.metric == "cosine" else x

    def _codes(self) -> Tensor:
        return F.normalize(self.codebook, dim=1) if self.metric == "cosine" else self.codebook

    def encode_flat(self, x: Tensor) -> Tensor:
        return nearest_code(self._lookup_space(x), self._codes(), metric=self.metric, backend=self.backend).indices

    def decode_flat(self, indices: Tensor) -> Tensor:
        return self.project_out(self._codes()[indices])

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        xe = self._lookup_space(x)  # (N, codebook_dim)
        if self.training and not bool(self.initialized):
            self._kmeans_init(xe.detach())
        codebook = self._codes()
        indices = nearest_code(xe.detach(), codebook, metric=self.metric, backend=self.backend).indices
        codes = codebook[indices]
        rows = xe if active is None else xe[active]
        row_codes = codes if active is None else codes[active]
        loss = self.commitment_weight * F.mse_loss(rows, row_codes.detach()) if rows.numel() else xe.sum() * 0
        if self.update == "learned" and rows.numel():
            loss = loss + self.codebook_weight * F.mse_loss(rows.detach(), row_codes)
        metrics: dict[str, Tensor] = {}
        if self.entropy_weight > 0 and (rows.numel() or self.training):  # a collective in training: every rank
            penalty = self._entropy_penalty(rows, codebook)
            loss = loss + self.entropy_weight * penalty
            metrics["entropy_penalty"] = penalty.detach()
        if self.training:
            self._update_codebook(xe.detach(), indices, active)
        quantized = self.project_out(rotate_to(xe, codes) if self.rotation_trick else xe + (codes - xe).detach())
        return FlatQuantized(quantized, indices, loss, metrics)

    def _entropy_penalty(self, xe: Tensor, codebook: Tensor) -> Tensor:
        """Per-sample entropy minus entropy of the batch-average code distribution (materializes N x K)."""
        probs = torch.softmax(-code_distances(xe, codebook, self.metric) / self.entropy_temperature, dim=1)
        average = global_mean(probs.sum(0), probs.shape[0]) if self.training else probs.mean(0)
        return entropy(probs).mean() - entropy(average)

    @torch.no_grad()
    def _kmeans_init(self, xe: Tensor) -> None:
        centroids, counts = kmeans(
            xe,
            self.codebook_size,
            iters=self.kmeans_iters,
            metric=self.metric,
            backend=self.backend,
            generator=self.draws.generator(),
        )
        seed_from_kmeans_(self, self.codebook.data, centroids, counts)

    @torch.no_grad()
    def _update_codebook(self, xe: Tensor, indices: Tensor, active: Tensor | None) -> None:
        ema_step_(
            self,
            self.codebook.data,
            xe,
            indices,
            active,
            learn_codes=self.update == "ema",
            project=(lambda codes: F.normalize(codes, dim=1)) if self.metric == "cosine" else (lambda codes: codes),
        )
