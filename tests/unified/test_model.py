"""UnifiedTransformer: RoPE against complex numbers, the forward pass against a written-out reference, KV cache,
padding, continuous inputs, save/load and errors."""

import math

import pytest
import torch

from omnitok.errors import ConfigError, IndexRangeError, ShapeError, WeightsError
from omnitok.unified import (
    ByteTextVocabulary,
    ContinuousInput,
    MediaSpan,
    SharedVocabulary,
    TransformerConfig,
    load_unified,
    save_unified,
)
from omnitok.unified.rope import apply_rope, rope_angles, rope_frequencies
from tests.unified.tiny import audio_rvq, image_continuous, image_vq, tiny_model


def complex_rope(x, positions, sections, theta):
    """Rotate x [B, H, L, D] as complex numbers x[2p] + i x[2p+1] by pos[axis(p)] * theta ** (-j / n_axis)."""
    angles = []
    for axis, n in enumerate(sections):
        freq = torch.tensor([theta ** (-j / n) for j in range(n)], dtype=torch.float64)
        angles.append(positions[..., axis, None].double() * freq)
    angle = torch.cat(angles, dim=-1)[:, None]  # (B, 1, L, pairs)
    z = torch.view_as_complex(x.double().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(angle), angle)).flatten(-2)


def test_rope_matches_complex_formula():
    sections, theta = (4, 2, 2), 500.0
    x = torch.randn(2, 3, 7, 16)
    positions = torch.randint(0, 40, (2, 7, 3))
    angles = rope_angles(positions, sections, rope_frequencies(sections, theta))[:, None]
    got = apply_rope(x, angles.cos(), angles.sin())
    torch.testing.assert_close(got.double(), complex_rope(x, positions, sections, theta), rtol=1e-5, atol=1e-5)
    text = positions.clone()
    text[..., 1:] = 0  # text: only the t section rotates
    angles = rope_angles(text, sections, rope_frequencies(sections, theta))[:, None]
    torch.testing.assert_close(apply_rope(x, angles.cos(), angles.sin())[..., 8:], x[..., 8:])


def test_rope_scores_depend_on_relative_position_only():
    sections, freqs = (4, 2, 2), rope_frequencies((4, 2, 2))
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(pq, pk):
        aq = rope_angles(torch.tensor([[pq]]), sections, freqs)[:, None]
        ak = rope_angles(torch.tensor([[pk]]), sections, freqs)[:, None]
        return (apply_rope(q, aq.cos(), aq.sin()) * apply_rope(k, ak.cos(), ak.sin())).sum()

    base = score([5, 2, 3], [1, 0, 7])
    torch.testing.assert_close(score([15, 6, 4], [11, 4, 8]), base, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(score([5, 3, 3], [1, 0, 7]), base, atol=1e-3)  # row matters


def reference_forward(model, ids, positions):
    """The model written out: embeddings, pre-norm blocks with RMSNorm, RoPE, causal softmax attention, SwiGLU."""
    cfg = model.config
    hd = cfg.dim // cfg.heads

    def rms(x, w):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + cfg.norm_eps) * w

    x = model.embed[0].weight[ids].double()
    causal = torch.ones(ids.shape[1], ids.shape[1]).tril().bool()
    for block in model.blocks:
        h = rms(x, block.attn_norm.weight.double())
        q, k, v = (h @ block.attn.qkv.weight.double().T).unflatten(-1, (3, cfg.heads, hd)).permute(2, 0, 3, 1, 4)
        q = complex_rope(q, positions, cfg.rope_sections, cfg.rope_theta)
        k = complex_rope(k, positions, cfg.rope_sections, cfg.rope_theta)
        scores = (q @ k.transpose(-1, -2) / math.sqrt(hd)).masked_fill(~causal, float("-inf"))
        att = (scores.softmax(-1) @ v).transpose(1, 2).flatten(2)
        x = x + att @ block.attn.out.weight.double().T
        h = rms(x, block.mlp_norm.weight.double())
        mlp = block.mlp
        gate = torch.nn.functional.silu(h @ mlp.w1.weight.double().T) * (h @ mlp.w3.weight.double().T)
        x = x + gate @ mlp.w2.weight.double().T
    return rms(x, model.norm.weight.double()) @ model.heads[0].weight.double().T


def test_forward_matches_written_out_reference():
    model = tiny_model()
    with torch.no_grad():
        for norm in [m for m in model.modules() if m.__class__.__name__ == "RMSNorm"]:
            norm.weight.uniform_(0.5, 1.5)  # not all ones, so a skipped norm weight shows
    ids = torch.randint(0, 60, (2, 9))
    positions = torch.randint(0, 6, (2, 9, 3))
    want = reference_forward(model, ids, positions)
    torch.testing.assert_close(model(ids, positions).double(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("streams", [1, 3])
def test_kv_cache_equals_full_forward(streams):
    model = tiny_model(streams=streams)
    shape = (2, 10, streams) if streams > 1 else (2, 10)
    ids, positions = torch.randint(0, 60, shape), torch.randint(0, 8, (2, 10, 3))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, :3] = False  # row 1 is left-padded
    full = model(ids, positions, attention_mask=mask)
    cache = model.new_cache()
    parts = [model(ids[:, :4], positions[:, :4], attention_mask=mask[:, :4], cache=cache)]
    parts.append(model(ids[:, 4:6], positions[:, 4:6], attention_mask=mask[:, :6], cache=cache))
    for i in range(6, 10):
        parts.append(model(ids[:, i : i + 1], positions[:, i : i + 1], attention_mask=mask[:, : i + 1], cache=cache))
    assert cache.length == 10
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)
    assert full.shape == ((2, 10, streams, 60) if streams > 1 else (2, 10, 60))


def test_left_padding_leaves_real_tokens_alone():
    model = tiny_model()
    ids, positions = torch.randint(0, 60, (1, 6)), torch.randint(0, 8, (1, 6, 3))
    padded = torch.cat([torch.full((1, 3), 5), ids], dim=1)
    pos = torch.cat([torch.zeros(1, 3, 3, dtype=torch.long), positions], dim=1)
    mask = torch.tensor([[False] * 3 + [True] * 6])
    out = model(padded, pos, attention_mask=mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 3:], model(ids, positions), rtol=1e-5, atol=1e-5)
    full = torch.ones(1, 6, dtype=torch.bool)
    torch.testing.assert_close(model(ids, positions, attention_mask=full), model(ids, positions), rtol=0, atol=0)


def test_continuous_latents_are_projected_at_their_placeholders():
    clip = image_continuous()
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()}, continuous={"clip": clip})
    model = tiny_model(vocab.size, continuous={"clip": 3})
    a = vocab.pack(["describe", MediaSpan("clip", torch.randn(3, 2, 2)), "it"])
    b = vocab.pack(["x", MediaSpan("clip", torch.randn(3, 1, 3))])
    batch = vocab.collate([a, b])
    out = model(batch["ids"], batch["positions"], batch["continuous"], batch["attention_mask"])
    for row, sample in enumerate([a, b]):  # each row sees its own latents, in row-major order
        single = vocab.collate([sample])
        alone = model(single["ids"], single["positions"], single["continuous"])
        torch.testing.assert_close(out[row, : len(sample)], alone[0], rtol=1e-5, atol=1e-5)
    first = int((a.ids == vocab.latent_id("clip")).nonzero()[0])
    changed = {"clip": ContinuousInput(batch["continuous"]["clip"].mask, batch["continuous"]["clip"].values + 1)}
    out2 = model(batch["ids"], batch["positions"], changed, batch["attention_mask"])
    assert torch.equal(out2[0, :first], out[0, :first])  # causal: nothing before the span moves
    assert not torch.allclose(out2[0, first:], out[0, first:])
    with pytest.raises(ConfigError, match="no projection"):
        model(batch["ids"], batch["positions"], {"other": batch["continuous"]["clip"]})
    with pytest.raises(ShapeError, match=r"\[N, D\]"):
        model(batch["ids"], batch["positions"], {"clip": ContinuousInput(changed["clip"].mask, torch.zeros(1, 3))})


def test_a_few_steps_fit_a_sequence():
    model = tiny_model().train()
    ids, positions = torch.randint(0, 60, (2, 12)), torch.arange(12).view(1, 12, 1).repeat(2, 1, 3) * 0
    positions[..., 0] = torch.arange(12)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(30):
        logits = model(ids, positions)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 60), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > math.log(60) - 0.5 and losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize("layout", ["flattened", "delayed"])
def test_save_load_round_trip(tmp_path, layout):
    vocab = SharedVocabulary(
        ByteTextVocabulary(), {"image": image_vq(), "speech": audio_rvq()}, {"clip": image_continuous()}, layout=layout
    )
    model = tiny_model(vocab.size, streams=vocab.num_streams, continuous={"clip": 3})
    save_unified(model, vocab, tmp_path / "unified")
    loaded = load_unified(tmp_path / "unified")
    assert loaded.vocabulary.to_dict() == vocab.to_dict() and loaded.model.config == model.config
    batch = vocab.collate([vocab.pack(["hi", MediaSpan("speech", torch.randint(0, 32, (3, 4)))])])
    torch.testing.assert_close(
        loaded.model(batch["ids"], batch["positions"]), model(batch["ids"], batch["positions"]), rtol=0, atol=0
    )
    other = SharedVocabulary(ByteTextVocabulary(), {"image": image_vq()}, layout=layout)
    with pytest.raises(ConfigError, match="ids"):
        save_unified(model, other, tmp_path / "bad")
    (tmp_path / "unified" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="cannot read"):
        load_unified(tmp_path / "unified")
    with pytest.raises(WeightsError, match="config.json"):
        load_unified(tmp_path / "missing")


def test_input_errors():
    model = tiny_model(streams=2)
    positions = torch.zeros(1, 3, 3, dtype=torch.long)
    with pytest.raises(ShapeError, match=r"\[B, L, 2\]"):
        model(torch.zeros(1, 3, dtype=torch.long), positions)
    with pytest.raises(IndexRangeError, match=r"\[0, 60\)"):
        model(torch.full((1, 3, 2), 60), positions)
    with pytest.raises(ShapeError, match="attention_mask"):
        model(torch.zeros(1, 3, 2, dtype=torch.long), positions, attention_mask=torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ShapeError, match="positions"):
        model(torch.zeros(1, 3, 2, dtype=torch.long), positions[:, :2])
    with pytest.raises(ConfigError, match="divisible"):
        TransformerConfig(10, dim=30, heads=4)
    with pytest.raises(ConfigError, match="rope_sections"):
        TransformerConfig(10, dim=32, heads=2, rope_sections=(8, 8, 8))
    with pytest.raises(ConfigError, match="unknown"):
        TransformerConfig.from_dict({"vocab_size": 10, "width": 3})
