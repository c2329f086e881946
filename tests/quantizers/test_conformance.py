"""The codebook-interface contract (DESIGN.md contract 1), checked on every quantizer configuration."""

import pytest
import torch

from omnitok.config import instantiate, to_config
from omnitok.errors import DTypeError, IndexRangeError, NonFiniteError, ShapeError
from omnitok.quantizers import Quantizer

from .factories import QUANTIZERS

GRIDS = {"1d": (12,), "2d": (4, 5), "3d": (2, 3, 4)}


def latents(q: Quantizer, grid=(4, 5), batch=2, dtype=torch.float32):
    return torch.randn(batch, q.input_dim, *grid).to(dtype)


@pytest.fixture(params=sorted(QUANTIZERS))
def quantizer(request) -> Quantizer:
    return QUANTIZERS[request.param]()


@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_shapes(quantizer, grid):
    z = latents(quantizer, grid)
    for training in (True, False):
        quantizer.train(training)
        out = quantizer(z)
        assert out.quantized.shape == (2, quantizer.dim, *grid)
        assert out.loss.ndim == 0 and torch.isfinite(out.loss)
        if quantizer.discrete:
            levels = (quantizer.num_codebooks,) if quantizer.num_codebooks > 1 else ()
            assert out.indices.shape == (2, *grid, *levels) and out.indices.dtype == torch.long
            assert out.indices.min() >= 0 and out.indices.max() < quantizer.codebook_size
        else:
            assert out.indices is None
        assert all(not v.requires_grad for v in out.metrics.values())


def test_eval_forward_is_exactly_decode_of_encode(quantizer):
    quantizer.train()
    quantizer(latents(quantizer))  # one training step (k-means init, EMA updates) first
    quantizer.eval()
    z = latents(quantizer)
    out = quantizer(z)
    assert torch.equal(quantizer.decode(quantizer.encode(z)), out.quantized)
    if quantizer.discrete:
        assert torch.equal(quantizer.encode(z), out.indices)


def test_gradients_reach_input(quantizer):
    quantizer.train()
    z = latents(quantizer).requires_grad_()
    out = quantizer(z)
    (out.quantized.square().sum() + out.loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_eval_is_deterministic_and_leaves_state_alone(quantizer):
    quantizer.eval()
    z = latents(quantizer)
    state = {k: v.clone() for k, v in quantizer.state_dict().items()}
    first, second = quantizer(z), quantizer(z)
    assert torch.equal(first.quantized, second.quantized)
    assert all(torch.equal(state[k], v) for k, v in quantizer.state_dict().items())


def test_encode_never_updates_state(quantizer):
    quantizer.train()
    quantizer(latents(quantizer))
    state = {k: v.clone() for k, v in quantizer.state_dict().items()}
    quantizer.encode(latents(quantizer))
    assert all(torch.equal(state[k], v) for k, v in quantizer.state_dict().items())


def test_bf16_inputs_give_the_indices_of_their_fp32_upcast(quantizer):
    quantizer.eval()
    z16 = latents(quantizer, (16, 16), batch=4, dtype=torch.bfloat16)
    out16, out32 = quantizer(z16), quantizer(z16.float())
    assert out16.quantized.dtype == torch.float32
    if quantizer.discrete:
        assert torch.equal(out16.indices, out32.indices)
    assert torch.equal(out16.quantized, out32.quantized)


def test_state_dict_round_trip(quantizer):
    quantizer.train()
    quantizer(latents(quantizer))
    quantizer.eval()
    rebuilt = instantiate(to_config(quantizer))  # fresh random init, then the saved state
    rebuilt.load_state_dict(quantizer.state_dict())
    rebuilt.eval()
    z = latents(quantizer)
    assert torch.equal(rebuilt(z).quantized, quantizer(z).quantized)


# -- bad input ----------------------------------------------------------------------------------------------


def test_wrong_channel_count_is_a_shape_error(quantizer):
    with pytest.raises(ShapeError, match="channels"):
        quantizer(torch.randn(2, quantizer.input_dim + 1, 4, 4))


@pytest.mark.parametrize("shape", [(16,), (2, 16), (2, 16, 2, 2, 2, 2)])
def test_wrong_rank_is_a_shape_error(quantizer, shape):
    shape = (shape[0], quantizer.input_dim, *shape[2:]) if len(shape) > 1 else shape
    with pytest.raises(ShapeError):
        quantizer.encode(torch.randn(*shape))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_latents_are_rejected(quantizer, bad):
    z = latents(quantizer)
    z[0, 0, 0, 0] = bad
    with pytest.raises(NonFiniteError):
        quantizer(z)


def test_out_of_range_and_float_indices_are_rejected(quantizer):
    if not quantizer.discrete:
        pytest.skip("continuous quantizers take latents")
    idx = quantizer.encode(latents(quantizer))
    too_big = idx.clone()
    too_big.view(-1)[0] = quantizer.codebook_size
    with pytest.raises(IndexRangeError, match=str(quantizer.codebook_size)):
        quantizer.decode(too_big)
    negative = idx.clone()
    negative.view(-1)[0] = -1
    with pytest.raises(IndexRangeError):
        quantizer.decode(negative)
    with pytest.raises(DTypeError):
        quantizer.decode(idx.float())


def test_composites_refuse_continuous_parts():
    from omnitok.errors import ConfigError
    from omnitok.quantizers import GaussianQuantizer, GroupedQuantizer, IdentityQuantizer, ResidualQuantizer

    with pytest.raises(ConfigError, match="discrete"):
        ResidualQuantizer(IdentityQuantizer(4), num_levels=2)
    with pytest.raises(ConfigError, match="discrete"):
        GroupedQuantizer([GaussianQuantizer(4)])
