"""Lookup-free quantization ops (MAGVIT-v2): sign codes and indices, and the entropy terms over 2^d implicit codes.

Sign quantization: ``code = +scale if x > 0 else -scale`` per channel, index bits most significant first (channel 0
is the top bit), gradients straight through.

Entropy terms over a group of g bits: the distribution over the group's 2^g codes is softmax(-||x - c||^2 * t),
whose logits are ``2 t scale x . c`` up to a per-row constant. Because the logits are a sum over bits, this
softmax is a product of per-bit Bernoullis p_j = sigmoid(4 t scale x_j). Two consequences that avoid N x 2^g:

- the per-sample entropy is the sum of the bits' binary entropies (O(N g));
- the batch-summed distribution over 2^g codes is ``A^T B`` where A [N, 2^h] and B [N, 2^(g-h)] are the softmaxes
  over the first h and the last g - h bits: one matmul, O(N 2^(g/2)) memory (for g = 18: 2 x 512 columns instead
  of 262144).

Backends: ``"triton"`` fuses the sign codes/indices and the per-sample entropy (forward and backward); the
summed distribution is the matmul above on every backend except ``"reference"`` (a GEMM is what cuBLAS/MKL do
best). ``"reference"`` materializes the per-group softmax over all 2^g codes (the textbook formula, for tests).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import torch
from torch import Tensor

from omnitok.errors import DTypeError, ShapeError
from omnitok.ops.backend import Backend, resolve_backend, with_fallback

__all__ = ["LFQCodes", "LFQEntropy", "bit_values", "lfq_entropy_terms", "lfq_quantize", "sign_codebook"]


@dataclasses.dataclass
class LFQCodes:
    """codes: [N, d] float32 of +-scale, straight-through gradients to x; indices: [N] int64 in [0, 2^d)."""

    codes: Tensor
    indices: Tensor


@dataclasses.dataclass
class LFQEntropy:
    """per_sample: scalar, mean over rows and groups of the entropy (nats) of each row's code distribution;
    probability_sums: [G, 2^g], each group's code probabilities summed over rows (code index MSB-first).
    Both carry gradients. The codebook entropy is ``entropy(probability_sums / N)`` averaged over groups (summing
    over ranks first under data parallelism)."""

    per_sample: Tensor
    probability_sums: Tensor


@functools.lru_cache(maxsize=32)
def bit_values(bits: int, device: torch.device) -> Tensor:
    """[bits] int64: 2^(bits-1), ..., 2, 1 (channel 0 is the most significant bit)."""
    return 2 ** torch.arange(bits - 1, -1, -1, device=device)


@functools.lru_cache(maxsize=32)
def sign_codebook(bits: int, device: torch.device) -> Tensor:
    """[2^bits, bits] float32 of +-1: row i holds the bits of i, most significant first (1 -> +1, 0 -> -1)."""
    if bits == 0:
        return torch.zeros(1, 0, device=device)
    return ((torch.arange(2**bits, device=device)[:, None] & bit_values(bits, device)) != 0).float() * 2 - 1


class _StraightThrough(torch.autograd.Function):
    """Returns ``value`` exactly; the gradient goes to ``source`` unchanged."""

    @staticmethod
    def forward(ctx: Any, source: Tensor, value: Tensor) -> Tensor:
        return value

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


def _check(x: Tensor, op: str) -> None:
    if x.ndim != 2:
        raise ShapeError(f"{op} needs x [N, bits], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise DTypeError(f"{op} needs floating-point x, got {x.dtype}")
    if not 1 <= x.shape[1] <= 62:
        raise ShapeError(f"{op} needs 1 to 62 bits (channels), got {x.shape[1]}")


def lfq_quantize(x: Tensor, *, scale: float = 1.0, backend: Backend = "auto") -> LFQCodes:
    """x: [N, d] float -> LFQCodes (codes [N, d] float32 = +-scale with straight-through gradients, indices [N])."""
    _check(x, "lfq_quantize")
    if resolve_backend(backend, x, op="lfq_quantize") == "triton" and x.shape[0] > 0:

        def kernel() -> tuple[Tensor, Tensor]:
            from omnitok.ops.triton_lfq import lfq_sign_triton

            return lfq_sign_triton(x.detach().contiguous(), bit_values(x.shape[1], x.device), float(scale))

        codes, indices = with_fallback("lfq_quantize", backend, kernel, lambda: _sign_codes(x, scale))
    else:
        codes, indices = _sign_codes(x, scale)
    return LFQCodes(_StraightThrough.apply(x, codes) if x.requires_grad else codes, indices)


def _sign_codes(x: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    positive = x.detach() > 0
    codes = torch.where(positive, float(scale), -float(scale))
    return codes, (positive.long() * bit_values(x.shape[1], x.device)).sum(1)


def lfq_entropy_terms(
    x: Tensor, *, group_bits: int, inv_temperature: float = 100.0, scale: float = 1.0, backend: Backend = "auto"
) -> LFQEntropy:
    """x: [N, d] float, d a multiple of ``group_bits`` -> LFQEntropy (per-sample entropy, summed code probabilities).

    Channels [i * group_bits, (i + 1) * group_bits) form group i. Differentiable.
    """
    _check(x, "lfq_entropy_terms")
    n, d = x.shape
    if group_bits < 1 or d % group_bits:
        raise ShapeError(f"lfq_entropy_terms: group_bits={group_bits} must divide the {d} channels")
    chosen = resolve_backend(backend, x, op="lfq_entropy_terms")
    x = x.float()
    if chosen == "reference":
        return _reference_entropy_terms(x, group_bits, inv_temperature, scale)
    gain = 4.0 * inv_temperature * scale  # bit logit z = log p(+1) - log p(-1)
    if n == 0:
        per_sample = x.sum() * 0
    elif chosen == "triton":

        def kernel() -> Tensor:
            from omnitok.ops.triton_lfq import bit_entropy_sum_triton

            return bit_entropy_sum_triton(x.contiguous(), gain) / (n * (d // group_bits))

        def torch_path() -> Tensor:
            return binary_entropy_from_logits(gain * x).sum() / (n * (d // group_bits))

        per_sample = with_fallback("lfq_entropy_terms", backend, kernel, torch_path)
    else:
        per_sample = binary_entropy_from_logits(gain * x).sum() / (n * (d // group_bits))
    return LFQEntropy(per_sample, _factorized_probability_sums(x, group_bits, inv_temperature, scale))


def binary_entropy_from_logits(z: Tensor) -> Tensor:
    """Entropy (nats) of Bernoulli(sigmoid(z)), elementwise, without cancellation for large |z|."""
    u = z.abs()
    e = torch.exp(-u)
    return torch.log1p(e) + u * e / (1 + e)


def _factorized_probability_sums(x: Tensor, group_bits: int, inv_temperature: float, scale: float) -> Tensor:
    """[G, 2^g] summed code probabilities as A^T B over the two halves of each group's bits."""
    n, d = x.shape
    high = group_bits - group_bits // 2
    xg = x.reshape(n, d // group_bits, group_bits)  # (N, G, g)
    gain = 2.0 * inv_temperature * scale
    a = (gain * xg[..., :high] @ sign_codebook(high, x.device).T).softmax(-1)  # (N, G, 2^high): top bits
    b = (gain * xg[..., high:] @ sign_codebook(group_bits - high, x.device).T).softmax(-1)  # (N, G, 2^low)
    sums = torch.einsum("ngi,ngj->gij", a, b)  # (G, 2^high, 2^low): code index = i * 2^low + j
    return sums.reshape(d // group_bits, 2**group_bits)


def _reference_entropy_terms(x: Tensor, group_bits: int, inv_temperature: float, scale: float) -> LFQEntropy:
    """Softmax over every one of the 2^g codes of each group: [N, G, 2^g] in memory."""
    n, d = x.shape
    xg = x.reshape(n, d // group_bits, group_bits)
    logits = 2 * inv_temperature * scale * (xg @ sign_codebook(group_bits, x.device).T)  # (N, G, 2^g)
    probs = logits.softmax(-1)
    per_sample = -(probs * torch.log(probs.clamp_min(1e-10))).sum(-1).mean() if n else x.sum() * 0
    return LFQEntropy(per_sample, probs.sum(0))
