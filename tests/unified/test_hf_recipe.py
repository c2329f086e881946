"""The real-scale HF recipe, instantiated with sizes overridden (a tiny LM folder, tiny tokenizer specs): one step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pl = pytest.importorskip("lightning.pytorch")

from omnitok.config import load_yaml_config, set_by_path
from omnitok.errors import ConfigError
from omnitok.trainers.unified_hf import build_hf_run
from omnitok.unified import MediaSpan, example, load_causal_lm, save_causal_lm
from tests.unified.hf_tiny import lm_folder

RECIPE = Path(__file__).parents[2] / "configs" / "unified" / "qwen2p5_0p5b_image_speech.yaml"


def _tiny_recipe(folder: Path) -> dict:
    config = load_yaml_config(RECIPE)
    overrides = {
        "lm.pretrained": str(folder),
        "tokenizers.image": {
            "spec": {"modality": "image", "discrete": True, "codebook_sizes": [64], "downsample": [16, 16]}
        },
        "tokenizers.speech": {
            "spec": {
                "modality": "audio",
                "discrete": True,
                "codebook_sizes": [32, 32, 32],
                "codebook_kind": "residual",
                "downsample": [1280],
                "channels": 1,
                "sample_rate": 16000,
            }
        },
        "packing.max_length": 96,
        "trainer.accelerator": "cpu",
        "model.warmup_steps": 0,
    }
    for key, value in overrides.items():
        set_by_path(config, key, value)
    return config


def test_recipe_builds_through_from_pretrained_and_trains_one_step(tmp_path):
    folder = lm_folder(tmp_path / "qwen", "qwen2", tie=True)  # Qwen2.5-0.5B ties its embeddings too
    config = _tiny_recipe(folder)
    assert config["lm"]["gradient_checkpointing"] and config["trainer"]["precision"] == "bf16-mixed"
    run = build_hf_run(config)
    vocab, model = run.vocabulary, run.system.model.model
    assert type(model).__name__ == "Qwen2ForCausalLM" and run.system.model.checkpointing
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert len(run.tokenizer) == vocab.size and vocab.range_of("speech", 2).stop == vocab.size
    g = torch.Generator().manual_seed(0)
    samples = [
        example(vocab, ["a red circle", MediaSpan("image", torch.randint(0, 64, (2, 2), generator=g))], {"image"}),
        example(vocab, [MediaSpan("speech", torch.randint(0, 32, (4, 3), generator=g)), "says hello"]),
        example(vocab, ["the blue square"]),
    ]
    batch = run.packer(samples)
    assert batch["ids"].shape[1] <= 96 and int(batch["segments"].max()) >= 2
    before = [p.detach().clone() for p in run.system.parameters()]
    trainer = pl.Trainer(
        max_steps=1,
        accelerator=config["trainer"]["accelerator"],
        precision=config["trainer"]["precision"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(run.system, train_dataloaders=torch.utils.data.DataLoader([batch], batch_size=None))
    assert trainer.global_step == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, run.system.parameters()))
    saved = load_causal_lm(save_causal_lm(model, run.tokenizer, vocab, tmp_path / "out"))
    assert saved.vocabulary.to_dict()["tokenizers"] == vocab.to_dict()["tokenizers"]


def test_recipe_errors_name_the_key(tmp_path):
    config = _tiny_recipe(tmp_path / "absent")
    with pytest.raises(ConfigError, match="lm.dtype"):
        build_hf_run({**config, "lm": {**config["lm"], "dtype": "float8"}})
    with pytest.raises(ConfigError, match="unknown top-level"):
        build_hf_run({**config, "extra": 1})
    with pytest.raises(ConfigError, match="tokenizers.image"):
        build_hf_run({**config, "tokenizers": {"image": {"spec": {}, "pretrained": "x"}}})


def test_data_module_mixes_corpora_tasks_and_packs_rows(tmp_path):
    from omnitok.trainers.unified_data import CaptionedTasks, SequenceDataModule
    from omnitok.trainers.unified_hf import MixedTasks

    config = _tiny_recipe(lm_folder(tmp_path / "llama"))
    run = build_hf_run(config)
    vocab = run.vocabulary
    images = [{"tokens": torch.randint(0, 64, (2, 2)), "text": "a red circle"} for _ in range(3)]
    speech = [{"tokens": torch.randint(0, 32, (3, 3)), "text": None} for _ in range(2)]
    tasks = {"generation": 1.0, "understanding": 1.0}
    mixed = MixedTasks(
        [CaptionedTasks(images, vocab, "image", tasks, 0.0), CaptionedTasks(speech, vocab, "speech", tasks, 0.0)]
    )
    assert len(mixed) == 5 and vocab.unpack(mixed[(4, 0)].ids)[0].name == "speech"
    module = SequenceDataModule(mixed, vocab, batch_size=5)
    module.collate = run.packer
    batch = next(iter(module.train_dataloader()))
    assert batch["segments"].max() >= 2 and batch["ids"].shape[1] <= 96
    with torch.no_grad():
        loss, _ = run.system.loss(batch)
    assert torch.isfinite(loss)


def test_train_hf_fits_on_a_token_corpus_and_saves_a_standard_folder(tmp_path):
    """The whole recipe path: from_pretrained, a token corpus (written without Ray), packed rows, two steps, save."""
    pytest.importorskip("litdata")
    from omnitok.trainers.unified_hf import train_hf
    from tests.corpus.builders import write_corpus

    corpus = write_corpus(tmp_path / "corpus", (4, 3), levels=1)  # 2 x 3 grids of codes < 1000, most captioned
    config = _tiny_recipe(lm_folder(tmp_path / "llama"))
    set_by_path(
        config,
        "tokenizers",
        {"image": {"spec": {"modality": "image", "discrete": True, "codebook_sizes": [1000], "downsample": [16, 16]}}},
    )
    config["model"]["loss_weights"] = {"text": 1.0, "image": 1.0}
    config["lm"]["gradient_checkpointing"] = False
    config["data"] = {"corpora": {"image": str(corpus)}, "batch_size": 4}
    config["trainer"].update(max_steps=2, precision="32-true", loggers=[], progress_bar=False)
    folder = train_hf(config, tmp_path / "run")
    loaded = load_causal_lm(folder)
    assert loaded.vocabulary.range_of("image").stop == loaded.vocabulary.size == len(loaded.tokenizer)
