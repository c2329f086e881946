"""Plumbing shared by the adapters: the wrapped model in eval mode, the spec, value-range conversion, devices.

An adapter's spec describes the format its ``encode`` takes and its ``decode`` returns. By default that is the
wrapped model's own (``native_range``); ``value_range=(0, 1)`` presents the same model in another range, and the
adapter maps inputs linearly into the model's range and reconstructions back.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from omnitok.errors import ConfigError, OmnitokError
from omnitok.protocol import TokenizerSpec, check_decodable, check_media


class DecoderUnavailableError(OmnitokError, NotImplementedError):
    """The wrapped model cannot decode (e.g. transformers' ChameleonVQVAE ships an encoder only)."""


class ModelAdapter:
    """Holds a wrapped ``nn.Module`` and does what every adapter needs at the protocol boundary.

    Subclasses build the model's native spec and implement ``_encode`` (model-range input on the model's
    device and dtype) and ``_decode`` (tokens on the model's device -> model-range media).

    Args:
        model: the wrapped model; put in eval mode.
        native: the spec in the model's own input format.
        value_range: the range ``encode`` takes and ``decode`` returns; None keeps the model's own.
    """

    def __init__(self, model: nn.Module, native: TokenizerSpec, value_range: Sequence[float] | None = None):
        if not isinstance(model, nn.Module):
            raise ConfigError(f"{type(self).__name__} wraps a torch module, got {type(model).__name__}")
        self.model = model.eval()
        self.native_range = native.value_range
        if value_range is None:
            value_range = native.value_range
        value_range = tuple(float(v) for v in value_range)
        if len(value_range) != 2 or not value_range[0] < value_range[1]:
            raise ConfigError(f"value_range must be (low, high) with low < high, got {value_range}")
        self._spec = dataclasses.replace(native, value_range=value_range)

    @classmethod
    def from_pretrained(cls, ref: str | os.PathLike, **kwargs: Any) -> ModelAdapter:
        """Load the wrapped model from a folder or hub id with its library's own ``from_pretrained``.

        Keyword arguments this adapter's constructor takes (``value_range``, ``num_quantizers``, ...) configure the
        adapter; the others (``subfolder``, ``revision``, ``torch_dtype``, ...) go to the library.
        """
        own = set(inspect.signature(cls.__init__).parameters) - {"self", "model"}
        options = {name: kwargs.pop(name) for name in list(kwargs) if name in own}
        return cls(cls._load_model(ref, kwargs), **options)

    @classmethod
    def _load_model(cls, ref: str | os.PathLike, kwargs: dict[str, Any]) -> nn.Module:
        """The wrapped model, read from ``ref`` by its library (``kwargs``: the library's loading options)."""
        raise NotImplementedError

    @property
    def spec(self) -> TokenizerSpec:
        return self._spec

    @property
    def can_decode(self) -> bool:
        """False where ``decode`` raises :class:`DecoderUnavailableError`."""
        return True

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def to(self, *args: Any, **kwargs: Any) -> ModelAdapter:
        """Move (or cast) the wrapped model, like ``nn.Module.to``; returns the adapter."""
        self.model.to(*args, **kwargs)
        return self

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Media [B, C, *axes] in ``spec.value_range`` -> indices [B, *grid(, Q)] (int64) or latents [B, D, *grid]
        (float32)."""
        check_media(x, self.spec)
        tokens = self._encode(self._to_model_range(x).to(self.device, self.dtype))
        return tokens.long() if self.spec.discrete else tokens.float()

    @torch.no_grad()
    def decode(self, tokens: Tensor) -> Tensor:
        """Tokens as ``encode`` returns them -> media [B, C, *axes] (float32) in ``spec.value_range``, unclamped."""
        check_decodable(tokens, self.spec)
        tokens = tokens.to(self.device, torch.long) if self.spec.discrete else tokens.to(self.device, self.dtype)
        return self._from_model_range(self._decode(tokens).float())

    def _encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _decode(self, tokens: Tensor) -> Tensor:
        raise NotImplementedError

    def _to_model_range(self, x: Tensor) -> Tensor:
        (lo, hi), (mlo, mhi) = self.spec.value_range, self.native_range
        if (lo, hi) == (mlo, mhi):
            return x
        return (x - lo) * ((mhi - mlo) / (hi - lo)) + mlo

    def _from_model_range(self, y: Tensor) -> Tensor:
        (lo, hi), (mlo, mhi) = self.spec.value_range, self.native_range
        if (lo, hi) == (mlo, mhi):
            return y
        return (y - mlo) * ((hi - lo) / (mhi - mlo)) + lo

    def __repr__(self) -> str:
        s = self.spec
        codes = f"codebook {s.codebook_sizes[0]}" if s.discrete else f"latents {s.latent_dim}"
        return (
            f"{type(self).__name__}({type(self.model).__name__}, {codes}, downsample {s.downsample}, "
            f"value_range {s.value_range})"
        )


def config_get(config: Any, name: str, default: Any = None) -> Any:
    """``config.name`` for diffusers' FrozenDict configs and transformers' config objects alike."""
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def spatial_factor(levels: int, what: str) -> int:
    """Downsampling of a VQGAN/LDM-style encoder with ``levels`` resolution levels: one stride-2 step between each."""
    if levels < 1:
        raise ConfigError(f"{what} has no resolution levels")
    return 2 ** (levels - 1)
