"""A bridge that puts any vector-quantize-pytorch quantizer behind omnitok's codebook interface.

``VQPytorchQuantizer("SimVQ", dim=32, options={"codebook_size": 16384})`` builds
``vector_quantize_pytorch.SimVQ(dim=32, codebook_size=16384)`` and maps its conventions onto ours:

- layout: our flat token list x [N, D] goes in as one sequence [1, N, D], or [1, D, N] for the classes that only
  take channels first (``LatentQuantize``), whichever the probe below finds the class accepts;
- returns: its tuple / namedtuple (quantized, indices[, loss or per-level losses]) becomes ``FlatQuantized``;
  losses are summed into one scalar; indices become int64 [N] or [N, Q];
- index layout: [N] for one codebook; [N, Q] with ``kind="residual"`` for its residual classes (they have
  ``num_quantizers``) and ``kind="grouped"`` for several codebooks side by side (``heads``, ``num_codebooks``);
- decoding: its ``get_output_from_indices`` or ``indices_to_codes``;
- the eval contract: ``encode`` runs the module in eval mode (its state never changes), and the base class returns
  ``decode(indices)`` exactly as the eval output.
Construction runs the module once in eval mode on a probe and refuses (``ConfigError``) a class whose output cannot
be rebuilt from its indices (no decoding method, a decoded output that differs from its forward output, or an
index layout other than [B, N] / [B, N, Q], e.g. the grouped-residual classes).

Data parallelism: its codebook all-reduces (EMA counts and sums) are rebound to run whenever torch.distributed is
initialised, so an EMA VectorQuantize built before the process group (as Lightning builds models) still syncs.
Random draws inside the library (k-means init, dead-code restarts, quantize dropout, stochastic sampling) come from
the global RNG and depend on the number of ranks; omnitok's own quantizers draw rank-independently
(:mod:`omnitok.quantizers.draws`), so prefer them where those features matter. Known upstream defect (1.32.0): ``LFQ``'s
batch-entropy gradient is taken over the local batch only under data parallelism (its ``maybe_distributed_mean``
drops the all-reduce's autograd result); :class:`~omnitok.quantizers.LookupFreeQuantizer` and
:class:`~omnitok.quantizers.BinarySphericalQuantizer` compute it over the global batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from omnitok.distributed import is_distributed
from omnitok.errors import ConfigError
from omnitok.quantizers.base import FlatQuantized, Quantizer

_OWNED_OPTIONS = ("dim", "channel_first", "accept_image_fmap")
_DECODERS = ("get_output_from_indices", "indices_to_codes")


def _vqp() -> Any:
    from omnitok.extras import require

    return require("vector_quantize_pytorch", "the vector-quantize-pytorch bridge")


def _all_reduce_when_distributed(tensor: Tensor) -> None:
    if is_distributed():
        torch.distributed.all_reduce(tensor)


def _as_tuple(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, tuple | list) else (out,)


class VQPytorchQuantizer(Quantizer):
    """Any vector-quantize-pytorch quantizer class behind the codebook interface.

    Args:
        name: the class's name in ``vector_quantize_pytorch`` (``VectorQuantize``, ``ResidualVQ``, ``FSQ``, ``LFQ``,
            ``SimVQ``, ``ResidualSimVQ``, ``LatentQuantize``, ``ResidualFSQ``, ``ResidualLFQ``, ...).
        dim: channels of the latents (passed to the class as ``dim``).
        options: the class's other keyword arguments (plain values), e.g. ``{"codebook_size": 16384}``.
    """

    def __init__(self, name: str, dim: int, options: dict[str, Any] | None = None):
        super().__init__()
        vqp = _vqp()
        options = dict(options or {})
        cls = getattr(vqp, name, None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise ConfigError(f"vector_quantize_pytorch has no quantizer class {name!r}")
        owned = sorted(set(options) & set(_OWNED_OPTIONS))
        if owned:
            raise ConfigError(f"VQPytorchQuantizer sets {owned} itself; remove them from options")
        self.name, self.dim, self.options = name, dim, options
        try:
            self.module = cls(dim=dim, **options)
        except (TypeError, AssertionError, ValueError) as err:
            raise ConfigError(f"vector_quantize_pytorch.{name}(dim={dim}, **{options}) failed: {err}") from err
        if not any(hasattr(self.module, d) for d in _DECODERS):
            raise ConfigError(
                f"vector_quantize_pytorch.{name} has no way back from indices to codes ({' / '.join(_DECODERS)}), "
                "so it cannot keep omnitok's eval contract (forward output == decode(indices))"
            )
        for sub in self.module.modules():  # sync EMA statistics whenever a process group exists at run time
            if hasattr(sub, "all_reduce_fn"):
                sub.all_reduce_fn = _all_reduce_when_distributed
        self.num_codebooks, self.kind, self.codebook_size = self._probe()
        self.module.train()  # modules start in training mode; the probe left it in eval

    def _probe(self) -> tuple[int, str, int]:
        """Run the module once in eval mode (which changes no state): input layout, index layout, codebook size, and
        that decode rebuilds the output."""
        probe = self.module.eval()
        tokens = self.dim + 3  # differs from dim, so the channel axis is never ambiguous
        x = torch.randn(tokens, self.dim, generator=torch.Generator().manual_seed(0))
        where = f"vector_quantize_pytorch.{self.name}"
        out: tuple[Any, ...] = ()
        for channels_first in (False, True):
            self.channels_first = channels_first
            try:
                with torch.no_grad():
                    out = _as_tuple(probe(self._layout(x)))
                break
            except (AssertionError, RuntimeError, ValueError) as err:
                failure = err
        else:
            raise ConfigError(f"{where} takes neither [1, N, {self.dim}] nor [1, {self.dim}, N] input: {failure}")
        if len(out) < 2 or not isinstance(out[1], Tensor) or not isinstance(out[0], Tensor):
            raise ConfigError(f"{where} does not return (quantized, indices, ...); it cannot be bridged")
        indices = out[1]
        if tuple(indices.shape[:2]) != (1, tokens) or indices.ndim > 3:
            raise ConfigError(
                f"{where} returns indices of shape {tuple(indices.shape)} for {tokens} tokens of {self.dim} channels; "
                "the bridge maps only [B, N] and [B, N, Q] (grouped-residual classes: use GroupedQuantizer over "
                "bridged residual ones)"
            )
        levels = 1 if indices.ndim == 2 else indices.shape[2]
        kind = "residual" if hasattr(probe, "num_quantizers") else "grouped"
        size = getattr(probe, "codebook_size", None)
        size = size if isinstance(size, int) else self._layer_codebook_size(probe)
        output = self._tokens_last(out[0], self.channels_first)
        with torch.no_grad():
            decoded = self._decode_with(probe, indices)
        self.decodes_channels_first = decoded.shape[1:] == (self.dim, tokens)
        decoded = self._tokens_last(decoded, self.decodes_channels_first)
        if decoded.shape != output.shape or not torch.allclose(decoded, output, rtol=1e-4, atol=1e-5):
            raise ConfigError(
                f"{where}'s eval output is not its decoded indices (max difference "
                f"{(decoded - output).abs().max().item() if decoded.shape == output.shape else 'shape'}); "
                "it cannot keep omnitok's eval contract"
            )
        return levels, kind if levels > 1 else "single", int(size)

    def _layer_codebook_size(self, module: nn.Module) -> int:
        sizes = getattr(module, "codebook_sizes", None)
        if sizes is None and hasattr(module, "layers"):
            sizes = [getattr(layer, "codebook_size", None) for layer in module.layers]
        sizes = {int(s) for s in (sizes or []) if s is not None}
        if len(sizes) != 1:
            raise ConfigError(
                f"vector_quantize_pytorch.{self.name}: one codebook size per level is needed, got {sizes}"
            )
        return sizes.pop()

    def _layout(self, x: Tensor) -> Tensor:
        """x [N, D] -> the module's input: [1, N, D], or [1, D, N] for channels-first classes."""
        return x.T[None] if self.channels_first else x[None]

    @staticmethod
    def _tokens_last(out: Tensor, channels_first: bool) -> Tensor:
        """A module output [1, N, D] (or [1, D, N] when ``channels_first``) -> [N, D] float32."""
        return out[0].float().T if channels_first else out[0].float()

    def _decode_with(self, module: nn.Module, indices: Tensor) -> Tensor:
        decoder = next(getattr(module, d) for d in _DECODERS if hasattr(module, d))
        return decoder(indices).float()

    # -- the codebook interface on [N, D] ---------------------------------------------------------------------
    def _run(self, x: Tensor) -> FlatQuantized:
        out = _as_tuple(self.module(self._layout(x)))
        loss = x.new_zeros(())
        for extra in out[2:3]:
            if isinstance(extra, Tensor):
                loss = loss + extra.float().sum()
        return FlatQuantized(self._tokens_last(out[0], self.channels_first), out[1][0].long(), loss)

    def quantize_flat(self, x: Tensor, active: Tensor | None = None) -> FlatQuantized:
        """``active`` rows go through the module (losses, codebook updates); the others are coded without updates."""
        if active is None or bool(active.all()):
            return self._run(x)
        if not bool(active.any()):
            indices = self.encode_flat(x.detach())
            return FlatQuantized(x + (self.decode_flat(indices) - x).detach(), indices, x.new_zeros(()))
        out = self._run(x[active])
        indices = torch.empty((x.shape[0], *out.indices.shape[1:]), dtype=torch.long, device=x.device)
        indices[active] = out.indices
        idle = self.encode_flat(x[~active].detach())
        indices[~active] = idle
        quantized = x + (self.decode_flat(indices) - x).detach()  # straight-through on the idle rows
        quantized = quantized.index_put((active.nonzero()[:, 0],), out.quantized)
        return FlatQuantized(quantized, indices, out.loss)

    @torch.no_grad()
    def encode_flat(self, x: Tensor) -> Tensor:
        was_training = self.module.training
        self.module.eval()  # no EMA step, no k-means init, no dropout
        try:
            return _as_tuple(self.module(self._layout(x)))[1][0].long()
        finally:
            self.module.train(was_training)

    def decode_flat(self, indices: Tensor) -> Tensor:
        if indices.ndim == 2 and indices.shape[1] < self.num_codebooks:  # residual: a leading subset of levels
            pad = indices.new_full((indices.shape[0], self.num_codebooks - indices.shape[1]), -1)
            indices = torch.cat([indices, pad], dim=1)
        return self._tokens_last(self._decode_with(self.module, indices[None]), self.decodes_channels_first)
