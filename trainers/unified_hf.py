"""A pretrained Hugging Face causal LM as the unified Transformer, from a recipe: build, train, save.

A recipe (``configs/unified/qwen2p5_0p5b_image_speech.yaml``) has these top-level keys::

    seed: 0
    lm:         {pretrained: Qwen/Qwen2.5-0.5B, dtype: float32, attn_implementation: sdpa, ...}   # LMSettings
    tokenizers: {image: {pretrained: runs/vq/tokenizer}, speech: {spec: {modality: audio, ...}}}
    vocabulary: {separators: true, grids: {image: [16, 16]}}   # SharedVocabulary arguments (layout: flattened)
    packing:    {max_length: 4096}                              # several samples per row (omit: one per row)
    model:      {learning_rate: 2.0e-4, loss_weights: {...}, ...}   # UnifiedTrainer arguments
    data:       {corpora: {image: /data/corpora/images}, batch_size: 16, ...}   # DataSettings (token corpora)
    trainer:    {max_steps: 20000, precision: bf16-mixed, ...}   # omnitok.trainers.run.RunSettings

The LM and its tokenizer load through ``AutoModelForCausalLM``/``AutoTokenizer.from_pretrained(lm.pretrained)``
(a hub id or a local folder), are extended with the shared vocabulary (:func:`omnitok.unified.extend_causal_lm`)
and wrapped in :class:`omnitok.unified.CausalLMAdapter` inside the one ``UnifiedTrainer``. :func:`train_hf` fits
and saves the result with :func:`omnitok.unified.save_causal_lm` under ``out/model``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from omnitok.config import settings_from_section
from omnitok.errors import ConfigError
from omnitok.protocol import TokenizerSpec
from omnitok.trainers.run import RunSettings
from omnitok.trainers.unified import UnifiedTrainer

TOP_LEVEL_KEYS = {"seed", "lm", "tokenizers", "vocabulary", "packing", "model", "data", "trainer"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclasses.dataclass
class LMSettings:
    """The ``lm:`` section.

    Attributes:
        pretrained: hub id or local folder of the LM and its tokenizer.
        dtype: weights' dtype as loaded ("float32" with ``trainer.precision: bf16-mixed``, or "bfloat16" with
            "bf16-true").
        attn_implementation: "sdpa", "eager", "flash_attention_2", ... (None: transformers' choice).
        gradient_checkpointing: recompute activations in the backward pass.
        covariance_scale, init_seed: the new embedding rows' rule (:class:`omnitok.unified.EmbeddingInit`).
        pad_to_multiple_of: round the resized embedding table up to a multiple of this.
        trust_remote_code: let transformers run the LM repository's own code.
    """

    pretrained: str
    dtype: str = "float32"
    attn_implementation: str | None = "sdpa"
    gradient_checkpointing: bool = False
    covariance_scale: float = 1.0
    init_seed: int = 0
    pad_to_multiple_of: int | None = 64
    trust_remote_code: bool = False


@dataclasses.dataclass
class DataSettings:
    """The ``data:`` section: caption <-> media tasks from token corpora written by ``omnitok tokenize``.

    Attributes:
        corpora: tokenizer name -> corpus folder (its tokens must come from that tokenizer).
        task_weights, caption_dropout: as in ``omnitok.trainers.unified_data.captioned_sequences``.
        batch_size: samples per loader batch (packed into rows of ``packing.max_length`` when packing is on).
        seed: data order and per-item draws.
    """

    corpora: dict[str, str] = dataclasses.field(default_factory=dict)
    task_weights: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"generation": 1.0, "understanding": 1.0}
    )
    caption_dropout: float = 0.1
    batch_size: int = 16
    seed: int = 0


@dataclasses.dataclass
class HFRun:
    """What :func:`build_hf_run` makes: the Lightning system, the vocabulary and the HF tokenizer it extended,
    the media tokenizers (objects, or specs where the recipe gave only specs), the row packer (None: one sample per
    row) and the settings."""

    system: UnifiedTrainer
    vocabulary: Any
    tokenizer: Any
    tokenizers: dict[str, Any]
    packer: Any
    lm: LMSettings
    trainer: RunSettings


def _media_tokenizers(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """``tokenizers:`` -> name -> loaded tokenizer (``pretrained: ref``) or TokenizerSpec (``spec: {...}``)."""
    if not isinstance(section, Mapping) or not section:
        raise ConfigError("the recipe needs a 'tokenizers' section: name -> {pretrained: ref} or {spec: {...}}")
    out = {}
    for name, entry in section.items():
        if not isinstance(entry, Mapping) or len(entry) != 1 or next(iter(entry)) not in ("pretrained", "spec"):
            raise ConfigError(f"tokenizers.{name} needs exactly one of 'pretrained' (a reference) or 'spec' (fields)")
        if "spec" in entry:
            out[name] = TokenizerSpec.from_dict(dict(entry["spec"]))
        else:
            from omnitok.hub import load_tokenizer

            out[name] = load_tokenizer(entry["pretrained"]).eval()
    return out


def build_hf_run(config: Mapping[str, Any]) -> HFRun:
    """Load the LM and its tokenizer (``from_pretrained``), extend them with the recipe's tokenizers and wrap them
    in ``UnifiedTrainer``; nothing is trained or written."""
    from omnitok.unified import (
        CausalLMAdapter,
        EmbeddingInit,
        HFTextVocabulary,
        RowPacker,
        SharedVocabulary,
        extend_causal_lm,
    )
    from omnitok.unified.hf_vocabulary import require_transformers

    unknown = sorted(set(config) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; an HF unified recipe has {sorted(TOP_LEVEL_KEYS)}")
    lm = settings_from_section(LMSettings, config.get("lm"), "lm")
    if lm.dtype not in DTYPES:
        raise ConfigError(f"lm.dtype must be one of {sorted(DTYPES)}, got {lm.dtype!r}")
    settings = RunSettings.from_config(config.get("trainer"))
    media = _media_tokenizers(config.get("tokenizers"))
    model_args = dict(config.get("model") or {})
    if "max_steps" in model_args:
        raise ConfigError("set the training length as trainer.max_steps, not model.max_steps")
    packing = dict(config.get("packing") or {})
    if set(packing) - {"max_length"}:
        raise ConfigError(f"unknown packing key(s) {sorted(set(packing) - {'max_length'})}; known: ['max_length']")
    transformers = require_transformers()
    torch.manual_seed(int(config.get("seed", 0)))
    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs = {dtype_key: DTYPES[lm.dtype], "trust_remote_code": lm.trust_remote_code}
    if lm.attn_implementation:
        kwargs["attn_implementation"] = lm.attn_implementation
    tokenizer = transformers.AutoTokenizer.from_pretrained(lm.pretrained, trust_remote_code=lm.trust_remote_code)
    model = transformers.AutoModelForCausalLM.from_pretrained(lm.pretrained, **kwargs)
    vocab = SharedVocabulary(HFTextVocabulary(tokenizer), media, **dict(config.get("vocabulary") or {}))
    extend_causal_lm(model, tokenizer, vocab, EmbeddingInit(lm.covariance_scale, lm.init_seed), lm.pad_to_multiple_of)
    adapter = CausalLMAdapter(model, gradient_checkpointing=lm.gradient_checkpointing)
    system = UnifiedTrainer(adapter, vocab, max_steps=settings.max_steps, **model_args)
    packer = RowPacker(vocab, int(packing["max_length"])) if packing else None
    return HFRun(system, vocab, tokenizer, media, packer, lm, settings)


class MixedTasks(Dataset):
    """Several ``(index, draw seed)``-indexed datasets as one: indices run through them in order."""

    def __init__(self, parts: list[Dataset]):
        self.parts = parts
        self.sizes = [len(p) for p in parts]  # type: ignore[arg-type]

    def __len__(self) -> int:
        return sum(self.sizes)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, draw = key
        index %= len(self)
        for part, size in zip(self.parts, self.sizes):
            if index < size:
                return part[(index, draw)]
            index -= size
        raise IndexError(index)  # unreachable


def build_data(run: HFRun, section: Mapping[str, Any] | None) -> Any:
    """``data:`` -> a ``SequenceDataModule`` of caption <-> media tasks over the token corpora, packed into rows by
    ``run.packer`` when packing is on."""
    from omnitok.corpus import TokenCorpus
    from omnitok.trainers.unified_data import CaptionedTasks, CorpusRows, SequenceDataModule

    data = settings_from_section(DataSettings, section, "data")
    if not data.corpora:
        raise ConfigError("data.corpora needs at least one tokenizer name -> corpus folder")
    for name in data.corpora:
        run.vocabulary.spec(name)  # a ConfigError naming the unknown tokenizer
    parts = [
        CaptionedTasks(CorpusRows(TokenCorpus(folder)), run.vocabulary, name, data.task_weights, data.caption_dropout)
        for name, folder in data.corpora.items()
    ]
    module = SequenceDataModule(MixedTasks(parts), run.vocabulary, batch_size=data.batch_size, seed=data.seed)
    if run.packer is not None:
        module.collate = run.packer
    return module


def train_hf(config: Mapping[str, Any], out: str | os.PathLike) -> Path:
    """Build the recipe, fit it on its data, and save the extended LM under ``out/model`` (returned)."""
    import lightning.pytorch as pl

    from omnitok.trainers.loggers import build_loggers
    from omnitok.unified import save_causal_lm

    out = Path(out)
    pl.seed_everything(int(config.get("seed", 0)), workers=True, verbose=False)
    run = build_hf_run(config)
    data = build_data(run, config.get("data"))
    settings = run.trainer
    trainer = pl.Trainer(
        max_epochs=-1,
        max_steps=settings.max_steps,
        precision=settings.precision,
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        num_nodes=settings.num_nodes,
        default_root_dir=str(out),
        log_every_n_steps=settings.log_every,
        use_distributed_sampler=False,  # the sequence sampler gives each rank its share
        enable_progress_bar=settings.progress_bar,
        enable_model_summary=False,
        logger=build_loggers(settings, out) or False,
    )
    trainer.fit(run.system, datamodule=data)
    folder = out / "model"
    if trainer.is_global_zero:
        save_causal_lm(run.system.model.model, run.tokenizer, run.vocabulary, folder)
    return folder
