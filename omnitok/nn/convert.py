"""Weight conversion from diffusers' VAE ``Encoder`` / ``Decoder`` to :class:`ConvEncoder2d` / :class:`ConvDecoder2d`.

Pure renaming, except attention: diffusers' separate ``to_q`` / ``to_k`` / ``to_v`` Linears are stacked into our one
``qkv`` Linear (q, k, v along the output axis) and ``to_out.0`` becomes ``proj``. The deprecated diffusers names
(``query`` / ``key`` / ``value`` / ``proj_attn``, still found in older hub checkpoints) and 1x1-conv-shaped attention
weights ``[C, C, 1, 1]`` are accepted too. Diffusers' decoder ``up_blocks`` run lowest resolution first, which is
the order of our ``up`` list, so ``up_blocks.j`` maps to ``up.j``.

Typical use, for an ``AutoencoderKL`` or ``VQModel`` state dict::

    encoder.load_state_dict(encoder_state_from_diffusers(vae.state_dict(), prefix="encoder."))
    decoder.load_state_dict(decoder_state_from_diffusers(vae.state_dict(), prefix="decoder."))

(``quant_conv`` / ``post_quant_conv`` are not part of these networks; fold them into ``conv_out`` / ``conv_in`` or
keep them beside.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor

from omnitok.errors import WeightsError

# diffusers module path (regex, anchored at the start of the key) -> our module path
_MODULES: list[tuple[str, str]] = [
    (r"conv_in", "conv_in"),
    (r"conv_norm_out", "norm_out"),
    (r"conv_out", "conv_out"),
    (r"mid_block\.resnets\.0", "mid.block_1"),
    (r"mid_block\.resnets\.1", "mid.block_2"),
    (r"mid_block\.attentions\.0", "mid.attention"),
    (r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)", r"\1.\2.blocks.\3"),
    (r"(down|up)_blocks\.(\d+)\.attentions\.(\d+)", r"\1.\2.attentions.\3"),
    (r"(down)_blocks\.(\d+)\.downsamplers\.0\.conv", r"\1.\2.resample.conv"),
    (r"(up)_blocks\.(\d+)\.upsamplers\.0\.conv", r"\1.\2.resample.conv"),
]
_RESNET_PARTS = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "conv_shortcut": "shortcut"}
_ATTENTION_PARTS = {
    "group_norm": "norm", "to_out.0": "proj", "proj_attn": "proj",
    "to_q": "q", "query": "q", "to_k": "k", "key": "k", "to_v": "v", "value": "v",
}
_KEY = re.compile(r"^(?P<path>.+?)\.(?P<param>weight|bias)$")


def encoder_state_from_diffusers(state_dict: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """State dict of diffusers' ``Encoder`` -> state dict of :class:`ConvEncoder2d` at the same architecture.

    Args:
        state_dict: diffusers weights.
        prefix: only keys starting with it are converted, with it removed (``"encoder."`` for a whole
            ``AutoencoderKL`` / ``VQModel``); with the default "" every key must belong to the encoder.

    Raises:
        WeightsError: a key that is no part of a diffusers encoder, or an attention missing q, k or v.
    """
    return _convert(state_dict, prefix, "down")


def decoder_state_from_diffusers(state_dict: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """State dict of diffusers' ``Decoder`` (group norm) -> state dict of :class:`ConvDecoder2d`; see the encoder."""
    return _convert(state_dict, prefix, "up")


def _convert(state_dict: Mapping[str, Tensor], prefix: str, direction: str) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}  # (attention path, param) -> {"q": ..., "k": ..., "v": ...}
    unknown: list[str] = []
    for full_key, value in state_dict.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        converted = _convert_key(key, direction)
        if converted is None:
            unknown.append(full_key)
            continue
        path, part, param = converted
        if part in ("q", "k", "v"):
            qkv.setdefault((path, param), {})[part] = value
        elif part == "proj":
            out[f"{path}.proj.{param}"] = _as_linear(value, full_key)
        else:
            out[f"{path}.{part}.{param}" if part else f"{path}.{param}"] = value
    if unknown:
        shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
        what = "encoder" if direction == "down" else "decoder"
        hint = ""
        if not prefix and any(k.startswith(("encoder.", "decoder.")) for k in unknown):
            hint = f"; for a whole VAE's state dict pass prefix={what + '.'!r}"
        raise WeightsError(f"keys that are no part of a diffusers VAE {what} (prefix {prefix!r}): {shown}{hint}")
    for (path, param), parts in qkv.items():
        missing = [p for p in "qkv" if p not in parts]
        if missing:
            raise WeightsError(f"attention {prefix}{path} lacks {', '.join(missing)} for its {param}")
        out[f"{path}.qkv.{param}"] = torch.cat([_as_linear(parts[p], f"{prefix}{path}") for p in "qkv"], dim=0)
    if not out:
        raise WeightsError(f"no diffusers VAE weights found under prefix {prefix!r}")
    return out


def _convert_key(key: str, direction: str) -> tuple[str, str, str] | None:
    """diffusers key -> (our module path, part inside it, "weight" | "bias"); None when the key is unknown."""
    match = _KEY.match(key)
    if match is None:
        return None
    path, param = match["path"], match["param"]
    for pattern, replacement in _MODULES:
        found = re.match(pattern + r"(?:\.(?P<rest>.+))?$", path)
        if found is None:
            continue
        if found.re.groups > 1 and found.group(1) in ("down", "up") and found.group(1) != direction:
            return None
        ours = found.expand(replacement)
        rest = found["rest"]
        if ".resnets." in path:
            part = _RESNET_PARTS.get(rest or "")
        elif ".attentions." in path:
            part = _ATTENTION_PARTS.get(rest or "")
        else:
            part = "" if rest is None else None
        return None if part is None else (ours, part, param)
    return None


def _as_linear(value: Tensor, key: str) -> Tensor:
    """Attention weights as Linear weights: [C, C] stays, a 1x1 conv's [C, C, 1, 1] is reshaped; biases pass."""
    if value.ndim == 4 and value.shape[2:] == (1, 1):
        return value.reshape(value.shape[0], value.shape[1])
    if value.ndim not in (1, 2):
        raise WeightsError(f"{key}: attention weight of shape {tuple(value.shape)} is neither Linear nor 1x1 conv")
    return value
