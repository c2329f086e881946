"""``UnifiedTrainer``: next-token training of the unified Transformer on interleaved sequences.

Batches are ``SharedVocabulary.collate`` dicts: ``ids`` [B, L] (or [B, L, S] for the delayed layout),
``positions`` [B, L, 3], ``modality`` [B, L], ``attention_mask`` [B, L], ``loss_mask`` [B, L(, S)] and
``continuous``. The loss is cross-entropy of ``logits[:, :-1]`` against ``ids[:, 1:]`` where ``loss_mask[:, 1:]``,
each target token weighted by the weight of its modality (``loss_weights``: "text" for text/bos/eos, else a
tokenizer's name; begin/end tokens of a span count as that span's modality), summed and divided by the number of
target tokens, so a weight of 2 doubles a modality's share of the gradient. Learning rate: linear warm-up, then
constant or cosine decay over ``max_steps``.

The model is either the reference ``omnitok.unified.UnifiedTransformer`` or any Hugging Face causal LM behind
``omnitok.unified.CausalLMAdapter``. A batch from ``omnitok.unified.pack_rows`` also carries ``segments`` [B, L]
(several samples per row); it goes to models with ``supports_packing`` (both: they mask attention per sample).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from omnitok.errors import ConfigError, NonFiniteError
from omnitok.trainers.schedule import lr_factor

TEXT = "text"


class UnifiedTrainer(pl.LightningModule):
    """Trains ``model`` (``omnitok.unified.UnifiedTransformer`` or ``CausalLMAdapter``) for next-token prediction.

    Args:
        model: the Transformer; ``model(ids, positions, continuous=, attention_mask=)`` gives logits [B, L(, S), V]
            (``UnifiedTransformer`` or ``CausalLMAdapter`` over a Hugging Face causal LM).
        vocabulary: the ``SharedVocabulary`` the batches were packed with (maps modality names to tags).
        loss_weights: weight per modality name ("text" or a tokenizer name); unnamed modalities weigh 1.
        learning_rate, betas, weight_decay: AdamW settings (weight decay on matrices only).
        warmup_steps: linear warm-up; lr_schedule: "constant" or "cosine" (to ``min_lr_ratio``) after it.
        max_steps: training length in batches.
        gradient_clip: max global gradient norm, or None.
    """

    def __init__(
        self,
        model: nn.Module,
        vocabulary: Any,
        loss_weights: dict[str, float] | None = None,
        learning_rate: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
        lr_schedule: Literal["constant", "cosine"] = "cosine",
        min_lr_ratio: float = 0.1,
        max_steps: int = 1000,
        gradient_clip: float | None = 1.0,
    ) -> None:
        super().__init__()
        if lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
        if max_steps < 1 or warmup_steps < 0:
            raise ConfigError(f"need max_steps >= 1 and warmup_steps >= 0, got {max_steps}, {warmup_steps}")
        loss_weights = dict(loss_weights or {})
        known = [TEXT, *vocabulary.names]
        unknown = sorted(set(loss_weights) - set(known))
        if unknown:
            raise ConfigError(f"loss_weights names unknown modalities {unknown}; the vocabulary has {known}")
        if any(not (w >= 0 and math.isfinite(w)) for w in loss_weights.values()):
            raise ConfigError(f"loss weights must be finite and >= 0, got {loss_weights}")
        self.model, self.vocabulary = model, vocabulary
        self.loss_weights = loss_weights
        tags = {TEXT: 0, **{name: vocabulary.tag_of(name) for name in vocabulary.names}}
        table = torch.ones(max(tags.values()) + 1)
        for name, weight in loss_weights.items():
            table[tags[name]] = weight
        self.tag_names = {tag: name for name, tag in tags.items()}
        self.register_buffer("weight_by_tag", table, persistent=False)
        self.learning_rate, self.betas, self.weight_decay = learning_rate, tuple(betas), weight_decay
        self.warmup_steps, self.lr_schedule, self.min_lr_ratio = warmup_steps, lr_schedule, min_lr_ratio
        self.max_steps, self.gradient_clip = max_steps, gradient_clip

    @property
    def step(self) -> int:
        """Batches trained so far (drives the data order, so a resumed run continues the same stream)."""
        return int(self.global_step)

    # ------------------------------------------------------------------------------------------- the loss
    def loss(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted next-token loss of one collated batch, and detached figures (loss and accuracy per modality)."""
        ids, modality = batch["ids"], batch["modality"]
        packed = {}
        if batch.get("segments") is not None:  # several samples per row (omnitok.unified.row_packing.pack_rows)
            if not getattr(self.model, "supports_packing", False):
                raise ConfigError(
                    f"this batch packs several samples per row; {type(self.model).__name__} cannot mask them apart "
                    "(use one sample per row, or a model with supports_packing such as CausalLMAdapter)"
                )
            packed["segments"] = batch["segments"]
        logits = self.model(
            ids,
            batch["positions"],
            continuous=batch.get("continuous") or None,
            attention_mask=batch["attention_mask"],
            **packed,
        )  # (B, L, V) or (B, L, S, V)
        logits, targets, mask = logits[:, :-1], ids[:, 1:], batch["loss_mask"][:, 1:]
        tags = modality[:, 1:]
        if targets.ndim == 3:  # delayed streams: every stream of a step shares the step's modality
            tags = tags.unsqueeze(-1).expand_as(targets)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
        ce, tags, mask = ce.view(targets.shape), tags.clamp(max=len(self.weight_by_tag) - 1), mask.bool()
        count, world = _global_count(mask.sum())
        total = (ce * self.weight_by_tag[tags] * mask).sum() * world / count  # this rank's share of the global mean
        figures: dict[str, Tensor] = {"loss": total.detach()}
        with torch.no_grad():
            right = logits.argmax(-1) == targets
            for tag, name in self.tag_names.items():
                where = mask & (tags == tag)
                if where.any():
                    figures[f"loss_{name}"] = ce[where].mean()
                    figures[f"accuracy_{name}"] = right[where].float().mean()
        return total, figures

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:
        total, figures = self.loss(batch)
        if not torch.isfinite(total):
            raise NonFiniteError(f"the next-token loss is {total.item()} at step {self.step}; lower the learning rate")
        size = batch["ids"].shape[0]
        self.log_dict({f"train/{k}": v for k, v in figures.items()}, on_step=True, batch_size=size)
        self.log("loss", figures["loss"], prog_bar=True, on_step=True, logger=False, batch_size=size)
        return total

    # ----------------------------------------------------------------------------------------- optimizers
    def _schedule(self, step: int) -> float:
        return lr_factor(step, self.warmup_steps, self.lr_schedule, self.min_lr_ratio, self.max_steps)

    def configure_optimizers(self) -> Any:
        decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim >= 2]
        rest = [p for p in self.model.parameters() if p.requires_grad and p.ndim < 2]
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=self.learning_rate, betas=self.betas)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        if self.gradient_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip, gradient_clip_algorithm="norm")


def _global_count(count: Tensor) -> tuple[Tensor, int]:
    """(loss tokens over all ranks, world size). Ranks hold different numbers of loss tokens, so each divides its
    summed loss by the global count and multiplies by the world size: DDP's gradient average is then the gradient
    of the global token mean, as one process holding the whole global batch would take it."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return count.clamp_min(1), 1
    count = count.detach().clone()
    dist.all_reduce(count)
    return count.clamp_min(1), dist.get_world_size()
