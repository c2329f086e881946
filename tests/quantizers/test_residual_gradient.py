"""The encoder gradient through residual quantization: once, whatever the number of active levels."""

import torch

from omnitok.quantizers import ResidualQuantizer, VectorQuantizer


def _grad(num_levels: int, kept: int) -> torch.Tensor:
    torch.manual_seed(0)
    rvq = ResidualQuantizer(VectorQuantizer(8, 16), num_levels=num_levels).train()
    x = torch.randn(64, 8, requires_grad=True)
    out = rvq.quantize_flat(x, kept=torch.full((64,), kept))
    (out.quantized * torch.arange(1.0, 9.0)).sum().backward()  # d/dx of <q, w> is w under a plain straight-through
    return x.grad


def test_straight_through_gradient_is_the_identity_for_any_number_of_levels():
    weights = torch.arange(1.0, 9.0).expand(64, 8)
    for levels, kept in [(1, 1), (4, 4), (4, 2), (3, 1)]:
        torch.testing.assert_close(_grad(levels, kept), weights, msg=f"{levels} levels, {kept} kept")


def test_forward_values_still_subtract_the_exact_codes():
    torch.manual_seed(0)
    rvq = ResidualQuantizer(VectorQuantizer(8, 16), num_levels=3).eval()  # eval: no codebook update in between
    x = torch.randn(64, 8)
    out = rvq.quantize_flat(x)
    torch.testing.assert_close(out.quantized, rvq.decode_flat(out.indices))
    assert torch.equal(rvq.encode_flat(x), out.indices)
