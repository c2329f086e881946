"""LFQ ops: sign codes and indices, the factorized entropy terms vs the materialized softmax and written-out sums."""

import itertools
import math

import pytest
import torch

from omnitok.errors import ShapeError
from omnitok.ops import lfq_entropy_terms, lfq_quantize
from tests.ops.draws import device_for, fresh_generator


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * probs.clamp_min(1e-10).log()).sum(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_sign_codes_and_indices_are_the_written_out_bits(dtype):
    gen, seed = fresh_generator()
    x = torch.randn(157, 11, generator=gen).to(dtype)
    x[0] = 0.0  # zero is not positive: bit 0, code -scale
    expected = torch.tensor([sum(int(v > 0) << (10 - j) for j, v in enumerate(row.tolist())) for row in x.float()])
    for backend in ("triton", "torch"):
        out = lfq_quantize(x.to(device_for(backend)), scale=0.5, backend=backend)
        out = type(out)(out.codes.cpu(), out.indices.cpu())
        assert torch.equal(out.indices, expected), f"{backend} (seed {seed})"
        assert torch.equal(out.codes, torch.where(x.float() > 0, 0.5, -0.5)), backend
        assert out.indices[0] == 0


def test_sign_codes_pass_gradients_straight_through():
    for backend in ("triton", "torch"):
        x, weights = torch.randn(20, 6, device=device_for(backend), requires_grad=True), torch.arange(6.0)
        (grad,) = torch.autograd.grad(lfq_quantize(x, backend=backend).codes.mul(weights.to(x.device)).sum(), x)
        assert torch.equal(grad.cpu(), weights.expand(20, 6))


@pytest.mark.parametrize("bits,group_bits", [(12, 12), (12, 4), (9, 3), (5, 1), (7, 7)])
def test_factorized_terms_and_gradients_match_the_materialized_softmax(bits, group_bits):
    gen, seed = fresh_generator()
    x = torch.randn(203, bits, generator=gen) * 0.05
    n = x.shape[0]
    results, grads = {}, {}
    for backend in ("triton", "torch", "reference"):
        leaf = x.to(device_for(backend)).requires_grad_()
        terms = lfq_entropy_terms(leaf, group_bits=group_bits, inv_temperature=30.0, scale=0.7, backend=backend)
        loss = terms.per_sample - _entropy(terms.probability_sums / n).mean()
        (grad,) = torch.autograd.grad(loss, leaf)
        grads[backend] = grad.cpu()
        results[backend] = type(terms)(terms.per_sample.cpu(), terms.probability_sums.cpu())
    ref = results["reference"]
    assert ref.probability_sums.shape == (bits // group_bits, 2**group_bits)
    for backend in ("triton", "torch"):
        msg = f"{backend} (seed {seed})"
        torch.testing.assert_close(results[backend].per_sample, ref.per_sample, rtol=1e-5, atol=1e-6, msg=msg)
        torch.testing.assert_close(results[backend].probability_sums, ref.probability_sums, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grads[backend], grads["reference"], rtol=1e-4, atol=1e-5, msg=msg)  # float32 sums


def test_entropy_terms_are_the_written_out_sums_over_codes():
    gen, _ = fresh_generator()
    x, t, scale = torch.randn(6, 3, generator=gen).double() * 0.3, 4.0, 1.5
    codes = [torch.tensor(c, dtype=torch.float64) * scale for c in itertools.product([-1.0, 1.0], repeat=3)]
    per_sample, totals = 0.0, [0.0] * 8  # code i has bits of i, most significant first (1 -> +scale)
    for row in x:
        weights = [math.exp(-t * float(((row - c) ** 2).sum())) for c in codes]  # softmax of -||x - c||^2 * t
        probs = [w / sum(weights) for w in weights]
        per_sample -= sum(p * math.log(p) for p in probs) / x.shape[0]
        totals = [a + p for a, p in zip(totals, probs)]
    terms = lfq_entropy_terms(x.float(), group_bits=3, inv_temperature=t, scale=scale, backend="torch")
    assert terms.per_sample.item() == pytest.approx(per_sample, rel=1e-5)
    assert terms.probability_sums[0].tolist() == pytest.approx(totals, rel=1e-5)


def test_two_hundred_sixty_two_thousand_codes_in_one_group():
    gen, seed = fresh_generator()
    x = torch.randn(32, 18, generator=gen) * 0.02
    factorized = lfq_entropy_terms(x, group_bits=18, inv_temperature=10.0, backend="torch")
    reference = lfq_entropy_terms(x, group_bits=18, inv_temperature=10.0, backend="reference")  # 32 x 2^18: small N
    assert factorized.probability_sums.shape == (1, 2**18)
    torch.testing.assert_close(factorized.probability_sums, reference.probability_sums, rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(factorized.per_sample, reference.per_sample, rtol=1e-5, atol=1e-6, msg=f"seed {seed}")


def test_empty_batch_and_bad_inputs():
    terms = lfq_entropy_terms(torch.zeros(0, 6, device=device_for("triton")), group_bits=3, backend="triton")
    assert terms.per_sample.item() == 0 and terms.probability_sums.shape == (2, 8)
    with pytest.raises(ShapeError, match="group_bits=4 must divide"):
        lfq_entropy_terms(torch.zeros(3, 6), group_bits=4)
    with pytest.raises(ShapeError, match=r"x \[N, bits\]"):
        lfq_quantize(torch.zeros(6))
