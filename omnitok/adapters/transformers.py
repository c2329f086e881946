"""Adapters for the image tokenizers inside transformers' multimodal LLMs: Chameleon, Emu3 (also video) and Janus.

All three are taming-style VQGANs fed RGB ``[B, 3, H, W]`` in [-1, 1]:
- Chameleon: ``ChameleonImageProcessor`` rescales by 0.0078 (~1/128) and normalises with mean 1, std 1, i.e.
  ``x / 128 - 1`` for 0..255 pixels (transformers ``models/chameleon/image_processing_chameleon.py``).
- Emu3: the original ``Emu3VisionVQImageProcessor`` normalises ``x / 255`` with mean 0.5, std 0.5 (baaivision/Emu3
  ``emu3/tokenizer/image_processing_emu3visionvq.py``); transformers' ``Emu3ImageProcessor.postprocess`` expects
  "pixel values ranging from -1 to 1" (``models/emu3/image_processing_emu3.py``).
- Janus: the generation VQ is LlamaGen's VQ-16, trained on [-1, 1]; Janus turns decoded images into pixels with
  ``(dec + 1) / 2 * 255`` (deepseek-ai/Janus ``generation_inference.py``).

Loading: the hub ships these tokenizers inside the full models (``facebook/chameleon-7b``,
``Emu3-community/Emu3-Gen-hf``, ``deepseek-community/Janus-Pro-1B``: config ``model_type`` "chameleon" / "emu3" /
"janus" with a ``vq_config``, weights under ``model.vqmodel.``). ``from_pretrained`` builds the VQ class from the
``vq_config`` and loads only the ``vqmodel`` weights (transformers' ``key_mapping``), never the language model;
a folder written by the VQ class's own ``save_pretrained`` (model_type "*_vqgan") loads the same way.

transformers is imported only when a model is wrapped or loaded.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.adapters.base import DecoderUnavailableError, ModelAdapter, spatial_factor
from omnitok.errors import ConfigError, WeightsError
from omnitok.protocol import TokenizerSpec

VQ_RANGE = (-1.0, 1.0)
VQ_KEYS = {r"^(model\.)?vqmodel\.": ""}  # full-model checkpoint keys -> VQ model keys
_NO_CROP = 2**30  # an image_sizes entry no token grid reaches


class TransformersAdapter(ModelAdapter):
    """A transformers model as an omnitok tokenizer, loaded by its class name (``wrapped_classes[0]``) from a folder
    or hub id whose config's ``model_type`` is one of ``config_types``."""

    config_types: tuple[str, ...] = ()

    @classmethod
    def _load_model(cls, ref: str | os.PathLike, kwargs: dict[str, Any]) -> nn.Module:
        return _load(cls.wrapped_classes[0], ref, kwargs, cls.config_types)


class ChameleonVQVAEAdapter(TransformersAdapter):
    """transformers ``ChameleonVQVAE`` (Chameleon's image tokenizer, f16, 8192 codes) as an omnitok tokenizer.

    ``encode``: x [B, 3, H, W] in [-1, 1] -> ``model.encode(x).image_tokens`` (encoder, quant_conv, nearest code)
    reshaped to [B, H/f, W/f], f = 2 ** (len(channel_multiplier) - 1).

    transformers' ChameleonVQVAE has no decoder, and the converted hub checkpoints drop its weights, so ``decode``
    raises :class:`DecoderUnavailableError` (``can_decode`` is False) unless a ``decoder`` is given: then
    ``decode`` = ``decoder(model.post_quant_conv(codebook vectors [B, embed_dim, h, w]))``, the order of taming's
    ``VQModel.decode``, and must return [B, 3, H, W] in [-1, 1].

    Args:
        model: a ``ChameleonVQVAE``, or a Chameleon model holding one as ``vqmodel`` (its VQ is taken).
        decoder: optional module [B, latent_channels, h, w] -> [B, 3, H, W].
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    library = "transformers"
    wrapped_classes = ("ChameleonVQVAE",)
    config_types = ("chameleon_vqgan", "chameleon")

    def __init__(
        self, model: nn.Module, *, decoder: nn.Module | None = None, value_range: Sequence[float] | None = None
    ):
        model = _vq_submodule(model, "ChameleonVQVAE")
        c = model.config
        spec = _vq_spec(c.num_embeddings, c, c.in_channels)
        super().__init__(model, spec, value_range)
        self.decoder = decoder.eval() if decoder is not None else None

    @property
    def can_decode(self) -> bool:
        return self.decoder is not None

    def to(self, *args: Any, **kwargs: Any) -> ChameleonVQVAEAdapter:
        super().to(*args, **kwargs)
        if self.decoder is not None:
            self.decoder.to(*args, **kwargs)
        return self

    def _encode(self, x: Tensor) -> Tensor:
        indices = self.model.encode(x).image_tokens  # flat (B*h*w,)
        return indices.reshape(x.shape[0], *self.spec.grid(x.shape[2:]))

    def _decode(self, tokens: Tensor) -> Tensor:
        if self.decoder is None:
            raise DecoderUnavailableError(
                "transformers' ChameleonVQVAE has no decoder (the hub checkpoints drop its weights); "
                "pass decoder=... to ChameleonVQVAEAdapter to decode"
            )
        quantized = self.model.quantize.embedding(tokens).permute(0, 3, 1, 2).contiguous()  # (B, embed_dim, h, w)
        return self.decoder(self.model.post_quant_conv(quantized))


class Emu3VQVAEAdapter(TransformersAdapter):
    """transformers ``Emu3VQVAE`` (Emu3's image/video tokenizer, f8, 32768 codes) as an omnitok tokenizer.

    ``mode="image"``: x [B, 3, H, W] in [-1, 1] -> ``model.encode(x, image_sizes)`` (the model repeats the image
    ``temporal_downsample_factor`` times and the temporal convs reduce that to one step) -> indices [B, H/f, W/f],
    f = 2 ** (len(channel_multiplier) - 1) (the model's ``spatial_scale_factor``). ``decode``:
    ``model.decode(indices [B, h, w])``, which decodes the clip and keeps its first frame.

    ``mode="video"`` (spec modality "video", downsample (t, f, f), t = ``temporal_downsample_factor``, 4 in Emu3):
    clips [B, 3, T, H, W] in [-1, 1], T a multiple of t (the temporal convs are strided with left padding, but the
    first frame is not coded alone: no ``causal_time``, so 1-frame clips are refused; use image mode for images).
    ``encode`` hands the model [B, T, 3, H, W] (its layout) and returns indices [B, T/t, H/f, W/f]; ``decode`` runs
    ``model.decode(indices [B, T', h, w])`` -> [B, T' t, 3, H, W] and returns it channels-first [B, 3, T, H, W].
    (transformers' ``encode`` crops each sample's codes to ``image_sizes`` on its first two axes, which for video are
    time and height; the adapter passes sizes too large to crop anything.)

    Args:
        model: an ``Emu3VQVAE``, or an Emu3 model holding one as ``vqmodel``.
        mode: "image" or "video".
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    library = "transformers"
    wrapped_classes = ("Emu3VQVAE",)
    config_types = ("emu3_vqgan", "emu3")

    def __init__(
        self,
        model: nn.Module,
        *,
        mode: Literal["image", "video"] = "image",
        value_range: Sequence[float] | None = None,
    ):
        from omnitok.modalities import get_modality

        if mode not in ("image", "video"):  # the option's values: the two modalities the model codes
            raise ConfigError(f"Emu3VQVAEAdapter mode must be 'image' or 'video', got {mode!r}")
        clips = get_modality(mode).has_time
        model = _vq_submodule(model, "Emu3VQVAE")
        c = model.config
        spec = _vq_spec(c.codebook_size, c, _same_channels(c))
        if clips:
            spec = dataclasses.replace(
                spec, modality="video", downsample=(int(c.temporal_downsample_factor), *spec.downsample)
            )
        super().__init__(model, spec, value_range)
        self.mode, self.clips = mode, clips

    def _encode(self, x: Tensor) -> Tensor:
        if self.clips:
            x = x.transpose(1, 2)  # (B, 3, T, H, W) -> the model's (B, T, 3, H, W)
            sizes = torch.full((x.shape[0], 2), _NO_CROP, device=x.device)  # its crop would cut time and height
        else:
            sizes = torch.tensor([list(x.shape[2:])] * x.shape[0], device=x.device)  # (B, 2): no padding to crop
        return torch.stack(self.model.encode(x, image_sizes=sizes).image_tokens)  # (B, [T',] h, w)

    def _decode(self, tokens: Tensor) -> Tensor:
        if self.clips:
            return self.model.decode(tokens).transpose(1, 2)  # (B, T, 3, H, W) -> (B, 3, T, H, W)
        return self.model.decode(tokens)  # (B, 3, H, W): the first frame of the decoded clip


class JanusVQVAEAdapter(TransformersAdapter):
    """transformers ``JanusVQVAE`` (Janus' generation tokenizer: LlamaGen VQ-16, 16384 codes of 8 dims).

    ``encode``: x [B, 3, H, W] in [-1, 1] -> ``model.encode(x).image_tokens`` reshaped to [B, H/f, W/f],
    f = 2 ** (len(channel_multiplier) - 1). ``decode``: ``model.decode`` (l2-normalised code vectors,
    post_quant_conv, decoder); ``model.decode`` takes only the square ``num_patches`` x ``num_patches`` grid
    (384 x 384 images for Janus-Pro), so other grids run the same three steps here.

    transformers' ``encode`` searches the raw codebook with the raw latents, while the original Janus (LlamaGen,
    ``codebook_l2_norm=True``) l2-normalises both first; the two agree only when every code has the same norm.
    ``l2_normalized_lookup=True`` follows the original (nearest code by cosine similarity).

    Args:
        model: a ``JanusVQVAE``, or a Janus model holding one as ``vqmodel``.
        l2_normalized_lookup: search codes as the original Janus does instead of as transformers does.
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    library = "transformers"
    wrapped_classes = ("JanusVQVAE",)
    config_types = ("janus_vqgan", "janus")

    def __init__(
        self,
        model: nn.Module,
        *,
        l2_normalized_lookup: bool = False,
        value_range: Sequence[float] | None = None,
    ):
        model = _vq_submodule(model, "JanusVQVAE")
        c = model.config
        spec = _vq_spec(c.num_embeddings, c, _same_channels(c))
        super().__init__(model, spec, value_range)
        self.l2_normalized_lookup = l2_normalized_lookup

    def _encode(self, x: Tensor) -> Tensor:
        grid = self.spec.grid(x.shape[2:])
        if not self.l2_normalized_lookup:
            return self.model.encode(x).image_tokens.reshape(x.shape[0], *grid)
        z = self.model.quant_conv(self.model.encoder(x))  # (B, embed_dim, h, w)
        codes = F.normalize(self.model.quantize.embedding.weight, dim=-1)  # (K, embed_dim)
        similarity = torch.einsum("bdhw,kd->bhwk", F.normalize(z, dim=1), codes)
        return similarity.argmax(dim=-1)  # nearest unit code = highest cosine

    def _decode(self, tokens: Tensor) -> Tensor:
        side = self.model.config.num_patches
        if tuple(tokens.shape[1:]) == (side, side):
            return self.model.decode(tokens.flatten(1))
        codes = F.normalize(self.model.quantize.embedding(tokens), dim=-1).permute(0, 3, 1, 2).contiguous()
        return self.model.decoder(self.model.post_quant_conv(codes))


def _vq_spec(codebook_size: int, config: Any, channels: int) -> TokenizerSpec:
    """The spec shared by the transformers VQGANs: one codebook, f = 2 ** (len(channel_multiplier) - 1), (-1, 1)."""
    return TokenizerSpec(
        modality="image",
        discrete=True,
        codebook_sizes=(codebook_size,),
        latent_dim=config.embed_dim,
        downsample=(spatial_factor(len(config.channel_multiplier), "channel_multiplier"),) * 2,
        channels=channels,
        value_range=VQ_RANGE,
    )


def _same_channels(config: Any) -> int:
    if config.in_channels != config.out_channels:
        raise ConfigError(
            f"the VQ takes {config.in_channels} channels but decodes {config.out_channels}; a tokenizer must "
            "decode to its input format"
        )
    return int(config.in_channels)


def _vq_submodule(model: Any, class_name: str) -> nn.Module:
    """``model`` itself when it is the VQ class, else its ``vqmodel`` / ``model.vqmodel`` (full checkpoints)."""
    import transformers

    vq_class = getattr(transformers, class_name)
    for candidate in (model, getattr(model, "vqmodel", None), getattr(getattr(model, "model", None), "vqmodel", None)):
        if isinstance(candidate, vq_class):
            return candidate
    raise ConfigError(
        f"expected a transformers.{class_name} or a model holding one as .vqmodel, got "
        f"{type(model).__module__}.{type(model).__name__}"
    )


def _load(class_name: str, ref: str | os.PathLike, kwargs: dict[str, Any], accepted: Sequence[str]) -> nn.Module:
    """``VQClass.from_pretrained`` for a VQ folder or a full-model checkpoint whose config ``model_type`` is in
    ``accepted``; missing weights are an error (transformers would only warn and leave them random)."""
    import transformers
    from transformers.utils import logging as hf_logging

    vq_class = getattr(transformers, class_name)
    _check_model_type(class_name, ref, kwargs, accepted)
    kwargs.setdefault("key_mapping", VQ_KEYS)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a full checkpoint's language-model weights are expectedly left unused
    try:
        model, info = vq_class.from_pretrained(ref, output_loading_info=True, **kwargs)
    except OSError as err:
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise WeightsError(f"cannot load a transformers {class_name} from {str(ref)!r}{offline}: {err}") from err
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"{str(ref)!r} does not hold a loadable {class_name}: {err}") from err
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(info.get("missing_keys", ())) + sorted(str(k) for k in info.get("mismatched_keys", ()))
    if missing:
        raise WeightsError(
            f"{str(ref)!r} lacks {class_name} weights (e.g. {missing[:3]}); is it a {class_name} checkpoint?"
        )
    return model


def _check_model_type(class_name: str, ref: str | os.PathLike, kwargs: dict[str, Any], accepted: Sequence[str]) -> None:
    """Refuse another model's checkpoint up front: similar VQGANs share weight names, so loading alone would not."""
    from transformers import PretrainedConfig

    hub_keys = ("subfolder", "revision", "cache_dir", "token", "local_files_only")
    try:
        config, _ = PretrainedConfig.get_config_dict(ref, **{k: kwargs[k] for k in hub_keys if k in kwargs})
    except OSError as err:
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise WeightsError(f"cannot load a transformers {class_name} from {str(ref)!r}{offline}: {err}") from err
    model_type = config.get("model_type")
    if model_type not in accepted:
        raise ConfigError(
            f"{str(ref)!r} holds a model_type {model_type!r} checkpoint; {class_name} loads {', '.join(accepted)}"
        )


__all__ = ["ChameleonVQVAEAdapter", "Emu3VQVAEAdapter", "JanusVQVAEAdapter"]
