"""The rotation trick's gradient against the paper's formula (Fifty et al., 2024, eq. for q~ = sg(lambda R) e, with
R = I - 2 r r^T + 2 q_hat e_hat^T, r = (e_hat + q_hat) / ||e_hat + q_hat||), written out here with explicit D x D
matrices, and against vector-quantize-pytorch's ``rotate_to``."""

import pytest
import torch
from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to as vqp_rotate_to

from omnitok.quantizers import GroupedQuantizer, ResidualQuantizer, VectorQuantizer
from omnitok.quantizers.rotation import rotate_to


def paper_gradient(e: torch.Tensor, q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """dL/de = (lambda R)^T dL/dq~ per row, with lambda R built as a D x D matrix in float64."""
    out = []
    for e_i, q_i, g_i in zip(e.double(), q.double(), g.double()):
        e_hat, q_hat = e_i / e_i.norm(), q_i / q_i.norm()
        r = (e_hat + q_hat) / (e_hat + q_hat).norm()
        rotation = torch.eye(len(e_i), dtype=torch.float64) - 2 * torch.outer(r, r) + 2 * torch.outer(q_hat, e_hat)
        scale = q_i.norm() / e_i.norm()
        assert torch.allclose(scale * rotation @ e_i, q_i, atol=1e-10)  # lambda R maps e onto q
        out.append(scale * rotation.T @ g_i)
    return torch.stack(out).float()


def test_gradient_is_the_papers_formula_and_forward_is_exactly_the_code():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(9, 6, generator=g).requires_grad_()
    q = torch.randn(9, 6, generator=g) * 2.0
    upstream = torch.randn(9, 6, generator=g)
    out = rotate_to(e, q)
    assert torch.equal(out, q)
    out.backward(upstream)
    torch.testing.assert_close(e.grad, paper_gradient(e.detach(), q, upstream), rtol=1e-5, atol=1e-6)
    # the same as vector-quantize-pytorch's rotate_to
    e2 = e.detach().clone().requires_grad_()
    vqp_rotate_to(e2, q).backward(upstream)
    torch.testing.assert_close(e.grad, e2.grad, rtol=1e-4, atol=1e-5)


def test_gradient_is_not_straight_through():
    e = torch.tensor([[1.0, 0.0]], requires_grad=True)
    rotate_to(e, torch.tensor([[0.0, 2.0]])).backward(torch.tensor([[0.0, 1.0]]))
    # R rotates e_hat=(1,0) onto q_hat=(0,1), lambda=2: R^T (0,1) = (1,0), so the gradient is (2, 0), not (0, 1)
    torch.testing.assert_close(e.grad, torch.tensor([[2.0, 0.0]]))


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_vector_quantizer_option_changes_the_gradient_only(metric):
    torch.manual_seed(0)
    plain = VectorQuantizer(8, 32, metric=metric)
    rotated = VectorQuantizer(8, 32, metric=metric, rotation_trick=True)
    rotated.load_state_dict(plain.state_dict())
    z = torch.randn(2, 8, 3, 3)
    upstream = torch.randn(2, 8, 3, 3)
    grads = []
    for q in (plain, rotated):
        q.train()
        x = z.clone().requires_grad_()
        out = q(x)
        out.quantized.backward(upstream)
        grads.append((out, x.grad))
    (plain_out, plain_grad), (rot_out, rot_grad) = grads
    assert torch.equal(plain_out.indices, rot_out.indices)
    torch.testing.assert_close(rot_out.quantized, plain_out.quantized, rtol=0, atol=1e-6)
    if metric == "l2":
        torch.testing.assert_close(plain_grad, upstream)  # straight-through
    xe = z.permute(0, 2, 3, 1).reshape(-1, 8)
    codes = rot_out.quantized.detach().permute(0, 2, 3, 1).reshape(-1, 8)  # the codes (the EMA step moved the table)
    if metric == "cosine":  # the rotation acts on the normalized vectors; d normalize(x)/dx maps the gradient back
        x = xe.clone().requires_grad_()
        xn = torch.nn.functional.normalize(x, dim=1)
        g = paper_gradient(xn.detach(), codes, upstream.permute(0, 2, 3, 1).reshape(-1, 8))
        xn.backward(g)
        expected = x.grad
    else:
        expected = paper_gradient(xe, codes, upstream.permute(0, 2, 3, 1).reshape(-1, 8))
    torch.testing.assert_close(rot_grad.permute(0, 2, 3, 1).reshape(-1, 8), expected, rtol=1e-4, atol=1e-6)


def test_residual_and_grouped_take_it_through_their_levels():
    torch.manual_seed(0)
    residual = ResidualQuantizer(VectorQuantizer(8, 16, rotation_trick=True), num_levels=2)
    grouped = GroupedQuantizer(VectorQuantizer(4, 16, rotation_trick=True), num_groups=2)
    for q in (residual, grouped):
        assert all(level.rotation_trick for level in q.children().__next__())
        q.train()
        z = torch.randn(2, 8, 3, 3, requires_grad=True)
        q(z).quantized.sum().backward()
        assert not torch.allclose(z.grad, torch.ones_like(z.grad))  # straight-through would give all ones
