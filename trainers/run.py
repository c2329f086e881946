"""One training run from a config: build the parts, the Lightning Trainer, fit, export, summarise.

A recipe has four top-level keys::

    seed: 0
    model:   {class_path: omnitok.trainers.TokenizerTrainer, init_args: {tokenizer: ..., losses: [...], ...}}
    data:    {class_path: omnitok.trainers.ImageDataModule, init_args: {root: builtin, size: 64, ...}}
    trainer: {max_steps: 2000, precision: 32-true, val_every: 250, loggers: [csv], ...}   # see RunSettings

The run folder holds ``config.yaml`` (as resolved), ``checkpoints/last.ckpt``, ``samples/`` (validation grids),
``logs/`` (CSV / TensorBoard / wandb), ``heldout.md``/``heldout.json``/``reconstructions.png`` and ``tokenizer/``
(the exported inference-only folder).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

from omnitok.config import check_config, instantiate, settings_from_section
from omnitok.errors import ConfigError
from omnitok.trainers.loggers import LOGGERS, build_loggers, check_logger_entries
from omnitok.utils import atomic_path

TOP_LEVEL_KEYS = {"seed", "model", "data", "trainer"}
PRECISIONS = {"32-true", "32", "bf16-mixed", "bf16-true"}
STRATEGIES = ("auto", "ddp", "ddp_spawn", "fsdp")  # fsdp: omnitok.trainers.sharding


@dataclasses.dataclass
class RunSettings:
    """The ``trainer:`` section of a recipe.

    Attributes:
        max_steps: training length in batches (the learning-rate schedule spans it).
        precision: "32-true" or "bf16-mixed" (or "bf16-true").
        accelerator, devices, strategy, num_nodes: Lightning's (DDP/FSDP, multi-node are Lightning's).
        val_every: steps between validation rounds (metrics, codebook statistics, reconstruction grid).
        checkpoint_every: steps between rewrites of checkpoints/last.ckpt.
        keep_checkpoint_every: steps between permanent step_XXXXXXX.ckpt copies (0: none).
        log_every: steps between logged training figures.
        loggers: Lightning loggers, each a ``class_path``/``init_args`` entry naming a class under
            ``lightning.pytorch.loggers`` (``save_dir`` defaults to the run folder) or one of the short names "csv",
            "tensorboard", "wandb" (wandb honours WANDB_MODE=offline).
        wandb_project: project name for wandb.
        progress_bar: show Lightning's progress bar with loss, PSNR and codebook usage.
        heldout_samples: held-out images measured before and after training (0: no held-out measurement).
    """

    max_steps: int = 10_000
    precision: str | int = "32-true"
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    val_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoint_every: int = 0
    log_every: int = 10
    loggers: list[str | dict[str, Any]] = dataclasses.field(default_factory=lambda: ["csv"])
    wandb_project: str = "omnitok"
    progress_bar: bool = True
    heldout_samples: int = 256

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> RunSettings:
        settings = settings_from_section(cls, section, "trainer")
        if str(settings.precision) not in PRECISIONS:
            raise ConfigError(
                f"trainer.precision {settings.precision!r} is not supported; choose from {sorted(PRECISIONS)} "
                "(fp16 loss scaling is not wired into the manual GAN steps; bf16 needs none)"
            )
        if settings.strategy not in STRATEGIES:
            raise ConfigError(
                f"trainer.strategy {settings.strategy!r} is not supported; choose from {list(STRATEGIES)} "
                "(ddp on one or many machines, started by Lightning, torchrun or SLURM; fsdp to shard weights and "
                "optimizer states)"
            )
        bad = [name for name in settings.loggers if isinstance(name, str) and name not in LOGGERS]
        if bad:
            raise ConfigError(f"trainer.loggers: unknown logger(s) {bad}; use {list(LOGGERS)} or a class_path entry")
        for name in ("max_steps", "val_every", "log_every", "checkpoint_every", "num_nodes"):
            if getattr(settings, name) < 1:
                raise ConfigError(f"trainer.{name} must be a positive integer, got {getattr(settings, name)}")
        for name in ("keep_checkpoint_every", "heldout_samples"):
            if getattr(settings, name) < 0:
                raise ConfigError(f"trainer.{name} must be 0 or more, got {getattr(settings, name)}")
        return settings


@dataclasses.dataclass
class RunResult:
    folder: Path
    step: int
    tokenizer: Path | None
    skipped_files: list[str]
    main_process: bool = True  # rank 0 (the one that exports and reports) among data-parallel processes


def check_recipe(config: dict[str, Any], trust_remote_code: bool = False) -> RunSettings:
    """Check the whole recipe before anything is built or written: its shape, the trainer settings (types and
    ranges) and every model and data value against its class's signature (:func:`omnitok.config.check_config`).
    Returns the trainer settings; ConfigError names the offending key."""
    unknown = sorted(set(config) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown top-level config key(s) {unknown}; a recipe has {sorted(TOP_LEVEL_KEYS)}")
    for key in ("model", "data"):
        if not isinstance(config.get(key), dict) or "class_path" not in config[key]:
            raise ConfigError(f"config needs a '{key}' section naming a class (class_path / init_args)")
    if "max_steps" in (config["model"].get("init_args") or {}):
        raise ConfigError("set the training length as trainer.max_steps, not model.init_args.max_steps")
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    settings = RunSettings.from_config(config.get("trainer"))
    for key in ("model", "data"):
        check_config(config[key], trust_remote_code=trust_remote_code, key=key)
    check_logger_entries(settings.loggers, trust_remote_code)
    return settings


def check_lightning_settings(settings: RunSettings) -> None:
    """Let Lightning judge the ``trainer:`` accelerator, devices, strategy, nodes and precision now (its own
    connector, as ``Trainer`` runs it), so a setting this machine cannot honour (``accelerator: gpu`` without one,
    ``devices: 0``) is a ConfigError before anything is written."""
    import logging

    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.trainer.connectors.accelerator_connector import _AcceleratorConnector

    log = logging.getLogger("lightning.pytorch")
    level = log.level
    log.setLevel(logging.WARNING)  # the real Trainer reports the precision it picks; say it once
    try:
        _AcceleratorConnector(
            accelerator=settings.accelerator,
            devices=settings.devices,
            strategy=_strategy(settings.strategy, None),
            num_nodes=settings.num_nodes,
            precision=settings.precision,
        )
    except (MisconfigurationException, ValueError, TypeError, RuntimeError, ImportError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"trainer settings (accelerator={settings.accelerator!r}, devices={settings.devices!r}, "
            f"strategy={settings.strategy!r}, num_nodes={settings.num_nodes}, precision={settings.precision!r}) "
            f"do not work here: {first}"
        ) from None
    finally:
        log.setLevel(level)


def train(
    config: dict[str, Any],
    out: str | os.PathLike,
    resume: str | os.PathLike | None = None,
    init_from: str | os.PathLike | None = None,
    callbacks: list[Any] | None = None,
    trust_remote_code: bool = False,
) -> RunResult:
    """Run the recipe ``config`` in folder ``out``; ``resume`` continues a checkpoint exactly, ``init_from`` starts
    from a checkpoint's or a saved tokenizer's weights with fresh optimizers (fine-tuning). ``trust_remote_code``
    lets the recipe name classes outside omnitok and torch.nn (a user's own)."""
    import lightning.pytorch as pl
    import yaml

    from omnitok.trainers.callbacks import HeldOutEvaluation, StepLines, StepProgressBar
    from omnitok.trainers.checkpointing import LAST, AtomicCheckpointIO, checkpoint_callbacks
    from omnitok.trainers.system import TokenizerTrainer

    settings = check_recipe(config, trust_remote_code)
    check_lightning_settings(settings)  # what this machine cannot run fails before the run folder is touched
    out = Path(out)
    checkpoints = out / "checkpoints"
    if resume is None and (checkpoints / LAST).exists():
        raise ConfigError(
            f"{out} already holds a run (checkpoints/{LAST}); resume it with --resume {out} or pick another --out"
        )
    resumed: dict[str, Any] | None = None
    if resume is not None:
        from omnitok.trainers.export import read_checkpoint

        resumed = read_checkpoint(resume, weights=False)
        done = int(resumed.get("omnitok", {}).get("step", 0))
        if done >= settings.max_steps:
            raise ConfigError(f"{resume} already reached step {done}; raise trainer.max_steps to train further")
    seed = int(config.get("seed", 0))
    pl.seed_everything(seed, workers=True, verbose=False)
    data = instantiate(config["data"], trust_remote_code=trust_remote_code)
    model_config = {
        **config["model"],
        "init_args": {**(config["model"].get("init_args") or {}), "max_steps": settings.max_steps},
    }
    module = instantiate(model_config, trust_remote_code=trust_remote_code)
    if not isinstance(module, TokenizerTrainer):
        raise ConfigError(f"model must be an omnitok.trainers.TokenizerTrainer, got {type(module).__name__}")
    if not isinstance(data, pl.LightningDataModule):
        raise ConfigError(f"data must be a LightningDataModule, got {type(data).__name__}")
    if init_from is not None:
        _load_initial_weights(module, init_from)
    if resumed is not None:
        check_resumable(module, resumed, resume)  # before anything in the run folder changes
    with atomic_path(out / "config.yaml") as tmp:  # the recipe as last run (a resume may extend max_steps)
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))

    _quiet_lightning_tips()
    trainer = pl.Trainer(
        max_epochs=-1,
        max_steps=settings.max_steps,  # batches: the module keeps Lightning's step counter at its batch count
        val_check_interval=settings.val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=settings.log_every,
        precision=settings.precision,
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=_strategy(settings.strategy, module),
        num_nodes=settings.num_nodes,
        default_root_dir=str(out),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # ImageDataModule's sampler already gives each rank its share
        enable_progress_bar=settings.progress_bar and _terminal(),
        enable_model_summary=False,
        logger=build_loggers(settings, out, trust_remote_code) or False,
        callbacks=[
            *checkpoint_callbacks(checkpoints, settings.checkpoint_every, settings.keep_checkpoint_every),
            *([HeldOutEvaluation(out, settings.heldout_samples)] if settings.heldout_samples else []),
            *([StepProgressBar(refresh_rate=5) if _terminal() else StepLines()] if settings.progress_bar else []),
            *(callbacks or []),
        ],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # the frozen EMA copy and LPIPS
        warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")  # Lightning's own deprecation noise
        warnings.filterwarnings("ignore", message=r".*The dirpath has changed from.*")  # a run folder may move
        # validation figures are gathered from every rank before they are logged (trainers/rank_split.py)
        warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting.*")
        # ModelCheckpoint under manual optimization warns at every save that it stores the state after the
        # optimizer step: that is the state a resume continues from (the batch is done), so the note is noise
        warnings.filterwarnings("ignore", message=r".*no pre-optimization state was saved.*")
        # FSDP notes that a tokenizer output is a view (an in-place op on it would skip a gather); none is made
        warnings.filterwarnings("ignore", message=r".*FSDP2-wrapped module .* returned a view tensor.*")
        trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None, weights_only=True)
    exported = None
    whole = module.whole_inference_model(everywhere=False)  # under FSDP gathered from the shards onto rank 0
    if trainer.is_global_zero:
        exported = whole.save_pretrained(out / "tokenizer")
        if module.skipped_files:
            print(f"skipped {len(module.skipped_files)} unreadable file(s); first: {module.skipped_files[:5]}")
    return RunResult(out, module.step, exported, list(module.skipped_files), trainer.is_global_zero)


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _quiet_lightning_tips() -> None:
    """Keep Lightning's log to what concerns the run (it advertises a cloud logger when none is installed)."""
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropAdvertisements) for f in log.filters):
        log.addFilter(_DropAdvertisements())


def _strategy(name: str, module: Any) -> Any:
    """Lightning's strategy for ``trainer.strategy``. DDP with a discriminator needs find_unused_parameters: each
    optimizer's step leaves the other's parameters without gradients (toggle_optimizer). FSDP is Lightning's
    ModelParallelStrategy sharding over every process (:mod:`omnitok.trainers.sharding`)."""
    if name == "fsdp":
        from omnitok.trainers.sharding import FSDPStrategy

        return FSDPStrategy()
    if name == "ddp" and module is not None and module.adversarial is not None:
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=True)
    return name


def _load_initial_weights(module: Any, source: str | os.PathLike) -> None:
    """Copy tokenizer weights from a training checkpoint (.ckpt) or a save_pretrained folder into ``module``."""
    from omnitok.hub import load_tokenizer
    from omnitok.trainers.export import tokenizer_from_checkpoint

    source_path = Path(source)
    pretrained = tokenizer_from_checkpoint(source_path) if source_path.suffix == ".ckpt" else load_tokenizer(source)
    try:
        module.tokenizer.load_state_dict(pretrained.state_dict())
    except RuntimeError as err:
        raise ConfigError(f"--init-from {source}: weights do not fit this recipe's tokenizer: {err}") from err
    if module.ema is not None:
        module.ema.average.load_state_dict(pretrained.state_dict())


def check_resumable(module: Any, checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise ConfigError unless ``checkpoint`` restores into ``module`` as Lightning will restore it: the weights
    load strictly and every optimizer state fits the optimizer the recipe builds. A failed resume must leave the
    run folder as it was, so this runs before anything is written."""

    from omnitok.trainers.sharding import is_sharded_checkpoint

    if is_sharded_checkpoint(path):
        _check_sharded_resumable(module, path)
        return
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise ConfigError(f"--resume {path}: not an omnitok training checkpoint (no state_dict)")
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ConfigError(
            f"--resume {path}: the checkpoint does not fit this recipe's model ({' '.join(first[:3])[:500]}); "
            "resume with the recipe the run was trained with"
        ) from None
    optimizers = module.configure_optimizers()
    optimizers = optimizers[0] if isinstance(optimizers, tuple) else optimizers
    optimizers = list(optimizers) if isinstance(optimizers, (list, tuple)) else [optimizers]
    saved = checkpoint.get("optimizer_states") or []
    if len(saved) != len(optimizers):
        raise ConfigError(
            f"--resume {path}: the checkpoint holds {len(saved)} optimizer state(s) and this recipe trains with "
            f"{len(optimizers)} (a discriminator added or removed?); resume with the recipe the run was trained with"
        )
    for index, (optimizer, optimizer_state) in enumerate(zip(optimizers, saved)):
        try:
            optimizer.load_state_dict(optimizer_state)
        except (ValueError, KeyError, RuntimeError) as err:
            raise ConfigError(f"--resume {path}: optimizer {index}'s state does not fit this recipe ({err})") from None


def _check_sharded_resumable(module: Any, path: str | os.PathLike) -> None:
    """check_resumable for a sharded (FSDP) checkpoint, from its index: every weight's name and shape and the number
    of optimizers (the shards themselves are read by every process when Lightning restores them)."""
    from omnitok.trainers.sharding import sharded_shapes

    shapes, optimizers = sharded_shapes(path)
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    if shapes != expected:
        differ = sorted(set(shapes) ^ set(expected)) or sorted(k for k in shapes if shapes[k] != expected[k])
        raise ConfigError(
            f"--resume {path}: the checkpoint does not fit this recipe's model (entries differ: {differ[:5]}); "
            "resume with the recipe the run was trained with"
        )
    wanted = 1 + (module.adversarial is not None)
    if optimizers != wanted:
        raise ConfigError(
            f"--resume {path}: the checkpoint holds {optimizers} optimizer state(s) and this recipe trains with "
            f"{wanted} (a discriminator added or removed?); resume with the recipe the run was trained with"
        )


def resolve_resume(target: str | os.PathLike) -> tuple[Path, Path]:
    """``--resume`` takes a run folder or a checkpoint (a file, or an FSDP run's folder of shards) -> (run folder,
    checkpoint)."""
    from omnitok.trainers.checkpointing import LAST
    from omnitok.trainers.sharding import checkpoint_location, is_sharded_checkpoint

    target = Path(target)
    if is_sharded_checkpoint(target):
        return target.parent.parent if target.parent.name == "checkpoints" else target.parent, target
    if target.is_dir():
        checkpoint = checkpoint_location(target / "checkpoints" / LAST)
        if is_sharded_checkpoint(checkpoint):
            return target, checkpoint
        if not checkpoint.is_file():
            raise ConfigError(f"--resume {target}: no checkpoints/{LAST} in that folder")
        return target, checkpoint
    if target.is_file():
        if not zipfile.is_zipfile(target):  # torch.save's format; a truncated file has lost its zip directory
            raise ConfigError(f"--resume {target}: not a training checkpoint (not a complete torch.save file)")
        return target.parent.parent if target.parent.name == "checkpoints" else target.parent, target
    raise ConfigError(f"--resume {target}: no such run folder or checkpoint")


def _terminal() -> bool:
    """Whether stderr is a terminal: Lightning's bar there, plain progress lines anywhere else."""
    import sys

    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
