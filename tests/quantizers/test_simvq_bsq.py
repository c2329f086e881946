"""SimVQ and BSQ against vector-quantize-pytorch (``SimVQ``; ``LFQ(spherical=True)``) with the same weights, and
against their written-out formulas (codes C0 W^T; codes sign(u) / sqrt(d) of u = z / ||z||)."""

import math

import pytest
import torch
import torch.nn.functional as F
import vector_quantize_pytorch as vqp

from omnitok.quantizers import BinarySphericalQuantizer, SimVQQuantizer


def flat(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


@pytest.mark.parametrize("rotation_trick", [True, False])
def test_simvq_matches_vector_quantize_pytorch(rotation_trick):
    torch.manual_seed(0)
    ours = SimVQQuantizer(8, 48, rotation_trick=rotation_trick).train()
    theirs = vqp.SimVQ(dim=8, codebook_size=48, rotation_trick=rotation_trick, channel_first=True).train()
    theirs.frozen_codebook.copy_(ours.frozen_codebook)
    theirs.code_transform.weight.data.copy_(ours.code_transform.weight.data)
    z = torch.randn(2, 8, 3, 5)
    upstream = torch.randn_like(z)
    results = []
    for q in (ours, theirs):
        x = z.clone().requires_grad_()
        out = q(x)
        quantized, indices, loss = (out.quantized, out.indices, out.loss) if q is ours else out
        ((quantized * upstream).sum() + loss).backward()
        weight = q.code_transform.weight
        results.append((quantized.detach(), indices, loss.detach(), x.grad, weight.grad.clone()))
    (q1, i1, l1, gx1, gw1), (q2, i2, l2, gx2, gw2) = results
    assert torch.equal(i1, i2)
    torch.testing.assert_close(q1, q2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(l1, l2, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(gx1, gx2, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gw1, gw2, rtol=1e-4, atol=1e-6)
    # the formula: the code of each token is its nearest row of C0 W^T
    codebook = ours.frozen_codebook @ ours.code_transform.weight.detach().T
    expected = torch.cdist(flat(z), codebook).argmin(1)
    assert torch.equal(i1.reshape(-1), expected)
    assert torch.equal(flat(ours.eval()(z).quantized), ours.code_transform(ours.frozen_codebook[expected]).detach())


def test_simvq_trains_every_code_through_the_map():
    torch.manual_seed(0)
    q = SimVQQuantizer(8, 64).train()
    q(torch.randn(1, 8, 2, 2)).loss.backward()
    assert q.frozen_codebook.grad is None and q.code_transform.weight.grad.abs().sum() > 0


def test_bsq_matches_vector_quantize_pytorch_spherical_lfq():
    torch.manual_seed(0)
    bits = 6
    ours = BinarySphericalQuantizer(bits, bits, entropy_weight=0.1, commitment_weight=0.25, inv_temperature=5.0)
    theirs = vqp.LFQ(
        dim=bits, codebook_size=2**bits, spherical=True, entropy_loss_weight=0.1, commitment_loss_weight=0.25
    )
    z = torch.randn(2, bits, 3, 5)
    upstream = torch.randn_like(z)
    ours.train(), theirs.train()
    x1, x2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    out = ours(x1)
    ret = theirs(x2, inv_temperature=5.0)
    ((out.quantized * upstream).sum() + out.loss).backward()
    ((ret.quantized * upstream).sum() + ret.entropy_aux_loss).backward()
    assert torch.equal(out.indices, ret.indices)
    torch.testing.assert_close(out.quantized, ret.quantized, rtol=1e-6, atol=1e-7)
    # vector-quantize-pytorch clamps probabilities at 1e-5 inside its logs: a few 1e-6 of difference
    torch.testing.assert_close(out.loss, ret.entropy_aux_loss, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-6)
    # the formula: unit-norm codes sign(u) / sqrt(d), bits most significant first
    u = F.normalize(flat(z), dim=1)
    codes = torch.where(u > 0, 1.0, -1.0) / math.sqrt(bits)
    torch.testing.assert_close(flat(out.quantized.detach()), codes)
    weights = 2 ** torch.arange(bits - 1, -1, -1)
    assert torch.equal(out.indices.reshape(-1), ((u > 0).long() * weights).sum(1))
