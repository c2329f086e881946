"""Quantizers against independent references: vector-quantize-pytorch and the written-out formulas."""

import math

import pytest
import torch
import torch.nn.functional as F
import vector_quantize_pytorch as vqp

from omnitok.quantizers import (
    FiniteScalarQuantizer,
    GaussianQuantizer,
    LookupFreeQuantizer,
    ResidualQuantizer,
    VectorQuantizer,
)


# -- FSQ ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("levels", [[8, 8, 8, 5, 5, 5], [7, 5, 5, 5], [3, 4, 6]])
def test_fsq_matches_vector_quantize_pytorch(levels):
    ours = FiniteScalarQuantizer(len(levels), levels).eval()
    theirs = vqp.FSQ(levels=levels, channel_first=True)
    z = torch.randn(4, len(levels), 6, 6) * 3
    out = ours(z)
    ref_codes, ref_indices = theirs(z)
    assert torch.equal(out.indices, ref_indices.long())
    torch.testing.assert_close(out.quantized, ref_codes, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.decode(out.indices), theirs.indices_to_codes(ref_indices), rtol=0, atol=1e-6)


def test_fsq_written_out_formula():
    levels = [8, 5, 3]
    ours = FiniteScalarQuantizer(3, levels).eval()
    z = torch.randn(500, 3) * 2
    indices = ours.encode_flat(z)
    expected = torch.zeros(500, dtype=torch.long)
    for n in range(500):
        radix = 1
        for c, level in enumerate(levels):
            half_l = (level - 1) * (1 + 1e-3) / 2
            offset = 0.5 if level % 2 == 0 else 0.0
            bounded = math.tanh(z[n, c].item() + math.atanh(offset / half_l)) * half_l - offset
            expected[n] += (round(bounded) + level // 2) * radix  # digit in [0, level)
            radix *= level
    assert torch.equal(indices, expected)
    assert ours.codebook_size == 120
    all_codes = ours.codes_from_indices(torch.arange(120))
    assert len({tuple(c.tolist()) for c in all_codes}) == 120  # index <-> code is a bijection


def test_fsq_64000_codes_all_reachable_by_index():
    fsq = FiniteScalarQuantizer(6, [8, 8, 8, 5, 5, 5])
    assert fsq.codebook_size == 64000
    codes = fsq.codes_from_indices(torch.arange(64000))
    assert codes.abs().max() <= 1
    assert torch.unique(codes, dim=0).shape[0] == 64000


# -- LFQ ------------------------------------------------------------------------------------------------------
def test_lfq_indices_and_codes_match_vector_quantize_pytorch():
    ours = LookupFreeQuantizer(10, 10).eval()
    theirs = vqp.LFQ(dim=10, codebook_size=2**10, channel_first=True).eval()
    z = torch.randn(3, 10, 5, 5)
    out = ours(z)
    ref = theirs(z)
    assert torch.equal(out.indices, ref.indices.long())
    assert torch.equal(out.quantized, ref.quantized)
    assert torch.equal(ours.decode(out.indices), theirs.indices_to_codes(ref.indices))


def test_lfq_sign_bits_written_out():
    ours = LookupFreeQuantizer(4, 4)
    x = torch.tensor([[0.3, -1.0, 2.0, -0.1], [-0.5, -0.5, -0.5, 0.2]])
    assert ours.encode_flat(x).tolist() == [0b1010, 0b0001]  # channel 0 is the most significant bit
    assert ours.decode_flat(torch.tensor([0b1010])).tolist() == [[1.0, -1.0, 1.0, -1.0]]


@pytest.mark.parametrize("bits,group_bits", [(6, 6), (8, 4)])
def test_lfq_entropy_loss_matches_vector_quantize_pytorch(bits, group_bits):
    groups = bits // group_bits
    ours = LookupFreeQuantizer(bits, bits, entropy_weight=1.0, commitment_weight=0.0, entropy_group_bits=group_bits)
    theirs = vqp.LFQ(dim=bits, codebook_size=2**group_bits, num_codebooks=groups, entropy_loss_weight=1.0)
    ours.train(), theirs.train()
    x = torch.randn(64, bits) * 0.05
    per_sample, codebook = ours.entropy_terms(x)
    _, breakdown = theirs(x[None], return_loss_breakdown=True)
    torch.testing.assert_close(per_sample, breakdown.per_sample_entropy, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(codebook, breakdown.batch_entropy, rtol=1e-4, atol=1e-4)


def test_lfq_2_pow_18_codes_without_materializing_the_codebook():
    lfq = LookupFreeQuantizer(18, 18).train()
    assert lfq.codebook_size == 2**18 and lfq.entropy_group_bits == 9
    out = lfq(torch.randn(2, 18, 8, 8, requires_grad=True))
    assert torch.isfinite(out.loss) and out.indices.max() < 2**18


# -- VQ -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_vq_ema_step_matches_vector_quantize_pytorch(metric):
    cosine = metric == "cosine"
    ours = VectorQuantizer(8, 32, metric=metric, decay=0.9).train()
    theirs = vqp.VectorQuantize(
        dim=8, codebook_size=32, decay=0.9, use_cosine_sim=cosine, rotation_trick=False, sync_codebook=False
    ).train()
    theirs._codebook.embed.data.copy_(ours.codebook[None])
    theirs._codebook.embed_avg.data.copy_(ours.ema_sum[None])
    x = torch.randn(2, 50, 8)
    for _ in range(3):
        _, ref_indices, _ = theirs(x)
        out = ours.quantize_flat(x.reshape(-1, 8))
        assert torch.equal(out.indices, ref_indices.reshape(-1))
        torch.testing.assert_close(ours.codebook, theirs._codebook.embed[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ours.ema_count, theirs._codebook.cluster_size[0], rtol=1e-5, atol=1e-6)


def test_vq_indices_are_the_brute_force_nearest_codes():
    vq = VectorQuantizer(8, 100).eval()
    x = torch.randn(300, 8)
    brute = torch.cdist(x.double(), vq.codebook.double()).argmin(1)
    assert torch.equal(vq.encode_flat(x), brute)


def test_vq_losses_are_the_vq_vae_terms():
    vq = VectorQuantizer(8, 16, update="learned", commitment_weight=0.25, codebook_weight=1.0).train()
    x = torch.randn(40, 8)
    out = vq.quantize_flat(x)
    codes = vq.codebook[out.indices]
    torch.testing.assert_close(out.loss, 1.25 * F.mse_loss(x, codes))
    out.loss.backward()
    assert vq.codebook.grad is not None and vq.codebook.grad.abs().sum() > 0


def test_vq_low_dim_lookup_projects_in_and_out():
    vq = VectorQuantizer(32, 64, codebook_dim=8, metric="cosine").eval()
    assert vq.codebook.shape == (64, 8)
    z = torch.randn(2, 32, 3, 3)
    out = vq(z)
    expected = vq.project_out(F.normalize(vq.codebook, dim=1)[out.indices])
    torch.testing.assert_close(out.quantized, expected.movedim(-1, 1))


def test_vq_dead_codes_are_restarted_on_batch_vectors():
    vq = VectorQuantizer(4, 16, dead_code_threshold=0.5, decay=0.5).train()
    x = torch.randn(200, 4) * 0.01 + 100.0  # far from every initial code: one code wins, the rest die
    vq.quantize_flat(x)
    vq.quantize_flat(x)
    assert (vq.codebook - 100).abs().max() < 1.0  # every code now sits among the data


def test_vq_kmeans_init_cuts_quantization_error():
    centers = torch.randn(64, 4) * 10
    x = (centers[:, None] + 0.1 * torch.randn(64, 50, 4)).reshape(-1, 4)
    plain = VectorQuantizer(4, 64).eval()
    vq = VectorQuantizer(4, 64, kmeans_init=True, kmeans_iters=10).train()
    vq.quantize_flat(x)
    assert bool(vq.initialized)
    vq.eval()
    error = F.mse_loss(vq.decode_flat(vq.encode_flat(x)), x)
    assert error < 0.1 * F.mse_loss(plain.decode_flat(plain.encode_flat(x)), x)


# -- residual ---------------------------------------------------------------------------------------------------
def test_residual_levels_refine_and_prefixes_decode():
    rvq = ResidualQuantizer(VectorQuantizer(8, 64, kmeans_init=True), num_levels=4).train()
    x = torch.randn(2, 8, 16, 16)
    rvq(x)  # k-means init of each level on its residual
    rvq.eval()
    idx = rvq.encode(x)
    errors = [F.mse_loss(rvq.decode(idx[..., :q]), x).item() for q in range(1, 5)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    manual = sum(level.decode_flat(idx[..., i].reshape(-1)) for i, level in enumerate(rvq.levels))
    torch.testing.assert_close(rvq.decode(idx), manual.reshape(2, 16, 16, 8).movedim(-1, 1))


def test_quantizer_dropout_keeps_leading_levels_per_sample():
    level = VectorQuantizer(4, 16, update="learned")  # codebooks do not move during forward
    rvq = ResidualQuantizer(level, num_levels=4, dropout=1.0, min_levels=2).train()
    z = torch.randn(300, 4, 5)  # 300 samples of 5 tokens
    out = rvq(z)
    codes = torch.stack([rvq.levels[i].decode_flat(out.indices[..., i].reshape(-1)) for i in range(4)], 1)
    quantized = out.quantized.movedim(1, -1).reshape(-1, 4)
    # each token's value is the sum of its first q levels; find q per token
    match = torch.stack([torch.isclose(quantized, codes[:, :q].sum(1), atol=1e-5).all(1) for q in (2, 3, 4)], 1)
    assert match.any(1).all()
    kept = (match.float().argmax(1) + 2).reshape(300, 5)
    assert (kept == kept[:, :1]).all()  # one count per sample, not per token
    assert set(kept[:, 0].tolist()) == {2, 3, 4}
    assert 2.0 <= out.metrics["mean_levels"] < 4.0
    rvq.eval()
    assert rvq(z).metrics["mean_levels"] == 4.0


def test_residual_level_projections_receive_gradients():
    rvq = ResidualQuantizer(FiniteScalarQuantizer(8, [5, 5, 5]), num_levels=2).train()
    z = torch.randn(2, 8, 6, requires_grad=True)
    rvq(z).quantized.square().sum().backward()
    for level in rvq.levels:
        assert level.project_in.weight.grad.abs().sum() > 0 and level.project_out.weight.grad.abs().sum() > 0


def test_eval_forward_still_passes_gradients():
    vq = VectorQuantizer(8, 32).eval()
    z = torch.randn(2, 8, 4, requires_grad=True)
    out = vq(z)
    assert torch.equal(out.quantized, vq.decode(vq.encode(z)))
    out.quantized.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_indices_stay_fp32_inside_bf16_autocast():
    vq = VectorQuantizer(64, 1024, codebook_dim=16).eval()
    z = torch.randn(2, 64, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = vq(z)
        encoded = vq.encode(z)
    assert torch.equal(inside.indices, vq.encode(z)) and torch.equal(encoded, vq.encode(z))
    assert inside.quantized.dtype == torch.float32


# -- continuous -------------------------------------------------------------------------------------------------
def test_gaussian_kl_matches_torch_distributions():
    g = GaussianQuantizer(4, kl_weight=1.0).train()
    x = torch.randn(10, 8)
    out = g.quantize_flat(x)
    mean, logvar = x.chunk(2, dim=1)
    posterior = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(1).mean()
    torch.testing.assert_close(out.loss, expected)
    g.eval()
    assert torch.equal(g.quantize_flat(x).quantized, mean)
