"""``TokenizerTrainer``: the one LightningModule that trains every tokenizer family.

Manual optimization, one step per batch: the generator (encoder + quantizer + decoder) on its loss terms, the
quantizer's loss and the adversarial term; then the discriminator. A step whose loss or gradients are not finite
is skipped and counted; too many in a row stop training with a clear error. The module's own ``step`` counter
(batches consumed) drives schedules, the discriminator start and the data position, so resuming continues exactly.
"""

from __future__ import annotations

import inspect
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor, nn

from omnitok.config import Configurable, config_value, instantiate, to_config
from omnitok.errors import ConfigError, NonFiniteError
from omnitok.metrics import psnr, to_unit_range
from omnitok.quantizers.stats import CodebookStats
from omnitok.trainers.ema import WeightEma
from omnitok.trainers.rank_split import gather_in_order, is_mine
from omnitok.trainers.schedule import lr_factor
from omnitok.trainers.sharding import is_sharded, reshard, shard_trainer, whole_copy

CHECKPOINT_KEY = "omnitok"


class TokenizerTrainer(pl.LightningModule, Configurable):
    """Trains ``tokenizer`` (an ``omnitok.models.Autoencoder``) on media batches ``{"image": x, ...}``.

    Args:
        tokenizer: the model; its ``forward(x)`` returns reconstruction + quantizer output.
        losses: generator loss terms (``ReconstructionLoss``, ``PerceptualLoss``, ...), each weighted; a term with
            ``needs_output = True`` (``SemanticDistillationLoss``) is called with ``(reconstruction, target, output)``.
        adversarial: discriminator + GAN loss (``AdversarialLoss``, or the audio ``FeatureMatchingGANLoss``), or None.
        learning_rate: generator peak learning rate (Adam).
        discriminator_learning_rate: defaults to ``learning_rate``.
        betas, weight_decay: Adam(W) settings for both optimizers (VQGAN uses betas (0.5, 0.9)).
        warmup_steps: linear warm-up of both learning rates.
        lr_schedule: "constant" after warm-up, or "cosine" decay to ``min_lr_ratio`` at ``max_steps``.
        max_steps: length of training in batches, which the learning-rate schedule spans (the Trainer's own
            ``max_steps`` stops the run; ``omnitok train`` sets both from ``trainer.max_steps``).
        gradient_clip: max global gradient norm per optimizer, or None.
        ema_decay: keep an EMA of the tokenizer's weights (used for validation and export), or None.
        max_nonfinite_steps: consecutive skipped (NaN/Inf) steps tolerated before training stops.
        media_key: key of the media tensor in a batch.
        log_images_every: validation rounds between saved reconstruction grids (0: never).
    """

    def __init__(
        self,
        tokenizer: nn.Module | dict[str, Any],
        losses: Sequence[nn.Module | dict[str, Any]] = (),
        adversarial: nn.Module | dict[str, Any] | None = None,
        learning_rate: float = 1e-4,
        discriminator_learning_rate: float | None = None,
        betas: tuple[float, float] = (0.5, 0.9),
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        lr_schedule: Literal["constant", "cosine"] = "constant",
        min_lr_ratio: float = 0.1,
        max_steps: int = 10_000,
        gradient_clip: float | None = 1.0,
        ema_decay: float | None = None,
        max_nonfinite_steps: int = 20,
        media_key: str = "image",
        log_images_every: int = 1,
    ):
        super().__init__()
        self._save_recipe(locals())
        tokenizer, adversarial = _built(tokenizer), _built(adversarial)
        losses = [_built(term) for term in losses]
        if lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        for term in losses:
            if not hasattr(term, "weight") or not hasattr(term, "name"):
                raise ConfigError(f"loss term {type(term).__name__} needs 'name' and 'weight' attributes")
        self.automatic_optimization = False
        self.tokenizer = tokenizer
        self.losses = nn.ModuleList(losses)
        self.adversarial = adversarial
        self.ema = WeightEma(tokenizer, ema_decay) if ema_decay else None
        self.learning_rate, self.discriminator_learning_rate = (
            learning_rate,
            discriminator_learning_rate or learning_rate,
        )
        self.betas, self.weight_decay = tuple(betas), weight_decay
        self.warmup_steps, self.lr_schedule, self.min_lr_ratio = warmup_steps, lr_schedule, min_lr_ratio
        self.max_steps, self.gradient_clip = max_steps, gradient_clip
        self.max_nonfinite_steps, self.media_key, self.log_images_every = (
            max_nonfinite_steps,
            media_key,
            log_images_every,
        )
        self.step = 0  # batches consumed, skipped ones included
        self.skipped_steps = 0
        self.consecutive_nonfinite = 0
        self.skipped_files: list[str] = []
        self._rng_to_restore: dict[str, Any] | None = None
        self._val_stats: CodebookStats | None = None
        self._val_figures: dict[int, dict[str, Tensor]] = {}
        self._val_rounds = 0
        self._config_of_tokenizer: dict[str, Any] | None = None
        self._whole: dict[str, nn.Module] = {}  # under FSDP: the gathered inference weights during validation

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> TokenizerTrainer:
        """Lightning's ``load_from_checkpoint``: the module rebuilt from the recipe its checkpoint carries (use
        ``weights_only=True`` for files you did not write). Checkpoints written before they carried their recipe
        (omnitok 0.1.0) need the recipe's model arguments passed in (``**recipe["model"]["init_args"]``)."""
        try:
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)
        except TypeError as err:
            if "tokenizer" not in str(err):
                raise
            raise ConfigError(
                f"{checkpoint_path} carries no recipe (written by omnitok 0.1.0); resume it with `omnitok train "
                "--resume RUN` (the run's config.yaml holds the recipe), or pass the recipe's model arguments: "
                "TokenizerTrainer.load_from_checkpoint(path, weights_only=True, **recipe['model']['init_args'])"
            ) from None

    def _save_recipe(self, arguments: dict[str, Any]) -> None:
        """Lightning's hyperparameters, as the plain recipe (``class_path``/``init_args`` data, no module objects),
        so a checkpoint rebuilds this module under ``load_from_checkpoint(path, weights_only=True)``. A module
        given as a Python object without a config leaves the hyperparameters empty (training is unaffected)."""
        names = [n for n in list(inspect.signature(TokenizerTrainer.__init__).parameters)[1:] if n in arguments]
        try:
            recipe = {name: config_value(arguments[name], name) for name in names}
        except ConfigError:
            return
        self.save_hyperparameters(recipe)

    # ----------------------------------------------------------------------------------------------- models
    @property
    def inference_model(self) -> nn.Module:
        """The weights to evaluate and export: the EMA average when kept, else the live tokenizer."""
        return self.ema.average if self.ema is not None else self.tokenizer

    @property
    def tokenizer_config(self) -> dict[str, Any]:
        """The config that rebuilds the tokenizer (kept from before FSDP, which changes the modules' classes)."""
        if self._config_of_tokenizer is None:
            self._config_of_tokenizer = to_config(self.tokenizer)
        return self._config_of_tokenizer

    @property
    def sharded(self) -> bool:
        """Whether FSDP shards the weights (``trainer.strategy: fsdp``, see :mod:`omnitok.trainers.sharding`)."""
        return self._device_mesh is not None and is_sharded(self.tokenizer)

    def configure_model(self) -> None:
        """Lightning's hook for sharding: under ``trainer.strategy: fsdp`` the tokenizer, its EMA copy and the
        discriminator are sharded over the processes; under any other strategy nothing changes."""
        if self._device_mesh is None or self.sharded:
            return
        self.tokenizer_config  # noqa: B018  (read while the classes are the recipe's)
        shard_trainer(self, self._device_mesh["data_parallel"])

    def whole_inference_model(self, everywhere: bool = True) -> nn.Module | None:
        """:attr:`inference_model` with its whole weights in this process: itself, or under FSDP a plain copy gathered
        from the shards, on every process or with ``everywhere=False`` on rank 0 only (None elsewhere). Under FSDP a
        collective: every process calls it."""
        if not self.sharded:
            return self.inference_model
        return whole_copy(self.inference_model, self.tokenizer_config, everywhere, self.device)

    def _last_layer(self) -> Tensor | None:
        decoder = getattr(self.tokenizer, "decoder", None)
        if decoder is None:
            return None
        last = getattr(decoder, "last_layer", None)
        if isinstance(last, Tensor):
            return last
        weights = [p for p in decoder.parameters() if p.ndim > 1 and p.requires_grad]
        return weights[-1] if weights else None

    # ------------------------------------------------------------------------------------------- optimizers
    def _schedule(self, step: int) -> float:
        return lr_factor(step, self.warmup_steps, self.lr_schedule, self.min_lr_ratio, self.max_steps)

    def _make_optimizer(self, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        cls = torch.optim.AdamW if self.weight_decay else torch.optim.Adam
        return cls(params, lr=lr, betas=self.betas, weight_decay=self.weight_decay)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.tokenizer.parameters() if p.requires_grad]
        optimizers = [self._make_optimizer(params, self.learning_rate)]
        if self.adversarial is not None:
            optimizers.append(
                self._make_optimizer(
                    list(self.adversarial.discriminator.parameters()), self.discriminator_learning_rate
                )
            )
        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, self._schedule) for opt in optimizers]
        return optimizers, schedulers

    def _optimizers(self) -> list[Any]:
        optimizers = self.optimizers()
        return list(optimizers) if isinstance(optimizers, (list, tuple)) else [optimizers]

    def _schedulers(self) -> list[Any]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]

    # --------------------------------------------------------------------------------------------- training
    def _media(self, batch: Any) -> Tensor:
        if isinstance(batch, Tensor):
            return batch
        if self.media_key not in batch:
            raise ConfigError(f"batch has no {self.media_key!r} entry (keys: {sorted(batch)}); set media_key")
        return batch[self.media_key]

    def _all_true(self, local: bool) -> bool:
        """``local`` on every rank (a collective under DDP, so all ranks take the same branch)."""
        if self._trainer is None or self.trainer.world_size == 1:
            return local
        flag = torch.tensor([float(local)], device=self.device)
        return bool(self.trainer.strategy.reduce(flag, reduce_op="min").item() > 0)

    def _mean_over_ranks(self, logs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training figures averaged over data-parallel ranks in one collective (the loss and PSNR of the global
        batch, as one process would log them)."""
        if self._trainer is None or self.trainer.world_size == 1 or not logs:
            return logs
        names = sorted(logs)
        stacked = torch.stack([logs[n].detach().float().reshape(()).to(self.device) for n in names])
        stacked = self.trainer.strategy.reduce(stacked, reduce_op="mean")
        return dict(zip(names, stacked.unbind()))

    def _all_finite(self, *values: Tensor) -> bool:
        """True when every value is finite on every rank."""
        return self._all_true(all(bool(torch.isfinite(v).all()) for v in values))

    def _note_nonfinite(self, what: str) -> None:
        self.skipped_steps += 1
        self.consecutive_nonfinite += 1
        if self.consecutive_nonfinite > self.max_nonfinite_steps:
            raise NonFiniteError(
                f"{what} was NaN/Inf for {self.consecutive_nonfinite} consecutive steps (last at step {self.step}); "
                "lower the learning rate, enable gradient_clip, or train in fp32 instead of bf16"
            )

    def _generator_update(
        self, optimizer: Any, total: Tensor, step: int, loss_name: str, norm_name: str
    ) -> Tensor | None:
        """Backward, clip and step the (toggled) generator optimizer on ``total``, then the EMA; a loss or gradient
        norm that is not finite skips the step (counted, named by ``loss_name`` / ``norm_name``) and returns None,
        else the gradient norm."""
        if not self._all_finite(total):
            optimizer.zero_grad(set_to_none=True)
            self.untoggle_optimizer(optimizer)
            self._note_nonfinite(loss_name)
            return None
        self.manual_backward(total)
        grad_norm = self._clip(optimizer)
        if not self._all_finite(grad_norm):
            optimizer.zero_grad(set_to_none=True)
            self.untoggle_optimizer(optimizer)
            self._note_nonfinite(norm_name)
            return None
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self.untoggle_optimizer(optimizer)
        self.consecutive_nonfinite = 0
        if self.ema is not None:
            self.ema.update(self.tokenizer, step)
        return grad_norm

    def _clip(self, optimizer: Any) -> Tensor:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not params:
            return torch.zeros((), device=self.device)
        max_norm = self.gradient_clip if self.gradient_clip else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a norm over every shard

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor] | None:
        x = self._media(batch)
        if isinstance(batch, dict) and batch.get("skipped"):
            self.skipped_files.extend(batch["skipped"])
        step = self.step
        self.step += 1
        optimizers, schedulers = self._optimizers(), self._schedulers()
        try:
            if not self._all_true(x.shape[0] > 0):  # some rank's files were all unreadable: every rank skips
                return None
            logs = self._generator_step(x, step, optimizers[0])
            if logs is not None and self.adversarial is not None and self.adversarial.active(step):
                logs.update(self._discriminator_step(x, logs.pop("_reconstruction"), optimizers[1]))
        finally:
            with warnings.catch_warnings():  # schedules follow the step, even where an optimizer did not step
                warnings.filterwarnings("ignore", message=r".*lr_scheduler\.step\(\)` before `optimizer\.step\(\)`.*")
                for scheduler in schedulers:
                    scheduler.step()
            self._count_batches()
            if self.sharded:  # a skipped step ran forward without backward: free what it gathered
                reshard(self)
        if logs is None:
            return None
        logs.pop("_reconstruction", None)
        logs = self._mean_over_ranks(logs)
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, on_step=True, batch_size=x.shape[0])
        for name in ("loss", "psnr"):
            self.log(name, logs[name], prog_bar=True, on_step=True, logger=False, batch_size=x.shape[0])
        if "usage" in logs:
            self.log("usage", logs["usage"], prog_bar=True, on_step=True, logger=False, batch_size=x.shape[0])
        return {"loss": logs["loss"].detach()}

    def _generator_step(self, x: Tensor, step: int, optimizer: Any) -> dict[str, Tensor] | None:
        self.toggle_optimizer(optimizer)
        out = self.tokenizer(x)
        x_hat = out.reconstruction
        terms = {  # terms with needs_output (semantic distillation) also read the model output
            term.name: term(x_hat, x, out) if getattr(term, "needs_output", False) else term(x_hat, x)
            for term in self.losses
        }
        reconstruction = sum((term.weight * terms[term.name] for term in self.losses), x_hat.new_zeros(()).float())
        total = reconstruction + out.quantizer.loss
        logs: dict[str, Tensor] = {f"loss_{name}": value.detach() for name, value in terms.items()}
        if self.adversarial is not None and self.adversarial.active(step):
            gen = self.adversarial.generator_loss(x_hat, x)  # real media too, for feature matching
            weight = (
                self.adversarial.balance(reconstruction, gen, self._last_layer()) if self._all_finite(gen) else None
            )
            if weight is not None:
                total = total + weight * gen
                logs.update(loss_generator=gen.detach(), adversarial_weight=weight)
        grad_norm = self._generator_update(
            optimizer, total, step, "the generator loss", "the generator's gradient norm"
        )
        if grad_norm is None:
            return None
        with torch.no_grad():
            quality = psnr(to_unit_range(x_hat.detach()), to_unit_range(x)).mean()
        logs.update(
            loss=total.detach(),
            loss_quantizer=out.quantizer.loss.detach(),
            psnr=quality,
            grad_norm=grad_norm.detach(),
            lr=torch.tensor(optimizer.param_groups[0]["lr"]),
            skipped_steps=torch.tensor(float(self.skipped_steps)),
            _reconstruction=x_hat.detach(),
        )
        logs.update({k: v.detach().float() for k, v in out.quantizer.metrics.items()})
        if "batch_usage" in logs:
            logs["usage"] = logs.pop("batch_usage")
        return logs

    def _discriminator_step(self, x: Tensor, x_hat: Tensor, optimizer: Any) -> dict[str, Tensor]:
        assert self.adversarial is not None
        self.toggle_optimizer(optimizer)
        loss, figures = self.adversarial.discriminator_loss(x, x_hat)
        if not self._all_finite(loss):
            optimizer.zero_grad(set_to_none=True)
            self.untoggle_optimizer(optimizer)
            self._note_nonfinite("the discriminator loss")
            return {}
        self.manual_backward(loss)
        grad_norm = self._clip(optimizer)
        if self._all_finite(grad_norm):
            optimizer.step()
        else:
            self._note_nonfinite("the discriminator's gradient norm")
        optimizer.zero_grad(set_to_none=True)
        self.untoggle_optimizer(optimizer)
        return {"loss_discriminator": loss.detach(), **figures}

    def _count_batches(self) -> None:
        """Keep Lightning's step counter (``trainer.global_step``) equal to the batches consumed.

        Under manual optimization Lightning counts ``optimizer.step()`` calls: two per batch once the discriminator
        trains, none for a batch skipped as non-finite. A step here is one global batch, the unit of the schedules,
        the discriminator start and the data position, so the counter is set to it after every batch; then
        Lightning's own ``max_steps``, ``ModelCheckpoint(every_n_train_steps)`` and logger steps count batches.
        """
        if self._trainer is None:
            return
        progress = self.trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress.total
        progress.ready = progress.completed = self.step

    # ------------------------------------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        sizes = getattr(getattr(self.tokenizer, "spec", None), "codebook_sizes", ())
        self._val_stats = CodebookStats(sizes) if sizes else None
        self._val_figures = {}
        if self.sharded:  # every rank scores its own batches with the whole weights
            self._whole["validation"] = self.whole_inference_model()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Each rank scores its share of the validation batches (see :mod:`omnitok.trainers.rank_split`)."""
        if not is_mine(batch_idx, self._trainer):
            return
        x = self._media(batch)
        if x.shape[0] == 0:
            return
        model = self._whole.get("validation", self.inference_model)
        out = model(x)
        x_hat = out.reconstruction
        self._val_figures[batch_idx] = {
            "psnr": psnr(to_unit_range(x_hat), to_unit_range(x)).cpu(),
            "l1": (x_hat.float() - x.float()).abs().flatten(1).mean(1).cpu(),
        }
        if self._val_stats is not None and out.quantizer.indices is not None:
            self._val_stats.update(out.quantizer.indices)
        if batch_idx == 0 and self.log_images_every and self._val_rounds % self.log_images_every == 0:
            self._log_reconstructions(x, x_hat)

    def on_validation_epoch_end(self) -> None:
        """Per-sample figures gathered from every rank in batch order, so they equal the single-process figures."""
        self._val_rounds += 1
        self._whole.pop("validation", None)
        batches = gather_in_order(self._val_figures, self._trainer)
        figures: dict[str, Any] = {}
        for name in ("psnr", "l1"):
            if batches:
                figures[f"val/{name}"] = torch.cat([b[name] for b in batches]).mean().to(self.device)
        if self._val_stats is not None:
            self._val_stats.to(self.device)
            self._val_stats.sync()
            for name, value in self._val_stats.compute().items():
                if name in ("usage", "perplexity", "dead_codes", "entropy_bits"):
                    figures[f"val/{name}"] = torch.tensor(value, device=self.device)
        if figures:  # identical on every rank: logged without a further reduction
            self.log_dict(figures)
            if "val/psnr" in figures:
                self.log("val_psnr", figures["val/psnr"], prog_bar=True, logger=False)

    def _log_reconstructions(self, x: Tensor, x_hat: Tensor, count: int = 8) -> None:
        """Save a grid (originals over reconstructions) under <run>/samples and send it to wandb/TensorBoard."""
        if x.ndim != 4 or not self.trainer.is_global_zero:
            return
        from torchvision.utils import make_grid, save_image

        count = min(count, x.shape[0])
        grid = make_grid(torch.cat([to_unit_range(x[:count]), to_unit_range(x_hat[:count])]).cpu(), nrow=count)
        folder = Path(self.trainer.default_root_dir) / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        save_image(grid, folder / f"step_{self.step:07d}.png")
        for logger in self.loggers:
            name = type(logger).__name__
            if name == "WandbLogger":
                logger.log_image(key="val/reconstructions", images=[grid], step=self.step)
            elif name == "TensorBoardLogger":
                logger.experiment.add_image("val/reconstructions", grid, self.step)

    # ------------------------------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "consecutive_nonfinite": self.consecutive_nonfinite,
            "val_rounds": self._val_rounds,
            "tokenizer_config": self.tokenizer_config,
            "rng": _rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:
            raise ConfigError("this checkpoint was not written by omnitok's TokenizerTrainer (no 'omnitok' entry)")
        self.step, self.skipped_steps = int(state["step"]), int(state["skipped_steps"])
        self.consecutive_nonfinite, self._val_rounds = int(state["consecutive_nonfinite"]), int(state["val_rounds"])
        self._rng_to_restore = state["rng"]
        _steps_are_batches(checkpoint, self.step)

    def on_train_start(self) -> None:
        if self._rng_to_restore is not None:  # applied here, after Lightning's own set-up drew random numbers
            _set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None


def _steps_are_batches(checkpoint: dict[str, Any], step: int) -> None:
    """Lightning's step counter in a checkpoint set to its batch count before Lightning restores its loops.
    Checkpoints of omnitok 0.1.0 counted optimizer steps there (two per batch with a discriminator)."""
    loop = checkpoint.get("loops", {}).get("fit_loop", {})
    progress = loop.get("epoch_loop.manual_optimization.optim_step_progress", {}).get("total")
    if isinstance(progress, dict):
        progress["ready"] = progress["completed"] = step


def _built(part: Any) -> Any:
    """A part given as a config (a checkpoint's hyperparameters) built; objects pass through."""
    if isinstance(part, dict) and "class_path" in part:
        return instantiate(part)
    return part


def _rng_state() -> dict[str, Any]:
    """Host RNG states as tensors and plain lists (loadable with ``torch.load(weights_only=True)``)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": [torch.cuda.get_rng_state()] if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"][0])  # this rank's current device
    random.setstate((state["python_version"], tuple(state["python"]), state.get("python_gauss")))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
