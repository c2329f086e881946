"""Continuous bottlenecks behind the same interface: the KL-VAE diagonal Gaussian and the identity."""

from __future__ import annotations

import torch
from torch import Tensor

from omnitok.quantizers.base import FlatQuantized, Quantizer
from omnitok.quantizers.draws import RandomDraws


class GaussianQuantizer(Quantizer):
    """Diagonal Gaussian posterior (the KL-VAE of latent diffusion).

    Takes ``2 * dim`` channels (mean, then log-variance) and returns ``dim``: a sample in training, the mean in
    eval. ``encode`` returns the mean, unscaled.

    Args:
        dim: latent channels returned.
        kl_weight: weight of KL(q || N(0, I)), summed over channels and averaged over latent positions.
        logvar_range: log-variance is clamped to this range for stability.
    """

    codebook_size = None

    def __init__(self, dim: int, kl_weight: float = 1e-6, logvar_range: tuple[float, float] = (-30.0, 20.0)):
        super().__init__()
        self.dim, self.kl_weight, self.logvar_range = dim, kl_weight, tuple(logvar_range)
        self.draws = RandomDraws()

    @property
    def input_dim(self) -> int:
        return 2 * self.dim

    def _moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = x.chunk(2, dim=1)
        return mean, logvar.clamp(*self.logvar_range)

    def quantize_batch(self, x: Tensor, batch_size: int) -> FlatQuantized:
        """In training, each sample's noise comes from its own generator, seeded by its place in the global batch,
        so data-parallel ranks draw what one process with the whole batch draws."""
        if not self.training or batch_size == 0:
            return self.quantize_flat(x)
        rows = x.shape[0] // batch_size
        shape = (rows, self.dim)
        noise = torch.cat([torch.randn(shape, generator=g) for g in self.draws.per_sample(batch_size, x.device)])
        return self.quantize_flat(x, noise=noise.to(x.device))

    def quantize_flat(self, x: Tensor, active: Tensor | None = None, noise: Tensor | None = None) -> FlatQuantized:
        mean, logvar = self._moments(x)
        if self.training:
            if noise is None:
                noise = torch.randn(mean.shape, generator=self.draws.generator()).to(mean.device)
            latents = mean + torch.exp(0.5 * logvar) * noise.to(mean.dtype)
        else:
            latents = mean
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        if active is not None:
            kl = kl[active]
        kl = kl.mean() if kl.numel() else x.new_zeros(())
        return FlatQuantized(latents, None, self.kl_weight * kl, {"kl": kl.detach(), "std": (0.5 * logvar).exp().mean().detach()})

    def encode_flat(self, x: Tensor) -> Tensor:
        return self._moments(x)[0]

    def decode_flat(self, latents: Tensor) -> Tensor:
        return latents


class IdentityQuantizer(Quantizer):
    """No bottleneck: latents pass through unchanged (plain autoencoders, continuous tokens)."""

    codebook_size = None

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        return FlatQuantized(x, None, x.new_zeros(()))

    def encode_flat(self, x: Tensor) -> Tensor:
        return x

    def decode_flat(self, latents: Tensor) -> Tensor:
        return latents
