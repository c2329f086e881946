"""Quantizers give the same results on the Triton kernels (interpreted on CPU) as on the torch path."""

import pytest
import torch

from omnitok.quantizers import (
    BinarySphericalQuantizer,
    FiniteScalarQuantizer,
    IndexBackpropQuantizer,
    LookupFreeQuantizer,
    ResidualQuantizer,
    SimVQQuantizer,
    VectorQuantizer,
)
from tests.ops.draws import device_for

FACTORIES = {
    "vq_l2": lambda backend: VectorQuantizer(12, 70, backend=backend),
    "vq_cosine_lowdim": lambda backend: VectorQuantizer(12, 70, codebook_dim=5, metric="cosine", backend=backend),
    "vq_kmeans_learned": lambda backend: VectorQuantizer(12, 33, update="learned", kmeans_init=True, backend=backend),
    "fsq": lambda backend: FiniteScalarQuantizer(12, [8, 5, 5, 3], backend=backend),
    "lfq": lambda backend: LookupFreeQuantizer(12, 10, entropy_group_bits=5, backend=backend),
    "residual_vq": lambda backend: ResidualQuantizer(VectorQuantizer(12, 40, backend=backend), num_levels=2),
    "vq_rotation": lambda backend: VectorQuantizer(12, 70, rotation_trick=True, backend=backend),
    "ibq": lambda backend: IndexBackpropQuantizer(12, 70, entropy_weight=0.1, init_scale=0.3, backend=backend),
    "simvq": lambda backend: SimVQQuantizer(12, 70, backend=backend),
    "bsq": lambda backend: BinarySphericalQuantizer(12, 10, entropy_group_bits=5, backend=backend),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_triton_and_torch_backends_agree(name):
    z = torch.randn(2, 12, 5, 7)
    outputs, grads, states = {}, {}, {}
    for backend in ("triton", "torch"):
        torch.manual_seed(0)
        dev = device_for(backend)
        quantizer = FACTORIES[name](backend).to(dev).train()
        leaf = z.to(dev).requires_grad_()
        out = quantizer(leaf)
        (out.quantized.square().mean() + out.loss).backward()
        outputs[backend] = type(out)(out.quantized.cpu(), out.indices.cpu(), out.loss.cpu(), {})
        grads[backend], states[backend] = leaf.grad.cpu(), {k: v.cpu() for k, v in quantizer.state_dict().items()}
        quantizer.eval()
        assert torch.equal(quantizer.decode(quantizer.encode(z.to(dev))), quantizer(z.to(dev)).quantized)
    assert torch.equal(outputs["triton"].indices, outputs["torch"].indices)
    torch.testing.assert_close(outputs["triton"].quantized, outputs["torch"].quantized, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(outputs["triton"].loss, outputs["torch"].loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads["triton"], grads["torch"], rtol=1e-5, atol=1e-6)
    for key, value in states["torch"].items():  # EMA codebooks and k-means inits follow the same assignments
        torch.testing.assert_close(states["triton"][key], value, rtol=1e-5, atol=1e-6, msg=key)
