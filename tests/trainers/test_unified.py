"""UnifiedTrainer's weighted next-token loss (against a written-out loop) and the world's sequence DataModule."""

import lightning.pytorch as pl
import pytest
import torch

from omnitok.data.world import World, WorldScenes
from omnitok.errors import ConfigError
from omnitok.protocol import TokenizerSpec
from omnitok.trainers.unified import UnifiedTrainer
from omnitok.trainers.unified_data import EncodedScenes, WorldSequenceDataModule
from omnitok.unified import ByteTextVocabulary, MediaSpan, SharedVocabulary, TransformerConfig, UnifiedTransformer

SPEC = TokenizerSpec("image", True, codebook_sizes=(16,), latent_dim=4, downsample=(4, 4))


def _setup(**weights):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    model = UnifiedTransformer(TransformerConfig(vocab_size=vocab.size, dim=32, depth=1, heads=2))
    return vocab, model, UnifiedTrainer(model, vocab, loss_weights=weights or None, max_steps=10)


def _batch(vocab):
    generator = torch.Generator().manual_seed(0)
    samples = [
        ["a red circle", MediaSpan("image", torch.randint(0, 16, (2, 2), generator=generator))],
        [MediaSpan("image", torch.randint(0, 16, (2, 3), generator=generator)), "blue"],
    ]
    return vocab.collate([vocab.pack(s) for s in samples])


def _reference(model, vocab, batch, weights):
    """Sum over real targets of weight(modality of the target) * -log p(target), divided by the target count."""
    logits = model(batch["ids"], batch["positions"], attention_mask=batch["attention_mask"])
    tag_weight = {0: weights.get("text", 1.0), vocab.tag_of("image"): weights.get("image", 1.0)}
    total, count = 0.0, 0
    for b in range(batch["ids"].shape[0]):
        for t in range(batch["ids"].shape[1] - 1):
            if not batch["loss_mask"][b, t + 1]:
                continue
            target = int(batch["ids"][b, t + 1])
            log_p = torch.log_softmax(logits[b, t].double(), -1)[target]
            total += -float(log_p) * tag_weight[int(batch["modality"][b, t + 1])]
            count += 1
    return total / count


@pytest.mark.parametrize("weights", [{}, {"text": 2.0, "image": 0.5}, {"image": 0.0}])
def test_loss_equals_the_written_out_weighted_cross_entropy(weights):
    vocab, model, trainer = _setup(**weights)
    batch = _batch(vocab)
    loss, figures = trainer.loss(batch)
    loss = loss.detach()
    assert float(loss) == pytest.approx(_reference(model, vocab, batch, weights), rel=1e-5)
    assert {"loss_text", "loss_image", "accuracy_text", "accuracy_image"} <= set(figures)


def test_padding_is_never_a_target():
    vocab, _model, trainer = _setup()
    batch = _batch(vocab)
    assert not batch["attention_mask"].all()  # the two samples differ in length: one is padded
    padded = batch["ids"].clone()
    padded[~batch["attention_mask"]] = vocab.eos_id  # change what sits in the padding
    again = {**batch, "ids": padded}
    assert float(trainer.loss(again)[0]) == pytest.approx(float(trainer.loss(batch)[0]), rel=1e-6)


def test_bad_settings_are_clear_errors():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    model = UnifiedTransformer(TransformerConfig(vocab_size=vocab.size, dim=16, depth=1, heads=2))
    with pytest.raises(ConfigError, match="unknown modalities"):
        UnifiedTrainer(model, vocab, loss_weights={"speech": 1.0})
    with pytest.raises(ConfigError, match=">= 0"):
        UnifiedTrainer(model, vocab, loss_weights={"text": -1.0})
    with pytest.raises(ConfigError, match="lr_schedule"):
        UnifiedTrainer(model, vocab, lr_schedule="linear")


def _world_module(caption_dropout=0.25, **kwargs):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    scenes = WorldScenes(World(32), "train", 16)
    tokens = torch.randint(0, 16, (16, 2, 2), generator=torch.Generator().manual_seed(1))
    return vocab, WorldSequenceDataModule(
        EncodedScenes(scenes, tokens), vocab, caption_dropout=caption_dropout, batch_size=8, **kwargs
    )


def test_task_draws_follow_the_weights_and_the_caption_dropout():
    vocab, module = _world_module(caption_dropout=0.25, task_weights={"generation": 3.0, "understanding": 1.0})
    begin, end = vocab.begin_id("image"), vocab.end_id("image")
    kinds = {"generation": 0, "dropped": 0, "understanding": 0}
    for key in range(600):
        ids = module.dataset[(key % 16, key)].ids.tolist()
        assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
        if ids[1] == begin and ids[-2] == end:
            kinds["dropped"] += 1  # bos <boi> ... <eoi> eos: generation with an empty prompt
        elif ids[-2] == end:
            kinds["generation"] += 1
        else:
            kinds["understanding"] += 1
            assert ids[1] == begin and vocab.text.decode(ids[ids.index(end) + 1 : -1]).startswith("a ")
    assert kinds["understanding"] / 600 == pytest.approx(0.25, abs=0.06)  # 3.4 standard deviations
    assert kinds["dropped"] / (kinds["dropped"] + kinds["generation"]) == pytest.approx(
        0.25, abs=0.07
    )  # ~3.5 standard deviations


def test_batches_depend_on_the_step_alone():
    """Step s's batch is the same whether training got there directly or resumed at s (the sampler starts there)."""
    _vocab, module = _world_module()

    class Step:
        def __init__(self, step):
            self.step = step

    class FakeTrainer:
        global_rank, world_size = 0, 1

        def __init__(self, step):
            self.lightning_module = Step(step)

    batches = []
    for start in (0, 3):
        module.trainer = FakeTrainer(start)
        loader = iter(module.train_dataloader())
        batches.append([next(loader)["ids"] for _ in range(5 - start)])
    for direct, resumed in zip(batches[0][3:], batches[1]):
        assert torch.equal(direct, resumed)
    assert not torch.equal(batches[0][0], batches[0][1])


def test_a_few_steps_lower_the_loss():
    vocab, module = _world_module(caption_dropout=0.0)
    model = UnifiedTransformer(TransformerConfig(vocab_size=vocab.size, dim=32, depth=1, heads=2))
    trainer_module = UnifiedTrainer(model, vocab, learning_rate=3e-3, warmup_steps=0, max_steps=25)
    batch = vocab.collate([module.dataset[(i, i)] for i in range(16)])
    before = float(trainer_module.loss(batch)[0])
    pl.Trainer(
        max_steps=25,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(trainer_module, datamodule=module)
    assert trainer_module.step == 25
    assert float(trainer_module.loss(batch)[0]) < before - 1.0
