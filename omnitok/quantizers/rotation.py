"""The rotation trick (Fifty et al., 2024, "Restructuring Vector Quantization with the Rotation Trick", sec. 4.2).

Straight-through estimation copies the decoder's gradient at the code q onto the encoder output e unchanged. The
rotation trick instead treats the code as a rotated, rescaled copy of e, ``q = sg(lambda R) e`` with

    lambda = ||q|| / ||e||,   R = I - 2 r r^T + 2 q_hat e_hat^T,   r = (e_hat + q_hat) / ||e_hat + q_hat||,

(R rotates e_hat onto q_hat in the plane they span), so the gradient reaching e is ``lambda R^T g``: its angle to
the code and its norm follow the angle and norm between e and its code, and vectors in the same Voronoi cell get
different gradients. This module returns q exactly (bit for bit, as the eval contract wants) and applies that
gradient in backward; the codebook gets no gradient through it (codebook/commitment losses or EMA train it).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

_EPS = 1e-6  # norms below this count as zero (vector-quantize-pytorch's ``safe_div`` clamp)


class _RotateTo(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, source: Tensor, target: Tensor) -> Tensor:
        ctx.save_for_backward(source, target)
        return target.detach().clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        source, target = ctx.saved_tensors
        return rotation_trick_gradient(source, target, grad), None


def rotation_trick_gradient(e: Tensor, q: Tensor, grad: Tensor) -> Tensor:
    """``lambda R^T grad`` per row: e, q, grad [N, D] -> [N, D] (without building the D x D matrices).

    R^T g = g - 2 r (r . g) + 2 e_hat (q_hat . g).
    """
    e_norm = e.norm(dim=1, keepdim=True)
    q_norm = q.norm(dim=1, keepdim=True)
    e_hat, q_hat = e / e_norm.clamp_min(_EPS), q / q_norm.clamp_min(_EPS)
    r = F.normalize(e_hat + q_hat, dim=1, eps=_EPS)
    scale = q_norm / e_norm.clamp_min(_EPS)  # lambda
    rotated = grad - 2 * r * (r * grad).sum(1, keepdim=True) + 2 * e_hat * (q_hat * grad).sum(1, keepdim=True)
    return scale * rotated


def rotate_to(source: Tensor, target: Tensor) -> Tensor:
    """``target`` [N, D] exactly, with the rotation trick's gradient to ``source`` [N, D] (none to ``target``)."""
    if not source.requires_grad:
        return target.detach()
    return _RotateTo.apply(source, target)
