"""FSQ op: kernel (interpreted on CPU) vs reference, gradients vs autograd, and the written-out formula."""

import math

import pytest
import torch

from omnitok.errors import ShapeError
from omnitok.ops import fsq_codes_from_indices, fsq_quantize
from omnitok.ops.fsq import fsq_constants
from tests.ops.draws import device_for, fresh_generator

LEVELS = [[8, 5, 5, 5], [7, 5, 3], [3, 4, 6, 2, 9], [8, 8, 8, 5, 5, 5]]


def _written_out(x: torch.Tensor, levels: list[int], eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(digits centred on 0, index, distance of the bounded value to a rounding boundary) with Python floats."""
    digits, index, margin = torch.zeros_like(x), torch.zeros(x.shape[0], dtype=torch.long), torch.zeros_like(x)
    for n in range(x.shape[0]):
        radix = 1
        for c, level in enumerate(levels):
            half = (level - 1) * (1 + eps) / 2
            offset = 0.5 if level % 2 == 0 else 0.0
            bounded = math.tanh(float(x[n, c]) + math.atanh(offset / half)) * half - offset
            digit = round(bounded)  # Python rounds half to even, as torch.round
            digits[n, c], margin[n, c] = digit, abs(abs(bounded - math.floor(bounded)) - 0.5)
            index[n] += (digit + level // 2) * radix  # digit + L // 2 in [0, L), channel 0 least significant
            radix *= level
    return digits, index, margin


@pytest.mark.parametrize("levels", LEVELS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_kernel_and_reference_match_the_written_out_formula(levels, dtype):
    gen, seed = fresh_generator()
    x = (torch.randn(203, len(levels), generator=gen) * 2).to(dtype)
    digits, index, margin = _written_out(x.float(), levels, 1e-3)
    clear = (margin > 1e-5).all(1)  # rows with a value at a rounding boundary are near-ties
    half_width = torch.tensor([level // 2 for level in levels], dtype=torch.float32)
    for backend in ("triton", "torch", "reference"):
        out = fsq_quantize(x.to(device_for(backend)), levels, backend=backend)
        out = type(out)(out.codes.cpu(), out.indices.cpu())
        assert out.indices.dtype == torch.int64 and out.codes.dtype == torch.float32
        assert torch.equal(out.indices[clear], index[clear]), f"{backend} (seed {seed})"
        torch.testing.assert_close(out.codes[clear], (digits / half_width)[clear], rtol=0, atol=1e-6)
    assert clear.float().mean() > 0.95


@pytest.mark.parametrize("levels", LEVELS[:3], ids=str)
def test_kernel_gradient_is_the_reference_autograd(levels):
    gen, seed = fresh_generator()
    x = torch.randn(131, len(levels), generator=gen) * 1.5
    upstream = torch.randn(131, len(levels), generator=gen)
    grads = {}
    for backend in ("triton", "reference"):
        leaf = x.to(device_for(backend)).requires_grad_()
        codes = fsq_quantize(leaf, levels, backend=backend).codes
        (grads[backend],) = torch.autograd.grad(codes, leaf, upstream.to(leaf.device))
        grads[backend] = grads[backend].cpu()
    torch.testing.assert_close(grads["triton"], grads["reference"], rtol=1e-5, atol=1e-6, msg=f"seed {seed}")
    consts = fsq_constants(tuple(levels), 1e-3, x.device)
    slope = (1 - torch.tanh(x + consts.shift) ** 2) * consts.half / consts.half_width  # d code / dx, written out
    torch.testing.assert_close(grads["reference"], upstream * slope, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("levels", LEVELS, ids=str)
def test_index_to_code_is_the_written_out_digits(levels):
    size = math.prod(levels)
    gen, _ = fresh_generator()
    indices = torch.cat([torch.tensor([0, size - 1]), torch.randint(0, size, (300,), generator=gen)])
    for backend in ("triton", "torch"):
        codes = fsq_codes_from_indices(indices.to(device_for(backend)), levels, backend=backend).cpu()
        # written out: digit_c = (index // prod(L[:c])) % L_c, code = (digit - L // 2) / (L // 2)
        for row in (0, 1, 2):
            radix, expected = 1, []
            for level in levels:
                expected.append((int(indices[row]) // radix % level - level // 2) / (level // 2))
                radix *= level
            assert codes[row].tolist() == pytest.approx(expected, abs=1e-7)
        assert codes.abs().max() <= 1
        assert torch.equal(fsq_codes_from_indices(indices, levels, backend="torch"), codes), backend


def test_quantizing_each_code_gives_back_its_index():
    levels = [7, 5, 3]
    indices = torch.arange(math.prod(levels))
    codes = fsq_codes_from_indices(indices, levels)
    bounded_target = codes * torch.tensor([3.0, 2.0, 1.0])  # the centred digits
    half = (torch.tensor(levels, dtype=torch.float32) - 1) * (1 + 1e-3) / 2
    x = torch.atanh(bounded_target / half)
    for backend in ("triton", "torch"):
        assert torch.equal(fsq_quantize(x.to(device_for(backend)), levels, backend=backend).indices.cpu(), indices)


def test_empty_and_bad_inputs():
    assert fsq_quantize(torch.zeros(0, 3, device=device_for("triton")), [5, 5, 5], backend="triton").indices.shape == (
        0,
    )
    with pytest.raises(ShapeError, match=r"x \[N, 3\]"):
        fsq_quantize(torch.zeros(4, 2), [5, 5, 5])
    with pytest.raises(ValueError, match=">= 2"):
        fsq_quantize(torch.zeros(4, 2), [5, 1])
    with pytest.raises(ShapeError, match="indices \\[N\\]"):
        fsq_codes_from_indices(torch.zeros(2, 2, dtype=torch.long), [5, 5])
