"""FSDP (``trainer.strategy: fsdp``): parameters, gradients and optimizer states sharded over the processes.

Built on Lightning's ``ModelParallelStrategy`` and torch's FSDP2 (``fully_shard``): every process holds a shard of
the tokenizer, its EMA copy and the discriminator, and of both optimizers' states; a layer's whole weights exist only
while it runs. :func:`shard_trainer` is what ``TokenizerTrainer.configure_model`` applies under that strategy.

- **Units** (:func:`shard_units`). Each block of every encoder and decoder (a direct child, or each entry of a
  ``ModuleList`` / ``Sequential`` child) is one FSDP unit: an ``Autoencoder``'s ``encoder`` and ``decoder``, every
  branch's ``encoder`` and ``decoder`` of an ``OmniTokenizer``, whose shared ``bottleneck`` is one more unit (called
  once per modality in a step: gathered for each call, its gradients reduced after each call's backward and summed
  into its shards). The rest of the tokenizer (quantizer projections, ...) belongs to the tokenizer's root unit,
  gathered when the tokenizer itself is called and kept until the backward: training enters through the tokenizer's
  call (``tokenizer(x)``, an omni step's ``omni(batches)``), never through its parts alone. The EMA copy is sharded
  into the same units, so its local shards line up with the live weights' shards (the EMA update is local, no
  communication). Buffers (EMA codebooks, counters) are not sharded: every process keeps them, and the quantizers
  keep them equal across processes as under DDP (an omni step's one pooled quantizer call included).
- **The adaptive GAN weight** differentiates the losses by the decoder's last layer. That layer is its own unit and
  stays gathered from its forward until its backward, so the weight the decoder reports is the one in the graph.
- **Checkpoints** are sharded: ``checkpoints/last.ckpt`` is a folder (torch.distributed.checkpoint, one file per
  process, Lightning's ``meta.pt`` beside), written beside its target and swapped in, so a job killed while saving
  keeps the previous checkpoint. ``--resume`` loads it into any number of processes.
- **Whole weights** are gathered where they are needed: validation and held-out scoring gather the inference
  weights into a plain copy on every process (training weights and optimizer states stay sharded); the export at
  the end of training and ``omnitok export`` of a sharded checkpoint write the same ``model.safetensors`` as a
  DDP run.

Quantizers that write into a *parameter* during forward (a learned VQ codebook with k-means initialisation or
dead-code restarts) would write into the gathered copy, which FSDP discards: they are refused under FSDP; the
default EMA codebooks are buffers and train as under DDP.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import nn

from omnitok.errors import ConfigError


class FSDPStrategy(ModelParallelStrategy):
    """Lightning's ``ModelParallelStrategy`` as FSDP over every process (no tensor parallelism), its sharded
    checkpoints written atomically."""

    def setup_environment(self) -> None:
        self._data_parallel_size = self.num_nodes * self.num_processes  # every process holds one shard
        self._tensor_parallel_size = 1
        super().setup_environment()

    def optimizer_state(self, optimizer: Any) -> dict[str, Any]:
        """torch's sharded optimizer state, for an optimizer that has not stepped yet (the discriminator before its
        start step) as zero moments at step 0. torch fills the missing state by a step with zero gradients, which
        counts as a step in Adam's bias correction and would change the first real update."""
        inner = getattr(optimizer, "_optimizer", optimizer)
        fresh = not inner.state
        state = super().optimizer_state(optimizer)
        if fresh:
            for entry in [*inner.state.values(), *state.get("state", {}).values()]:
                if isinstance(entry.get("step"), torch.Tensor):
                    entry["step"].zero_()
        return state

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any = None) -> None:
        """The shards written into a sibling folder, then swapped in by rank 0 (a folder of shards cannot replace
        another in one rename; a job killed while saving keeps the previous checkpoint)."""
        path = Path(self.broadcast(str(filepath)))
        partial = path.with_name(path.name + ".partial")
        if self.global_rank == 0 and partial.exists():
            shutil.rmtree(partial)
        self.barrier()
        super().save_checkpoint(checkpoint, partial, storage_options)
        self.barrier()
        if self.global_rank == 0:
            swap_in(partial, path)
        self.barrier()


def swap_in(new: Path, path: Path) -> None:
    """Replace ``path`` (a file or folder) by the folder ``new``; between the two renames only ``path.old`` holds the
    previous checkpoint, which :func:`checkpoint_location` finds."""
    old = path.with_name(path.name + ".old")
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def checkpoint_location(path: Path) -> Path:
    """``path``, or its ``.old`` copy when a job was killed between the two renames of :func:`swap_in`."""
    old = path.with_name(path.name + ".old")
    return old if not path.exists() and is_sharded_checkpoint(old) else path


def is_sharded_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a sharded (torch.distributed.checkpoint) checkpoint folder, as Lightning writes it."""
    from lightning.fabric.strategies.fsdp import _is_sharded_checkpoint

    return _is_sharded_checkpoint(Path(path))


def read_sharded_checkpoint(path: str | os.PathLike, weights: bool = True) -> dict[str, Any]:
    """A sharded checkpoint as one dictionary: Lightning's metadata (step, loops, the recipe) and, with ``weights``,
    the whole ``state_dict`` gathered from the shards in CPU memory (no process group needed)."""
    from lightning.fabric.utilities.load import _METADATA_FILENAME, _load_distributed_checkpoint

    path = Path(path)
    if not weights:
        return torch.load(path / _METADATA_FILENAME, map_location="cpu", weights_only=True)
    return _load_distributed_checkpoint(path)


def sharded_shapes(path: str | os.PathLike) -> tuple[dict[str, tuple[int, ...]], int]:
    """(model entry -> shape, number of optimizers) of a sharded checkpoint, from its index alone."""
    from torch.distributed.checkpoint import FileSystemReader

    entries = FileSystemReader(str(path)).read_metadata().state_dict_metadata
    shapes = {k[len("state_dict.") :]: tuple(v.size) for k, v in entries.items() if k.startswith("state_dict.")}
    optimizers = {k.split(".", 1)[0] for k in entries if k.startswith("optimizer_")}
    return {k: s for k, s in shapes.items() if hasattr(entries[f"state_dict.{k}"], "size")}, len(optimizers)


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return any(isinstance(m, FSDPModule) for m in model.modules())


def _coders(model: nn.Module) -> list[nn.Module]:
    """The encoders and decoders of a tokenizer: an ``Autoencoder``'s (and its subclasses') ``encoder`` and
    ``decoder``; an ``OmniTokenizer``'s, branch by branch (``branches[m].encoder``, ``branches[m].decoder``)."""
    branches = getattr(model, "branches", None)
    holders = list(branches.values()) if isinstance(branches, nn.ModuleDict) else [model]
    parts = [getattr(holder, name, None) for holder in holders for name in ("encoder", "decoder")]
    return [part for part in parts if isinstance(part, nn.Module)]


def shard_units(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` (a tokenizer) that FSDP shards as units of their own, innermost first (units are
    applied bottom-up); whatever they leave out belongs to the tokenizer's root unit.

    - each block of every encoder and decoder (see :func:`_coders`): a direct child holding trainable weights, or
      each entry of a ``ModuleList`` / ``Sequential`` child;
    - the shared ``bottleneck`` of an ``OmniTokenizer``, whole.

    The quantizer is not among them: it stays in the root unit (its codebooks are buffers; see the module docstring).
    """
    units = []
    for part in _coders(model):
        for child in part.children():
            blocks = list(child) if isinstance(child, (nn.ModuleList, nn.Sequential)) else [child]
            units += [b for b in blocks if _trainable(b)]
    bottleneck = getattr(model, "bottleneck", None)
    if isinstance(bottleneck, nn.Module) and _trainable(bottleneck):
        units.append(bottleneck)
    return units


def _trainable(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def shard_tokenizer(model: nn.Module, mesh: Any, keep_gathered: nn.Module | None = None) -> None:
    """FSDP units over ``model``'s blocks, then ``model`` itself. ``keep_gathered`` (a block of the model) stays
    gathered from its forward until its backward."""
    from torch.distributed.fsdp import fully_shard

    units = shard_units(model)
    if keep_gathered is not None and not any(keep_gathered is u for u in units):
        fully_shard(keep_gathered, mesh=mesh, reshard_after_forward=False)
    for unit in units:
        fully_shard(unit, mesh=mesh, reshard_after_forward=unit is not keep_gathered)
    fully_shard(model, mesh=mesh)


def owner_of(model: nn.Module, parameter: torch.Tensor | None) -> nn.Module | None:
    """The module holding ``parameter`` directly."""
    if parameter is None:
        return None
    for module in model.modules():
        if any(p is parameter for p in module.parameters(recurse=False)):
            return module
    return None


def check_shardable(tokenizer: nn.Module) -> None:
    """ConfigError for a quantizer that writes into a parameter during forward (see the module docstring)."""
    for name, module in tokenizer.named_modules():
        learned = getattr(module, "update", None) == "learned" and isinstance(
            getattr(module, "codebook", None), nn.Parameter
        )
        if learned and (getattr(module, "kmeans_init", False) or getattr(module, "dead_code_threshold", 0)):
            raise ConfigError(
                f"trainer.strategy=fsdp: {name or 'the quantizer'} learns its codebook as a parameter and rewrites it "
                "during forward (kmeans_init / dead_code_threshold), which FSDP's gathered copy would lose; use "
                "update: ema (the default) or trainer.strategy=ddp"
            )


def shard_trainer(trainer_module: Any, mesh: Any) -> None:
    """Shard a ``TokenizerTrainer``'s trained parts over ``mesh`` (its data-parallel dimension)."""
    from torch.distributed.fsdp import fully_shard

    check_shardable(trainer_module.tokenizer)
    last = owner_of(trainer_module.tokenizer, trainer_module._last_layer())
    shard_tokenizer(trainer_module.tokenizer, mesh, keep_gathered=last)
    if trainer_module.ema is not None:  # the same units, so the local shards line up with the live weights'
        shard_tokenizer(trainer_module.ema.average, mesh)
    if trainer_module.adversarial is not None:
        fully_shard(trainer_module.adversarial.discriminator, mesh=mesh)


def reshard(model: nn.Module) -> None:
    """Free every gathered weight of ``model`` (a no-op where FSDP already did after the backward)."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def whole_copy(model: nn.Module, config: dict[str, Any], everywhere: bool, device: torch.device) -> nn.Module | None:
    """A plain (unsharded) copy of the sharded ``model``, built from ``config`` and filled with its gathered weights:
    on every process, or with ``everywhere=False`` on rank 0 only (the others get None). A collective."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from omnitok.config import instantiate

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=not everywhere))
    if not everywhere and dist.get_rank() != 0:
        return None
    with torch.random.fork_rng(devices=[]):  # building the copy must not move the training's random stream
        copy = instantiate(config)
    copy.load_state_dict(state)
    return copy.to(device).eval().requires_grad_(False)


__all__ = [
    "FSDPStrategy",
    "check_shardable",
    "checkpoint_location",
    "is_sharded",
    "is_sharded_checkpoint",
    "read_sharded_checkpoint",
    "reshard",
    "shard_trainer",
    "shard_units",
    "sharded_shapes",
    "whole_copy",
]
