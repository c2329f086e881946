"""Devices and precisions of omnitok tokenizers.

A tokenizer's networks (encoder, decoder, heads) run in the dtype the model is cast to (``model.to(torch.bfloat16)``,
``load_tokenizer(ref, dtype=torch.bfloat16)``), while quantizers keep their codebooks and projections in float32:
:class:`MixedPrecisionModule` leaves their floating-point tensors at float32 when the model is cast (device moves
still apply), and the tokenizer casts at the hand-over: latents go into the quantizer as they are (the quantizer
upcasts them to float32 itself), its float32 output is cast to the decoder's dtype on the way out.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from omnitok.errors import ConfigError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bf16"``/``"bfloat16"``, ``"fp16"``/``"float16"``, ``"fp32"``/``"float32"`` or a torch floating dtype ->
    the torch dtype (None stays None). ConfigError names the accepted spellings otherwise."""
    if dtype is None or isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in DTYPES:
        return DTYPES[dtype.removeprefix("torch.")]
    raise ConfigError(f"dtype must be one of {sorted(DTYPES)} (or the torch dtype), got {dtype!r}")


def parse_device(device: str | torch.device | None) -> torch.device | None:
    """A device string or object -> ``torch.device`` (None stays None); ConfigError for an unknown or absent one."""
    if device is None or isinstance(device, torch.device):
        return device
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"device {device!r} is not a torch device (cpu, cuda, cuda:1, mps, ...): {err}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available here (use --device cpu)")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return parsed


class MixedPrecisionModule(nn.Module):
    """Keeps the floating-point tensors of the submodules named in ``full_precision_modules`` at their own dtype
    (float32) when the module is cast, and reports the dtype and device of the rest.

    ``model.to(torch.bfloat16)``, ``.half()``, ``.bfloat16()`` cast every other parameter and buffer; moves between
    devices (``.to("cuda")``, ``.cuda()``) apply to all of them.
    """

    full_precision_modules: tuple[str, ...] = ("quantizer",)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True):
        if recurse:
            kept = [getattr(self, name, None) for name in self.full_precision_modules]
            kept = [m for m in kept if isinstance(m, nn.Module)]
            for module in kept:
                module._apply(_without_cast(fn))
            for module in self.children():
                if all(module is not k for k in kept):
                    module._apply(fn)
        return nn.Module._apply(self, fn, recurse=False)  # this module's own parameters and buffers

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the networks compute in (the first floating-point parameter outside the quantizer)."""
        for tensor in self._network_tensors():
            return tensor.dtype
        return torch.float32

    @property
    def device(self) -> torch.device:
        """The device of the tokenizer's parameters."""
        for tensor in self._network_tensors(include_full_precision=True):
            return tensor.device
        return torch.device("cpu")

    def _network_tensors(self, include_full_precision: bool = False):
        skipped = set()
        if not include_full_precision:
            for name in self.full_precision_modules:
                module = getattr(self, name, None)
                if isinstance(module, nn.Module):
                    skipped |= {id(t) for t in module.parameters()} | {id(t) for t in module.buffers()}
        for tensor in (*self.parameters(), *self.buffers()):
            if tensor.is_floating_point() and id(tensor) not in skipped:
                yield tensor

    def to_compute_dtype(self, x: Tensor) -> Tensor:
        """``x`` cast to :attr:`dtype` when it is floating point and differs (media in, quantized latents out)."""
        dtype = self.dtype
        return x.to(dtype) if x.is_floating_point() and x.dtype != dtype else x


def to_compute_dtype(tokenizer: nn.Module, x: Tensor) -> Tensor:
    """``x`` cast to ``tokenizer``'s compute dtype (:meth:`MixedPrecisionModule.to_compute_dtype`); unchanged for
    modules that do not say (a user's own tokenizer with encoder/quantizer/decoder parts)."""
    cast = getattr(tokenizer, "to_compute_dtype", None)
    return cast(x) if callable(cast) else x


def _without_cast(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``fn`` minus any change of dtype: the result keeps the tensor's dtype (device moves and the rest still
    apply). The original tensor is moved, never a rounded copy cast back, so float32 values stay exact."""

    def apply(tensor: Tensor) -> Tensor:
        result = fn(tensor)
        if result.dtype == tensor.dtype:
            return result
        return tensor.to(device=result.device)

    return apply
