"""Dual codebook with a shared index (TokenFlow): one id names a pixel code and a semantic code at once.

The latent holds two branches side by side, ``z = [pixel (pixel_dim) | semantic (semantic_dim)]`` along
channels. Code k is the pair (pixel_codebook[k], semantic_codebook[k]); the id chosen for a token minimises the
joint distance ``d_pixel + semantic_weight * d_semantic`` (each branch l2-normalized for ``metric="cosine"``), so
``decode(id)`` returns both halves and a pixel decoder and a semantic head can read the same token. The joint
distance equals the squared l2 distance between ``[x_p, sqrt(w) x_s]`` and ``[c_p, sqrt(w) c_s]``, so the search
is one call of :func:`omnitok.ops.nearest_code`. Codebooks follow EMAs of their assigned vectors (optionally
k-means-initialised on the first batch, dead codes restarted), as :class:`VectorQuantizer` does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.ops.kmeans import kmeans
from omnitok.ops.nearest_code import Backend, Metric, nearest_code
from omnitok.quantizers.base import FlatQuantized, Quantizer, check_codebook_size
from omnitok.quantizers.draws import RandomDraws
from omnitok.quantizers.ema_state import ema_step_, seed_from_kmeans_


class DualCodebookQuantizer(Quantizer):
    """Shared-index pixel + semantic codebooks.

    Args:
        pixel_dim: channels of the pixel branch (the first ``pixel_dim`` channels of the latent).
        semantic_dim: channels of the semantic branch (the rest).
        codebook_size: number of ids K (each names one pixel code and one semantic code).
        semantic_weight: weight of the semantic distance in the joint choice (TokenFlow's w_sem; 1 balances them).
        metric: "cosine" (each branch and its codes l2-normalized) or "l2".
        commitment_weight: weight of the commitment loss ||z - sg(c)||^2 of both branches.
        decay, eps: EMA decay and Laplace smoothing of code counts.
        kmeans_init: initialise both codebooks by k-means on the first training batch (joint space).
        dead_code_threshold: codes whose EMA count falls below this are restarted on batch vectors (0: never).
        backend: nearest-code backend, see :func:`omnitok.ops.nearest_code`.
    """

    def __init__(
        self,
        pixel_dim: int,
        semantic_dim: int,
        codebook_size: int,
        semantic_weight: float = 1.0,
        metric: Metric = "cosine",
        commitment_weight: float = 0.25,
        decay: float = 0.99,
        eps: float = 1e-5,
        kmeans_init: bool = False,
        dead_code_threshold: float = 0.0,
        backend: Backend = "auto",
    ):
        super().__init__()
        if pixel_dim < 1 or semantic_dim < 1:
            raise ConfigError(f"pixel_dim and semantic_dim must be >= 1, got {pixel_dim}, {semantic_dim}")
        check_codebook_size(codebook_size, type(self).__name__)
        if metric not in ("l2", "cosine"):
            raise ConfigError(f"metric must be 'l2' or 'cosine', got {metric!r}")
        if semantic_weight <= 0:
            raise ConfigError(f"semantic_weight must be > 0, got {semantic_weight}")
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"decay must be in [0, 1), got {decay}")
        self.pixel_dim, self.semantic_dim = pixel_dim, semantic_dim
        self.dim, self.codebook_size = pixel_dim + semantic_dim, codebook_size
        self.semantic_weight, self.metric, self.backend = float(semantic_weight), metric, backend
        self.commitment_weight, self.decay, self.eps = commitment_weight, decay, eps
        self.kmeans_init, self.dead_code_threshold = kmeans_init, dead_code_threshold
        codebook = self._normalize(torch.randn(codebook_size, self.dim))
        self.register_buffer("codebook", codebook)  # (K, pixel_dim + semantic_dim): both halves of every id
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", codebook.clone())
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.draws = RandomDraws()

    # -- spaces -------------------------------------------------------------------------------------------------
    def _normalize(self, x: Tensor) -> Tensor:
        """Each branch l2-normalized for the cosine metric (identity for l2)."""
        if self.metric != "cosine":
            return x
        pixel, semantic = x.split([self.pixel_dim, self.semantic_dim], dim=1)
        return torch.cat([F.normalize(pixel, dim=1), F.normalize(semantic, dim=1)], dim=1)

    def _joint(self, x: Tensor) -> Tensor:
        """Scale the semantic half by sqrt(w): squared l2 distances there are the joint distances."""
        scale = torch.ones(self.dim, device=x.device, dtype=x.dtype)
        scale[self.pixel_dim :] = math.sqrt(self.semantic_weight)
        return x * scale

    def _nearest(self, xn: Tensor) -> Tensor:
        return nearest_code(self._joint(xn), self._joint(self.codebook), metric="l2", backend=self.backend).indices

    # -- the codebook interface ---------------------------------------------------------------------------------
    def encode_flat(self, x: Tensor) -> Tensor:
        return self._nearest(self._normalize(x))

    def decode_flat(self, indices: Tensor) -> Tensor:
        return self.codebook[indices]

    def decode_branches(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        """indices [B, *grid] -> (pixel codes [B, pixel_dim, *grid], semantic codes [B, semantic_dim, *grid])."""
        codes = self.decode(indices)
        return codes[:, : self.pixel_dim], codes[:, self.pixel_dim :]

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        xn = self._normalize(x)  # (N, dim)
        if self.training and not bool(self.initialized):
            self._kmeans_init(xn.detach())
        indices = self._nearest(xn.detach())
        codes = self.codebook[indices]
        rows, row_codes = (xn, codes) if active is None else (xn[active], codes[active])
        if rows.numel():
            error = (rows - row_codes.detach()).square()
            pixel = error[:, : self.pixel_dim].mean()
            semantic = error[:, self.pixel_dim :].mean()
            loss = self.commitment_weight * (pixel + semantic)
            metrics = {"pixel_commitment": pixel.detach(), "semantic_commitment": semantic.detach()}
        else:
            loss, metrics = xn.sum() * 0, {}
        if self.training:
            self._update_codebook(xn.detach(), indices, active)
        return FlatQuantized(xn + (codes - xn).detach(), indices, loss, metrics)

    # -- codebook state -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def _kmeans_init(self, xn: Tensor) -> None:
        centroids, counts = kmeans(
            self._joint(xn), self.codebook_size, metric="l2", backend=self.backend, generator=self.draws.generator()
        )
        centroids = self._normalize(centroids / self._joint(torch.ones_like(centroids[:1])))
        seed_from_kmeans_(self, self.codebook, centroids, counts)

    @torch.no_grad()
    def _update_codebook(self, xn: Tensor, indices: Tensor, active: Tensor | None) -> None:
        ema_step_(self, self.codebook, xn, indices, active, project=self._normalize)
