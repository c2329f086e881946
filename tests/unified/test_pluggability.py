"""Pluggability: a tokenizer written here (a plain class: spec, encode, decode; no omnitok base class) and the
diffusers VQModel adapter share one vocabulary with text, and the unified Transformer trains on them."""

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

import omnitok
from examples.world.scenes import World, WorldScenes
from omnitok.protocol import TokenizerSpec
from omnitok.trainers.unified import UnifiedTrainer
from omnitok.unified import (
    ByteTextVocabulary,
    GenerationConfig,
    MediaSpan,
    SharedVocabulary,
    TransformerConfig,
    UnifiedTransformer,
    generate,
)

pytest.importorskip("diffusers")


class PatchColourTokenizer:
    """8x8 patches -> one of 27 codes: each channel's patch mean rounded to 3 levels (code = 9 r + 3 g + b)."""

    def __init__(self) -> None:
        self.spec = TokenizerSpec("image", True, codebook_sizes=(27,), latent_dim=3, downsample=(8, 8))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        means = torch.nn.functional.avg_pool2d(x, 8)  # (B, 3, H/8, W/8) in [-1, 1]
        levels = ((means + 1) * 1.0).round().clamp(0, 2).long()  # 0, 1, 2
        return levels[:, 0] * 9 + levels[:, 1] * 3 + levels[:, 2]  # (B, H/8, W/8)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        levels = torch.stack([tokens // 9, tokens // 3 % 3, tokens % 3], dim=1).float() - 1.0  # (B, 3, h, w)
        return levels.repeat_interleave(8, -2).repeat_interleave(8, -1)


@pytest.fixture(scope="module")
def parts():
    from omnitok.adapters import VQModelAdapter
    from tests.adapters.tiny import build_vqmodel

    plain, vq = PatchColourTokenizer(), VQModelAdapter(build_vqmodel())
    vocab = SharedVocabulary(ByteTextVocabulary(), {"plain": plain, "vq": vq})
    scenes = WorldScenes(World(16), "train", 24)
    x = scenes.images.float() / 127.5 - 1  # (24, 3, 16, 16)
    with torch.no_grad():
        samples = [
            vocab.pack([s.caption, MediaSpan("plain", p), MediaSpan("vq", q)])
            for s, p, q in zip(scenes.scenes, plain.encode(x), vq.encode(x))
        ]
    return plain, vq, vocab, samples, x


def test_both_satisfy_the_protocol_and_get_disjoint_ranges(parts):
    plain, vq, vocab, _, x = parts
    assert not isinstance(plain, torch.nn.Module) and isinstance(plain, omnitok.Tokenizer)
    assert isinstance(vq, omnitok.Tokenizer)
    ranges = [vocab.text_range, vocab.range_of("plain"), vocab.range_of("vq")]
    assert [len(r) for r in ranges] == [256, 27, 16]
    ids = [set(r) for r in ranges]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert plain.encode(x[:1]).shape == (1, 2, 2) and vq.encode(x[:1]).shape == (1, 4, 4)  # 16 / 8 and 16 / 4


def test_unpack_returns_what_each_tokenizer_encoded(parts):
    plain, vq, vocab, samples, x = parts
    caption, plain_span, vq_span = vocab.unpack(samples[0].ids)
    assert caption == WorldScenes(World(16), "train", 1).scenes[0].caption
    assert torch.equal(plain_span.tokens.reshape(2, 2), plain.encode(x[:1])[0])
    assert torch.equal(vq_span.tokens.reshape(4, 4), vq.encode(x[:1])[0])
    assert plain.decode(plain_span.tokens.reshape(1, 2, 2)).shape == (1, 3, 16, 16)


def test_transformer_trains_on_both_and_generates_each(parts):
    plain, vq, vocab, samples, _ = parts
    torch.manual_seed(0)
    model = UnifiedTransformer(TransformerConfig(vocab_size=vocab.size, dim=32, depth=1, heads=2))
    module = UnifiedTrainer(
        model, vocab, loss_weights={"plain": 1.0, "vq": 0.5}, learning_rate=3e-3, warmup_steps=0, max_steps=20
    )
    batch = vocab.collate(samples)
    before = float(module.loss(batch)[0].detach())
    loader = DataLoader(samples, batch_size=8, shuffle=True, collate_fn=vocab.collate)
    pl.Trainer(
        max_steps=20,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(module, loader)
    after, figures = module.loss(batch)
    assert float(after.detach()) < before - 1.0
    assert {"loss_plain", "loss_vq", "loss_text"} <= set(figures)

    config = GenerationConfig(temperature=1.0, cfg_scale=2.0)
    generator = torch.Generator().manual_seed(0)
    for name, tokenizer, grid, codes in (("plain", plain, (2, 2), 27), ("vq", vq, (4, 4), 16)):
        span = generate(model, vocab, ["a red circle"], name, grid=grid, config=config, generator=generator)
        tokens = span.tokens.reshape(1, *grid)
        assert span.name == name and tokens.min() >= 0 and tokens.max() < codes
        with torch.no_grad():
            assert tokenizer.decode(tokens).shape == (1, 3, 16, 16)
