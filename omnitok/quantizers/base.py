"""The codebook interface every omnitok quantizer implements (DESIGN.md, contract 1).

Subclasses work on flat token lists ``[N, D]``; this base class owns the channels-first layout
``[B, D, *grid]`` with 1 to 3 grid axes, input checks, fp32 upcasting and the eval guarantee that
``forward(z).quantized`` is exactly ``decode(encode(z))``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from omnitok.config import Configurable, instantiate, to_config
from omnitok.errors import ConfigError, DTypeError, NonFiniteError, ShapeError
from omnitok.limits import CODEBOOK_SIZE
from omnitok.protocol import check_indices
from omnitok.quantizers.stats import batch_code_metrics
from omnitok.utils import channels_first, channels_last_flat

QuantizerKind = Literal["single", "residual", "grouped"]


def full_precision(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Disable autocast: indices must come from fp32 distances even inside bf16-mixed training."""
    if device.type in ("cuda", "cpu", "xpu"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


class _ExactValue(torch.autograd.Function):
    """Returns ``value`` exactly while passing gradients to ``source`` unchanged (straight-through)."""

    @staticmethod
    def forward(ctx: Any, source: Tensor, value: Tensor) -> Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


def exact_straight_through(source: Tensor, value: Tensor) -> Tensor:
    """``value`` bit for bit, with the gradient of ``source`` (used in eval, where codes must be exact)."""
    return _ExactValue.apply(source, value) if source.requires_grad else value


@dataclasses.dataclass
class QuantizerOutput:
    """What every quantizer's ``forward`` returns.

    Attributes:
        quantized: [B, D, *grid] float32, carries gradients to the input (straight-through in training).
        indices: LongTensor [B, *grid] or [B, *grid, Q]; None for continuous quantizers.
        loss: scalar, already weighted (commitment, codebook, entropy or KL terms).
        metrics: detached scalars for logging (perplexity, usage, per-level figures).
    """

    quantized: Tensor
    indices: Tensor | None
    loss: Tensor
    metrics: dict[str, Tensor]


@dataclasses.dataclass
class FlatQuantized:
    """A quantizer's result on a flat token list: quantized [N, D], indices [N] / [N, Q] / None."""

    quantized: Tensor
    indices: Tensor | None
    loss: Tensor
    metrics: dict[str, Tensor] = dataclasses.field(default_factory=dict)


class Quantizer(nn.Module, Configurable):
    """Base of all quantizers. Subclasses set ``dim``, ``codebook_size``, ``num_codebooks``, ``kind`` and
    implement ``quantize_flat``, ``encode_flat`` and ``decode_flat`` on [N, D] token lists."""

    dim: int
    codebook_size: int | None
    num_codebooks: int = 1
    kind: QuantizerKind = "single"

    @property
    def input_dim(self) -> int:
        """Channels ``forward`` and ``encode`` take (twice ``dim`` for the Gaussian quantizer)."""
        return self.dim

    @property
    def discrete(self) -> bool:
        return self.codebook_size is not None

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """One codebook size per level / group; empty for continuous quantizers."""
        return () if self.codebook_size is None else (self.codebook_size,) * self.num_codebooks

    # -- the per-quantizer hooks ------------------------------------------------------------------------------
    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        """Quantize x [N, input_dim] float32. ``active`` [N] bool marks rows that count for losses and codebook
        updates (quantizer dropout in residual stacks); None means all rows."""
        raise NotImplementedError

    def encode_flat(self, x: Tensor) -> Tensor:
        """x [N, input_dim] -> indices [N] / [N, Q] (or latents [N, dim] if continuous); never updates state."""
        raise NotImplementedError

    def decode_flat(self, indices: Tensor) -> Tensor:
        """indices [N] / [N, q] (or latents [N, dim]) -> code vectors [N, dim] float32."""
        raise NotImplementedError

    # -- the public interface ---------------------------------------------------------------------------------
    def quantize_batch(self, x: Tensor, batch_size: int) -> FlatQuantized:
        """``quantize_flat`` on the rows of ``batch_size`` samples, sample-major (residual dropout needs samples)."""
        return self.quantize_flat(x)

    def forward(self, z: Tensor) -> QuantizerOutput:
        """z: [B, input_dim, *grid] float (any precision) -> QuantizerOutput."""
        self._check_latents(z)
        with full_precision(z.device):
            flat, batch_grid = channels_last_flat(z.float())
            out = self.quantize_batch(flat, z.shape[0])
            quantized = out.quantized
            if not self.training and out.indices is not None:
                quantized = exact_straight_through(quantized, self.decode_flat(out.indices))
        metrics = dict(out.metrics)
        if out.indices is not None:
            metrics.update(batch_code_metrics(out.indices, self.codebook_sizes))
        indices = None if out.indices is None else out.indices.reshape(*batch_grid, *out.indices.shape[1:])
        return QuantizerOutput(channels_first(quantized, batch_grid), indices, out.loss, metrics)

    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        """z: [B, input_dim, *grid] -> indices [B, *grid(, Q)] (continuous: latents [B, dim, *grid])."""
        self._check_latents(z)
        with full_precision(z.device):
            flat, batch_grid = channels_last_flat(z.float())
            out = self.encode_flat(flat)
        if not self.discrete:
            return channels_first(out, batch_grid)
        return out.reshape(*batch_grid, *out.shape[1:])

    @torch.no_grad()
    def decode(self, indices: Tensor) -> Tensor:
        """indices [B, *grid(, q)] (continuous: latents [B, dim, *grid]) -> quantized [B, dim, *grid] float32."""
        if not self.discrete:
            self._check_latents(indices, channels=self.dim)
            with full_precision(indices.device):
                flat, batch_grid = channels_last_flat(indices.float())
                return channels_first(self.decode_flat(flat), batch_grid)
        self._check_indices(indices)
        multi = self.num_codebooks > 1
        batch_grid = tuple(indices.shape[:-1]) if multi else tuple(indices.shape)
        flat = indices.reshape(-1, indices.shape[-1]) if multi else indices.reshape(-1)
        with full_precision(indices.device):
            return channels_first(self.decode_flat(flat.long()), batch_grid)

    # -- checks -----------------------------------------------------------------------------------------------
    def _check_latents(self, z: Tensor, channels: int | None = None) -> None:
        channels = self.input_dim if channels is None else channels
        if not isinstance(z, Tensor):
            raise DTypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(z).__name__}")
        if not 3 <= z.ndim <= 5:
            raise ShapeError(
                f"{type(self).__name__} expects latents [B, {channels}, *grid] with 1 to 3 grid axes, "
                f"got shape {tuple(z.shape)}"
            )
        if z.shape[1] != channels:
            raise ShapeError(
                f"{type(self).__name__} expects {channels} channels on axis 1, got shape {tuple(z.shape)}"
            )
        if not z.is_floating_point():
            raise DTypeError(f"{type(self).__name__} expects floating-point latents, got {z.dtype}")
        if not torch.isfinite(z).all():
            raise NonFiniteError(f"{type(self).__name__} received latents holding NaN or Inf")

    def _check_indices(self, indices: Tensor) -> None:
        kind = self.kind if self.num_codebooks > 1 else "single"
        check_indices(indices, self.codebook_sizes, kind, grid_axes=(1, 2, 3), what=f"{type(self).__name__}.decode indices")


def check_codebook_size(codebook_size: int, owner: str) -> None:
    """Raise ConfigError unless a learned codebook of ``codebook_size`` codes is an integer >= 2 within
    :data:`omnitok.limits.CODEBOOK_SIZE` (checked before the table is allocated)."""
    if isinstance(codebook_size, bool) or not isinstance(codebook_size, int) or codebook_size < 2:
        raise ConfigError(f"{owner}: codebook_size must be an integer >= 2, got {codebook_size!r}")
    problem = CODEBOOK_SIZE.exceeded(codebook_size, f"{owner}'s codebook")
    if problem:
        raise ConfigError(problem)


def fresh_copies(template: Quantizer | Sequence[Quantizer], count: int | None, what: str) -> list[Quantizer]:
    """The list of quantizers a composite holds: given explicitly, or ``count`` freshly initialised copies of one."""
    if isinstance(template, Quantizer):
        if count is None or count < 1:
            raise ConfigError(f"give {what} as a list, or one quantizer plus a count >= 1")
        config = to_config(template)
        quantizers = [template] + [instantiate(config) for _ in range(count - 1)]
    else:
        quantizers = list(template)
        if count is not None and count != len(quantizers):
            raise ConfigError(f"{len(quantizers)} {what} given but count={count}")
    if not quantizers or not all(isinstance(q, Quantizer) and q.discrete for q in quantizers):
        raise ConfigError(f"{what} must be one or more discrete quantizers")
    return quantizers
