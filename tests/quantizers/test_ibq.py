"""Index backpropagation quantization against its formula, written out here as SEED-Voken's
``IndexPropagationQuantize.forward`` computes it (logits z C^T, one_hot = hard - sg(soft) + soft, z_q = one_hot C,
the three quantization terms and MAGVIT's entropy loss over softmax(logits / T))."""

import torch
import torch.nn.functional as F

from omnitok.ops import nearest_code
from omnitok.quantizers import IndexBackpropQuantizer


def reference(z: torch.Tensor, codebook: torch.Tensor, beta: float, temperature: float, entropy_weight: float):
    """z [N, D], codebook [K, D] -> (z_q [N, D], indices [N], loss) by the paper's formula (float64)."""
    logits = z @ codebook.T
    soft = F.softmax(logits, dim=1)
    ind = soft.argmax(1)
    hard = torch.zeros_like(logits).scatter_(1, ind[:, None], 1.0)
    one_hot = hard - soft.detach() + soft
    z_q = one_hot @ codebook
    z_q_2 = hard @ codebook
    loss = ((z_q - z) ** 2).mean() + ((z_q_2.detach() - z) ** 2).mean() + beta * ((z_q_2 - z.detach()) ** 2).mean()
    probs = F.softmax(logits / temperature, dim=1)
    avg = probs.mean(0)
    sample_entropy = -(probs * torch.log(probs.clamp_min(1e-30))).sum(1).mean()
    avg_entropy = -(avg * torch.log(avg.clamp_min(1e-30))).sum()
    return z_q, ind, loss + entropy_weight * (sample_entropy - avg_entropy)


def test_forward_loss_and_gradients_match_the_formula():
    torch.manual_seed(0)
    q = IndexBackpropQuantizer(6, 40, entropy_weight=0.3, entropy_temperature=0.5, init_scale=0.5).train()
    z = torch.randn(2, 6, 3, 4)
    x = z.clone().requires_grad_()
    out = q(x)
    upstream = torch.randn_like(z)
    (out.quantized * upstream).sum().add(out.loss).backward()

    flat = z.permute(0, 2, 3, 1).reshape(-1, 6).double().requires_grad_()
    codebook = q.codebook.detach().double().requires_grad_()
    z_q, ind, loss = reference(flat, codebook, beta=0.25, temperature=0.5, entropy_weight=0.3)
    (z_q * upstream.permute(0, 2, 3, 1).reshape(-1, 6).double()).sum().add(loss).backward()

    assert torch.equal(out.indices.reshape(-1), ind)
    assert torch.equal(out.quantized.permute(0, 2, 3, 1).reshape(-1, 6), q.codebook.detach()[ind])  # exact codes
    torch.testing.assert_close(out.loss.double(), loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad.permute(0, 2, 3, 1).reshape(-1, 6).double(), flat.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(q.codebook.grad.double(), codebook.grad, rtol=1e-4, atol=1e-6)


def test_every_code_gets_gradient_unlike_plain_vq():
    torch.manual_seed(0)
    q = IndexBackpropQuantizer(8, 64, init_scale=0.1).train()
    out = q(torch.randn(1, 8, 2, 2))  # 4 tokens select at most 4 of 64 codes
    out.quantized.square().sum().backward()
    assert (q.codebook.grad.abs().sum(1) > 0).all()


def test_search_is_the_argmax_of_the_logits():
    g = torch.Generator().manual_seed(1)
    x, codebook = torch.randn(300, 5, generator=g), torch.randn(70, 5, generator=g) * torch.rand(70, 1, generator=g)
    expected = (x @ codebook.T).argmax(1)
    for backend in ("torch", "reference"):
        found = nearest_code(x, codebook, metric="inner", backend=backend)
        assert torch.equal(found.indices, expected)
        torch.testing.assert_close(found.distance, -(x * codebook[expected]).sum(1))
    assert torch.equal(nearest_code(x, codebook, metric="inner", backend="torch", chunk_rows=7).indices, expected)
