"""Adapters for diffusers' autoencoders: ``VQModel`` (discrete images), ``AutoencoderKL`` (continuous images) and
``AutoencoderKLCosmos`` (continuous causal video; its format is in its class docstring).

Image input format (VQModel, AutoencoderKL): RGB ``[B, 3, H, W]`` in [-1, 1] — diffusers' ``VaeImageProcessor`` feeds its VAEs images
normalised with ``2 * x - 1`` (``do_normalize=True``) and maps decoded images back with ``(y * 0.5 + 0.5).clamp(0, 1)``
(``diffusers/image_processor.py``, ``VaeImageProcessor.normalize`` / ``denormalize``). H and W must
be multiples of the encoder's downsampling ``f = 2 ** (len(block_out_channels) - 1)``: one stride-2 step between
consecutive ``DownEncoderBlock2D`` levels.

diffusers is imported only when a model is wrapped or loaded.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from omnitok.adapters.base import ModelAdapter, config_get, spatial_factor
from omnitok.errors import ConfigError, WeightsError
from omnitok.protocol import TokenizerSpec

DIFFUSERS_RANGE = (-1.0, 1.0)


class _DiffusersAdapter(ModelAdapter):
    """Loads ``diffusers.<wrapped_classes[0]>`` with ``from_pretrained`` (failures as WeightsError)."""

    library = "diffusers"

    @classmethod
    def _load_model(cls, ref: str | os.PathLike, kwargs: dict[str, Any]) -> nn.Module:
        import diffusers

        return _load(getattr(diffusers, cls.wrapped_classes[0]), ref, kwargs)


class _GaussianVAEAdapter(_DiffusersAdapter):
    """A diffusers VAE whose ``encode`` gives a ``latent_dist`` (its mode is the latent) and ``decode`` a ``.sample``."""

    def _encode(self, x: Tensor) -> Tensor:
        return self.model.encode(x).latent_dist.mode()

    def _decode(self, tokens: Tensor) -> Tensor:
        return self.model.decode(tokens).sample


class VQModelAdapter(_DiffusersAdapter):
    """diffusers ``VQModel`` (latent-diffusion VQ-f4/f8, Kandinsky's MoVQ) as an omnitok tokenizer.

    ``encode``: x [B, 3, H, W] -> indices [B, H/f, W/f] in [0, num_vq_embeddings): ``model.encode(x).latents``
    (encoder + quant_conv) then the model's own nearest-code search ``model.quantize``.
    ``decode``: indices -> the codebook vectors [B, vq_embed_dim, h, w] ->
    ``model.decode(..., force_not_quantize=True)`` (post_quant_conv + decoder; MoVQ's spatial norm gets the code
    vectors too) -> [B, 3, H, W] in [-1, 1].

    Args:
        model: a ``diffusers.VQModel``.
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    wrapped_classes = ("VQModel",)
    config_types = ("VQModel",)

    def __init__(self, model: nn.Module, *, value_range: Sequence[float] | None = None):
        _require(model, "VQModel")
        c = model.config
        spec = TokenizerSpec(
            modality="image",
            discrete=True,
            codebook_sizes=(c.num_vq_embeddings,),
            latent_dim=c.vq_embed_dim or c.latent_channels,
            downsample=(_factor(c),) * 2,
            channels=_channels(c),
            value_range=DIFFUSERS_RANGE,
        )
        super().__init__(model, spec, value_range)

    def _encode(self, x: Tensor) -> Tensor:
        latents = self.model.encode(x).latents  # (B, vq_embed_dim, h, w)
        _, _, (_, _, indices) = self.model.quantize(latents)  # flat (B*h*w,)
        b, _, h, w = latents.shape
        return indices.reshape(b, h, w)

    def _decode(self, tokens: Tensor) -> Tensor:
        b, h, w = tokens.shape
        shape = (b, h, w, self.spec.latent_dim)
        if self.model.config.lookup_from_codebook:  # the model looks the codes up itself
            return self.model.decode(tokens.reshape(-1), force_not_quantize=True, shape=shape).sample
        quantized = self.model.quantize.get_codebook_entry(tokens.reshape(-1), shape)  # (B, D, h, w)
        return self.model.decode(quantized, force_not_quantize=True).sample


class AutoencoderKLAdapter(_GaussianVAEAdapter):
    """diffusers ``AutoencoderKL`` (Stable Diffusion / SDXL / SD3 / FLUX VAEs) as a continuous omnitok tokenizer.

    ``encode``: x [B, 3, H, W] -> the posterior's mode ``model.encode(x).latent_dist.mode()`` [B, latent_channels,
    H/f, W/f], unscaled: a diffusion model takes ``(z - spec.latent_shift) * spec.latent_scale``, with the config's
    ``scaling_factor`` and ``shift_factor`` (0 when unset). Per-channel ``latents_mean``/``latents_std``, where a config
    has them, stay on ``adapter.model.config``. ``decode``: latents -> ``model.decode(z).sample`` in [-1, 1]. Tiling
    and slicing, if enabled on the model, apply as in diffusers.

    Args:
        model: a ``diffusers.AutoencoderKL``.
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    wrapped_classes = ("AutoencoderKL",)
    config_types = ("AutoencoderKL",)

    def __init__(self, model: nn.Module, *, value_range: Sequence[float] | None = None):
        _require(model, "AutoencoderKL")
        c = model.config
        shift = config_get(c, "shift_factor")
        spec = TokenizerSpec(
            modality="image",
            discrete=False,
            latent_dim=c.latent_channels,
            downsample=(_factor(c),) * 2,
            channels=_channels(c),
            value_range=DIFFUSERS_RANGE,
            latent_scale=float(config_get(c, "scaling_factor", 1.0)),
            latent_shift=float(shift) if shift is not None else 0.0,
        )
        super().__init__(model, spec, value_range)


class AutoencoderKLCosmosAdapter(_GaussianVAEAdapter):
    """diffusers ``AutoencoderKLCosmos`` (NVIDIA Cosmos-1.0 continuous video tokenizers, e.g.
    ``load_adapter("diffusers:nvidia/Cosmos-1.0-Tokenizer-CV8x8x8/vae")``, the folder diffusers loads it from) as a
    continuous, causal omnitok video tokenizer.

    Input: RGB clips ``[B, 3, T, H, W]`` in [-1, 1] (diffusers' Cosmos pipelines normalise frames with
    ``VideoProcessor``, ``2 * x - 1``), channels-first as the model takes them, so no layout conversion.
    The first frame is coded alone (causal convolutions, a causal temporal attention mask): T = 1 + k t frames give
    1 + k latent frames (``spec.causal_time``), and 1-frame clips (images) work. H and W must be multiples of s.
    Factors: the Haar/rearrange patching divides time and space by ``patch_size``, then every encoder down block
    whose ``CosmosDownsample3d`` has the spatial (temporal) flag halves space (time): s, t = ``patch_size`` x 2 **
    (such blocks). The decoder's upsamplers must give the same factors (diffusers' config arithmetic builds
    mismatched pairs for some block counts; such a model is refused).

    ``encode``: ``model.encode(x).latent_dist.mode()`` (an identity distribution: encoder + quant_conv) ->
    [B, latent_channels, 1 + (T - 1) / t, H / s, W / s], unscaled. ``spec.latent_scale`` is the config's
    ``scaling_factor`` (1.0 for Cosmos); the per-channel ``latents_mean`` / ``latents_std`` the Cosmos pipelines
    normalise with stay on ``adapter.model.config``. ``decode``: ``model.decode(z).sample`` -> [B, 3, T, H, W].

    Args:
        model: a ``diffusers.AutoencoderKLCosmos``.
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    wrapped_classes = ("AutoencoderKLCosmos",)
    config_types = ("AutoencoderKLCosmos",)

    def __init__(self, model: nn.Module, *, value_range: Sequence[float] | None = None):
        _require(model, "AutoencoderKLCosmos")
        c = model.config
        temporal, spatial = cosmos_factors(model)
        spec = TokenizerSpec(
            modality="video",
            discrete=False,
            latent_dim=c.latent_channels,
            downsample=(temporal, spatial, spatial),
            channels=_channels(c),
            value_range=DIFFUSERS_RANGE,
            latent_scale=float(config_get(c, "scaling_factor", 1.0)),
            causal_time=True,
        )
        super().__init__(model, spec, value_range)


def cosmos_factors(model: nn.Module) -> tuple[int, int]:
    """(temporal, spatial) downsampling of an ``AutoencoderKLCosmos``, counted on its encoder and checked against
    its decoder (see :class:`AutoencoderKLCosmosAdapter`)."""
    patch = int(model.config.patch_size)

    def factors(blocks: Any, samplers: str, kind: str) -> tuple[int, int]:
        layers = [layer for block in blocks for layer in (getattr(block, samplers) or ())]
        temporal = sum(bool(getattr(layer, f"temporal_{kind}")) for layer in layers)
        spatial = sum(bool(getattr(layer, f"spatial_{kind}")) for layer in layers)
        return patch * 2**temporal, patch * 2**spatial

    encoder = factors(model.encoder.down_blocks, "downsamplers", "downsample")
    decoder = factors(model.decoder.up_blocks, "upsamplers", "upsample")
    if encoder != decoder:
        raise ConfigError(
            f"this AutoencoderKLCosmos encodes with (temporal, spatial) factors {encoder} but decodes with {decoder}; "
            "a tokenizer must decode to its input size (check block_out_channels against the compression ratios)"
        )
    return encoder


def _require(model: Any, class_name: str) -> None:
    import diffusers

    if not isinstance(model, getattr(diffusers, class_name)):
        raise ConfigError(f"expected a diffusers.{class_name}, got {type(model).__module__}.{type(model).__name__}")


def _factor(config: Any) -> int:
    return spatial_factor(len(config.block_out_channels), "the autoencoder's block_out_channels")


def _channels(config: Any) -> int:
    if config.in_channels != config.out_channels:
        raise ConfigError(
            f"the autoencoder takes {config.in_channels} channels but decodes {config.out_channels}; a tokenizer "
            "must decode to its input format"
        )
    return int(config.in_channels)


def _load(model_class: type[nn.Module], ref: str | os.PathLike, kwargs: dict[str, Any]) -> nn.Module:
    """``model_class.from_pretrained`` with diffusers' failures turned into omnitok's WeightsError."""
    if importlib.util.find_spec("accelerate") is None:
        kwargs.setdefault("low_cpu_mem_usage", False)  # what diffusers falls back to anyway, without its warning
    name = model_class.__name__
    try:
        return model_class.from_pretrained(ref, **kwargs)
    except OSError as err:
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise WeightsError(f"cannot load a diffusers {name} from {str(ref)!r}{offline}: {err}") from err
    except (RuntimeError, ValueError, KeyError) as err:
        raise WeightsError(f"{str(ref)!r} does not hold a loadable diffusers {name}: {err}") from err


__all__ = ["AutoencoderKLAdapter", "AutoencoderKLCosmosAdapter", "VQModelAdapter", "cosmos_factors"]
