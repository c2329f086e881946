"""UnifiedTrainer's weighted next-token loss (against a written-out loop) and the step-indexed SequenceDataModule."""

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import Dataset

from omnitok.errors import ConfigError
from omnitok.protocol import TokenizerSpec
from omnitok.trainers.unified import UnifiedTrainer
from omnitok.trainers.unified_data import SequenceDataModule
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


class ColourSequences(Dataset):
    """16 items: a colour word then a 2x2 grid of codes; whether the word is kept is drawn from the draw seed."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.tokens = torch.randint(0, 16, (16, 2, 2), generator=torch.Generator().manual_seed(1))
        self.words = ["red", "green", "blue", "yellow"]

    def __len__(self):
        return 16

    def __getitem__(self, key):
        index, draw = key
        keep = float(torch.rand((), generator=torch.Generator().manual_seed(draw))) < 0.75
        word = [self.words[index % 4]] if keep else []
        return self.vocab.pack(word + [MediaSpan("image", self.tokens[index % 16])])


def _sequence_module(**kwargs):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    return vocab, SequenceDataModule(ColourSequences(vocab), vocab, batch_size=8, **kwargs)


class _Step:
    def __init__(self, step):
        self.step = step


class _FakeTrainer:
    def __init__(self, step, rank=0, world=1):
        self.lightning_module, self.global_rank, self.world_size = _Step(step), rank, world


def _batches(module, start, count, rank=0, world=1):
    module.trainer = _FakeTrainer(start, rank, world)
    loader = iter(module.train_dataloader())
    return [next(loader)["ids"] for _ in range(count)]


def test_batches_depend_on_the_step_alone():
    """Step s's batch, draws included, is the same whether training got there directly or resumed at s."""
    _vocab, module = _sequence_module()
    direct, resumed = _batches(module, 0, 5), _batches(module, 3, 2)
    for a, b in zip(direct[3:], resumed):
        assert torch.equal(a, b)
    assert not torch.equal(direct[0], direct[1])


def test_two_ranks_split_the_global_batch():
    """Rank r of 2 at batch B gets the r-th half of the single-rank global batch 2B, draws included."""
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    single = SequenceDataModule(ColourSequences(vocab), vocab, batch_size=16)
    halves = SequenceDataModule(ColourSequences(vocab), vocab, batch_size=8)
    for step in range(3):
        whole = [vocab.collate([item])["ids"][0] for item in _items(single, step, 0, 1)]
        split = _items(halves, step, 0, 2) + _items(halves, step, 1, 2)
        assert [list(w) for w in whole] == [list(vocab.collate([item])["ids"][0]) for item in split]


def _items(module, step, rank, world):
    module.trainer = _FakeTrainer(step, rank, world)
    sampler = module.train_dataloader().sampler
    keys = []
    for key in sampler:
        keys.append(key)
        if len(keys) == module.batch_size:
            break
    return [module.dataset[key] for key in keys]


def test_empty_data_and_bad_batch_are_clear_errors():
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    with pytest.raises(ConfigError, match="batch_size"):
        SequenceDataModule(ColourSequences(vocab), vocab, batch_size=0)
    with pytest.raises(ConfigError, match="empty"):
        SequenceDataModule([], vocab)


def test_a_few_steps_lower_the_loss():
    vocab, module = _sequence_module()
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
