"""Any Hugging Face causal LM behind the unified Transformer's call, so ``UnifiedTrainer`` trains it unchanged.

``CausalLMAdapter(model)(ids, positions, attention_mask=, segments=)`` returns logits [B, L, V] like
:class:`~omnitok.unified.UnifiedTransformer`. Positions are plain 1-D: the token's index within its sample
(``positions``' (t, row, col) are not used, since most LMs' RoPE takes one axis). ``segments`` [B, L] (1, 2, ...
per packed sample, 0 on padding; see :mod:`omnitok.unified.row_packing`) restart the positions and confine attention
to each sample: a block-causal 4-D mask for eager/sdpa attention, or flash-attention's variable-length path (from
the restarting ``position_ids``) where the model uses ``flash_attention_*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from omnitok.errors import ConfigError, ShapeError
from omnitok.unified.row_packing import block_causal_mask, segment_positions


class CausalLMAdapter(nn.Module):
    """Wraps ``model`` (an ``AutoModelForCausalLM``, embeddings extended by :func:`extend_causal_lm`).

    Args:
        model: the causal LM.
        gradient_checkpointing: recompute activations in the backward pass (non-reentrant).
    """

    supports_packing = True

    def __init__(self, model: nn.Module, gradient_checkpointing: bool = False):
        super().__init__()
        self.model = model.train()  # from_pretrained returns eval mode; the adapter is for training
        if gradient_checkpointing:
            kwargs = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x names it so
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            model.config.use_cache = False

    @property
    def checkpointing(self) -> bool:
        """Whether activation (gradient) checkpointing is on."""
        return any(getattr(m, "gradient_checkpointing", False) for m in self.model.modules())

    @property
    def attn_implementation(self) -> str:
        return str(getattr(self.model.config, "_attn_implementation", None) or "eager")

    def forward(
        self,
        ids: Tensor,
        positions: Tensor | None = None,
        continuous: Mapping[str, Any] | None = None,
        attention_mask: Tensor | None = None,
        segments: Tensor | None = None,
    ) -> Tensor:
        """ids [B, L] -> logits [B, L, V]. ``attention_mask`` [B, L] (True = real token) marks padding when
        ``segments`` is not given (one sample per row); ``positions`` is accepted and ignored."""
        if continuous:
            raise ConfigError("a Hugging Face causal LM takes no continuous latents (no projection)")
        if ids.ndim != 2:
            raise ShapeError(f"ids must be [B, L] (flattened layout), got {tuple(ids.shape)}")
        if segments is None:
            segments = (
                attention_mask.long() if attention_mask is not None else torch.ones_like(ids)
            )  # padding: 0, one sample: 1
        if segments.shape != ids.shape:
            raise ShapeError(f"segments must be [B, L] = {tuple(ids.shape)}, got {tuple(segments.shape)}")
        segments = segments.to(ids.device)
        position_ids = segment_positions(segments)
        if self.attn_implementation.startswith("flash"):
            mask = None  # transformers reads the packed samples from the restarting position_ids (varlen)
        elif self.attn_implementation == "eager":
            allowed = block_causal_mask(segments)
            mask = torch.zeros(allowed.shape, device=ids.device).masked_fill(~allowed, torch.finfo(torch.float32).min)
        else:
            mask = block_causal_mask(segments)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=position_ids, use_cache=False)
        return out.logits
