"""``OmniTrainer``: joint training of an :class:`omnitok.models.OmniTokenizer` (one codebook for image, video and
audio) on batches of every modality at once.

One training step (batches from :class:`omnitok.trainers.OmniDataModule`: every step carries one batch of every
modality, each at its own batch size):

1. each modality's encoder (and the shared bottleneck) turns its batch into latents;
2. **the shared quantizer runs once**, on all modalities' latents pooled into one token list
   ``[1, D, N_image + N_video + N_audio]`` (``omni(batches)``, :meth:`omnitok.models.OmniTokenizer.forward`): its
   k-means initialisation, its EMA statistics and its dead-code restarts see the tokens of every modality in that
   step, in proportion to their token counts.
   Under data parallelism each rank pools its share of every modality's batch, and the quantizer's random draws
   (k-means seeds, restarts, residual dropout) follow the pool of the global batch, modality by modality
   (:func:`omnitok.distributed.pooled_rows`): N processes at batch B/N train as one process at batch B;
3. each decoder reconstructs its modality from its slice of the quantized tokens;
4. the loss is ``sum_m modality_weights[m] * sum_t t.weight * t(x_hat_m, x_m)`` (each modality's own loss terms, the
   same classes as the single-modality recipes: L1/L2, LPIPS, multi-scale mel, SI-SDR, ...) plus the quantizer's
   loss, which is computed once over the pooled tokens (a mean over all tokens: a modality's share of the
   commitment term follows its share of the step's tokens). Weights are fixed (default 1.0 each); no adaptive
   balancing.

The step, schedules, gradient clipping, non-finite skipping, EMA of the weights (used for validation and export),
checkpoints and exact resume are :class:`omnitok.trainers.TokenizerTrainer`'s (this class extends it by one level so
``omnitok train`` runs it as it runs every tokenizer recipe). No adversarial term: an omni run trains without
discriminators (the CPU quickstarts run without them too). With a residual quantizer, quantizer dropout draws one
depth per step for all modalities (the pooled tokens count as one sample, on every rank).

Under ``trainer.strategy: fsdp`` (:mod:`omnitok.trainers.sharding`) each block of every branch's encoder and decoder
is an FSDP unit, the bottleneck another; the quantizer stays in the tokenizer's root unit, whose weights the step's one
call ``omni(batches)`` gathers, and its codebook buffers are kept equal across processes as under DDP.

Validation logs ``val/{modality}/psnr`` and ``val/{modality}/l1`` per modality and the shared codebook's statistics
per modality (``val/codes/{modality}/codebook_usage``, ``.../perplexity``, ``val/codes/overlap/used_by_{k}``, ...:
:func:`omnitok.quantizers.stats.shared_codebook_stats`). The held-out report (:mod:`omnitok.trainers.omni_heldout`)
adds them to ``heldout.json`` / ``heldout.md``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from omnitok.config import config_value
from omnitok.errors import ConfigError
from omnitok.metrics import psnr, to_unit_range
from omnitok.quantizers.stats import CodebookStats, shared_codebook_stats
from omnitok.trainers.rank_split import gather_in_order, is_mine
from omnitok.trainers.sharding import reshard
from omnitok.trainers.system import TokenizerTrainer, _built


class OmniTrainer(TokenizerTrainer):
    """Trains an ``OmniTokenizer`` on steps holding a batch of every modality (see the module docstring).

    Args:
        tokenizer: the :class:`omnitok.models.OmniTokenizer`.
        losses: modality -> its generator loss terms (``ReconstructionLoss``, ``PerceptualLoss``,
            ``MultiScaleMelLoss``, ``SISDRLoss``, ...), each with its own ``weight``; every modality of the tokenizer
            needs at least one term.
        modality_weights: modality -> fixed factor on that modality's weighted loss sum (default 1.0 each).
        learning_rate: peak learning rate (Adam) of the shared parts: the quantizer and the bottleneck.
        learning_rates: modality -> peak learning rate of that branch's encoder and decoder (default
            ``learning_rate``), e.g. each single-modality recipe's own rate; one schedule scales them all.
        betas, weight_decay, warmup_steps, lr_schedule, min_lr_ratio, max_steps, gradient_clip,
        ema_decay, max_nonfinite_steps, log_images_every: as :class:`~omnitok.trainers.TokenizerTrainer`.
    """

    def __init__(
        self,
        tokenizer: nn.Module | dict[str, Any],
        losses: Mapping[str, Sequence[nn.Module | dict[str, Any]]],
        modality_weights: Mapping[str, float] | None = None,
        learning_rate: float = 1e-4,
        learning_rates: Mapping[str, float] | None = None,
        betas: tuple[float, float] = (0.5, 0.9),
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        lr_schedule: Literal["constant", "cosine"] = "constant",
        min_lr_ratio: float = 0.1,
        max_steps: int = 10_000,
        gradient_clip: float | None = 1.0,
        ema_decay: float | None = None,
        max_nonfinite_steps: int = 20,
        log_images_every: int = 1,
    ):
        tokenizer = _built(tokenizer)
        modalities = getattr(tokenizer, "modalities", None)
        if not modalities or not hasattr(tokenizer, "branches"):
            raise ConfigError(f"OmniTrainer trains an omnitok.models.OmniTokenizer, got {type(tokenizer).__name__}")
        super().__init__(
            tokenizer,
            losses=(),
            adversarial=None,
            learning_rate=learning_rate,
            betas=betas,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            lr_schedule=lr_schedule,
            min_lr_ratio=min_lr_ratio,
            max_steps=max_steps,
            gradient_clip=gradient_clip,
            ema_decay=ema_decay,
            max_nonfinite_steps=max_nonfinite_steps,
            media_key=modalities[0],
            log_images_every=log_images_every,
        )
        self._save_recipe(locals())
        unknown = sorted(set(losses) - set(modalities))
        missing = [m for m in modalities if not losses.get(m)]
        if unknown or missing:
            raise ConfigError(
                f"OmniTrainer.losses: give loss terms for each of the tokenizer's modalities {list(modalities)}"
                + (f"; none for {missing}" if missing else "")
                + (f"; {unknown} are not among them" if unknown else "")
            )
        weights = {m: 1.0 for m in modalities} | dict(modality_weights or {})
        if set(weights) != set(modalities) or any(not w >= 0 for w in weights.values()):
            raise ConfigError(
                f"OmniTrainer.modality_weights: non-negative weights for {list(modalities)} only, got {modality_weights}"
            )
        built: dict[str, nn.ModuleList] = {}
        for modality in modalities:
            terms = [_built(term) for term in losses[modality]]
            for term in terms:
                if not hasattr(term, "weight") or not hasattr(term, "name"):
                    raise ConfigError(f"loss term {type(term).__name__} needs 'name' and 'weight' attributes")
            built[modality] = nn.ModuleList(terms)
        self.modality_losses = nn.ModuleDict(built)
        self.modality_weights = {m: float(weights[m]) for m in modalities}
        rates = {m: learning_rate for m in modalities} | dict(learning_rates or {})
        if set(rates) != set(modalities) or any(not r > 0 for r in rates.values()):
            raise ConfigError(
                f"OmniTrainer.learning_rates: positive rates for {list(modalities)} only, got {learning_rates}"
            )
        self.learning_rates = {m: float(rates[m]) for m in modalities}
        self._val_codes: dict[str, CodebookStats] = {}

    def _save_recipe(self, arguments: dict[str, Any]) -> None:
        """Lightning's hyperparameters as this class's plain recipe (see ``TokenizerTrainer._save_recipe``)."""
        if "modality_weights" not in arguments:  # TokenizerTrainer.__init__'s call: this class records its own
            return
        names = [n for n in list(inspect.signature(OmniTrainer.__init__).parameters)[1:] if n in arguments]
        try:
            recipe = {name: config_value(arguments[name], name) for name in names}
        except ConfigError:
            return
        self.save_hyperparameters(recipe)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.tokenizer.modalities)

    def heldout_views(self) -> dict[str, nn.Module]:
        """modality -> the ``Tokenizer`` view of the weights to evaluate (whole weights: a collective under FSDP)."""
        model = self.whole_inference_model()
        return {m: model.view(m).train(model.training) for m in self.modalities}

    def configure_optimizers(self) -> Any:
        """One Adam(W) over every weight, a parameter group per branch at its learning rate plus one for the shared
        quantizer and bottleneck; the warm-up / cosine schedule scales every group alike."""
        branch_params = {id(p) for branch in self.tokenizer.branches.values() for p in branch.parameters()}
        shared = [p for p in self.tokenizer.parameters() if p.requires_grad and id(p) not in branch_params]
        groups = [{"params": shared, "lr": self.learning_rate}] if shared else []
        for modality, branch in self.tokenizer.branches.items():
            params = [p for p in branch.parameters() if p.requires_grad]
            if params:
                groups.append({"params": params, "lr": self.learning_rates[modality]})
        cls = torch.optim.AdamW if self.weight_decay else torch.optim.Adam
        optimizer = cls(groups, lr=self.learning_rate, betas=self.betas, weight_decay=self.weight_decay)
        return [optimizer], [torch.optim.lr_scheduler.LambdaLR(optimizer, self._schedule)]

    # --------------------------------------------------------------------------------------------- training
    def _batches(self, batch: Any) -> dict[str, Tensor]:
        missing = [m for m in self.modalities if not isinstance(batch, Mapping) or m not in batch]
        if missing:
            keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
            raise ConfigError(f"an omni training batch needs every modality; {missing} missing (got {keys}): use "
                              "omnitok.trainers.OmniDataModule with a data module per modality")  # fmt: skip
        return {m: batch[m] for m in self.modalities}

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor] | None:
        xs = self._batches(batch)
        if batch.get("skipped"):
            self.skipped_files.extend(batch["skipped"])
        step = self.step
        self.step += 1
        optimizers, schedulers = self._optimizers(), self._schedulers()
        logs = None
        try:  # a modality whose files were all unreadable (on any rank): the whole step is skipped
            if self._all_true(all(x.shape[0] > 0 for x in xs.values())):
                logs = self._joint_step(xs, step, optimizers[0])
        finally:
            with warnings.catch_warnings():  # schedules follow the step, even where the optimizer did not step
                warnings.filterwarnings("ignore", message=r".*lr_scheduler\.step\(\)` before `optimizer\.step\(\)`.*")
                for scheduler in schedulers:
                    scheduler.step()
            self._count_batches()
            if self.sharded:
                reshard(self)
        if logs is None:
            return None
        logs = self._mean_over_ranks(logs)
        examples = sum(x.shape[0] for x in xs.values())
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, on_step=True, batch_size=examples)
        for name in ("loss", "usage"):
            if name in logs:
                self.log(name, logs[name], prog_bar=True, on_step=True, logger=False, batch_size=examples)
        return {"loss": logs["loss"].detach()}

    def _joint_step(self, xs: dict[str, Tensor], step: int, optimizer: Any) -> dict[str, Tensor] | None:
        self.toggle_optimizer(optimizer)
        joint = self.tokenizer(xs)  # one call of the module (FSDP gathers the root unit there)
        total = joint.quantizer.loss.float()
        logs: dict[str, Tensor] = {}
        for modality, out in joint.outputs.items():
            x, x_hat = xs[modality], out.reconstruction
            terms = {
                term.name: term(x_hat, x, out) if getattr(term, "needs_output", False) else term(x_hat, x)
                for term in self.modality_losses[modality]
            }
            weighted = sum(
                (t.weight * terms[t.name] for t in self.modality_losses[modality]), x_hat.new_zeros(()).float()
            )
            total = total + self.modality_weights[modality] * weighted
            logs.update({f"{modality}/loss_{name}": value.detach() for name, value in terms.items()})
            logs[f"{modality}/loss"] = weighted.detach()
            with torch.no_grad():
                spec = self.tokenizer.specs[modality]
                logs[f"{modality}/psnr"] = psnr(
                    to_unit_range(x_hat.detach(), spec.value_range), to_unit_range(x, spec.value_range)
                ).mean()
            for name, value in out.quantizer.metrics.items():
                logs[f"{modality}/{'usage' if name == 'batch_usage' else name}"] = value.detach().float()
        grad_norm = self._generator_update(optimizer, total, step, "the joint loss", "the joint gradient norm")
        if grad_norm is None:
            return None
        logs.update(
            loss=total.detach(),
            loss_quantizer=joint.quantizer.loss.detach(),
            grad_norm=grad_norm.detach(),
            lr=torch.tensor(optimizer.param_groups[0]["lr"]),
            skipped_steps=torch.tensor(float(self.skipped_steps)),
        )
        logs.update({k: v.detach().float() for k, v in joint.quantizer.metrics.items()})  # pooled over modalities
        if "batch_usage" in logs:
            logs["usage"] = logs.pop("batch_usage")
        return logs

    # ------------------------------------------------------------------------------------------- validation
    def _modality_of(self, batch: Mapping[str, Any]) -> str:
        present = [m for m in self.modalities if m in batch]
        if len(present) != 1:
            raise ConfigError(f"a validation batch holds one modality's media; found {present} in {sorted(batch)}")
        return present[0]

    def on_validation_epoch_start(self) -> None:
        sizes = self.tokenizer.quantizer.codebook_sizes
        self._val_codes = {m: CodebookStats(sizes) for m in self.modalities}
        self._val_figures = {}
        if self.sharded:
            self._whole["validation"] = self.whole_inference_model()

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Each validation loader holds one modality; each rank scores its share of its batches."""
        modality = self._modality_of(batch)
        if not is_mine(batch_idx, self._trainer):
            return
        x = batch[modality]
        if x.shape[0] == 0:
            return
        model = self._whole.get("validation", self.inference_model)
        out = model(x, modality=modality)
        x_hat, value_range = out.reconstruction, self.tokenizer.specs[modality].value_range
        order = self.modalities.index(modality)
        self._val_figures[(order, batch_idx)] = {  # type: ignore[index]
            "psnr": psnr(to_unit_range(x_hat, value_range), to_unit_range(x, value_range)).cpu(),
            "l1": (x_hat.float() - x.float()).abs().flatten(1).mean(1).cpu(),
            "modality": modality,
        }
        if out.quantizer.indices is not None:
            self._val_codes[modality].update(out.quantizer.indices)
        if batch_idx == 0 and self.log_images_every and self._val_rounds % self.log_images_every == 0:
            self._log_reconstructions(x, x_hat)  # image batches only (it skips other layouts)

    def on_validation_epoch_end(self) -> None:
        self._val_rounds += 1
        self._whole.pop("validation", None)
        batches = gather_in_order(self._val_figures, self._trainer)  # type: ignore[arg-type]
        figures: dict[str, Tensor] = {}
        for modality in self.modalities:
            mine = [b for b in batches or [] if b["modality"] == modality]
            for name in ("psnr", "l1"):
                if mine:
                    figures[f"val/{modality}/{name}"] = torch.cat([b[name] for b in mine]).mean().to(self.device)
        for stats in self._val_codes.values():
            stats.to(self.device)
            stats.sync()
        counted = {m: s for m, s in self._val_codes.items() if int(s.counts[0].sum()) > 0}
        for name, value in codebook_figures(counted).items():
            figures[f"val/codes/{name}"] = torch.tensor(value, device=self.device)
        if figures:
            self.log_dict(figures)


def codebook_figures(stats: Mapping[str, CodebookStats]) -> dict[str, float]:
    """Flat shared-codebook figures (:meth:`SharedCodebookStats.to_dict`) of the modalities' histograms; for several
    levels (residual, grouped) each level's figures under ``level{q}/``. Empty when no modality counted a token."""
    if not stats:
        return {}
    levels = len(next(iter(stats.values())).codebook_sizes)
    figures: dict[str, float] = {}
    for level in range(levels):
        prefix = f"level{level}/" if levels > 1 else ""
        shared = shared_codebook_stats(dict(stats), level=level)
        figures.update({f"{prefix}{k}": v for k, v in shared.to_dict().items()})
    return figures
