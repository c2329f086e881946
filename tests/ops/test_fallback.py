"""backend="auto" survives a Triton kernel that fails to compile or launch: one warning naming the op and the error,
the torch path's result, and no second attempt in the process. An explicit backend="triton" raises instead.

The failure is forced with a real ``@triton.jit`` kernel that cannot compile (``tl.static_assert(False)``), in place
of each op's kernel; on the CPU the interpreter runs it (``TRITON_INTERPRET=1``, see conftest), on a GPU the JIT
compiler rejects it."""

from __future__ import annotations

import warnings

import pytest
import torch
import triton
import triton.language as tl

from omnitok.ops import backend as backend_module
from omnitok.ops.fsq import fsq_codes_from_indices, fsq_quantize
from omnitok.ops.lfq import lfq_entropy_terms, lfq_quantize
from omnitok.ops.nearest_code import nearest_code


@triton.jit
def _uncompilable_kernel(x_ptr):
    tl.static_assert(False, "forced compile failure")


def _broken_kernel(*args, **kwargs):
    _uncompilable_kernel[(1,)](torch.zeros(1))


x = torch.randn(37, 4)
OPS = {
    "nearest_code": (
        "omnitok.ops.triton_nearest_code.nearest_code_indices",
        lambda backend: nearest_code(x, torch.randn(11, 4, generator=torch.Generator().manual_seed(1)), backend=backend).indices,
    ),
    "fsq_quantize": ("omnitok.ops.triton_fsq.fsq_quantize_triton", lambda b: fsq_quantize(x, [5, 5, 5, 5], backend=b).codes),
    "fsq_codes_from_indices": (
        "omnitok.ops.triton_fsq.fsq_codes_from_indices_triton",
        lambda b: fsq_codes_from_indices(torch.arange(37) * 7 % 625, [5, 5, 5, 5], backend=b),
    ),
    "lfq_quantize": ("omnitok.ops.triton_lfq.lfq_sign_triton", lambda b: lfq_quantize(x, backend=b).indices),
    "lfq_entropy_terms": (
        "omnitok.ops.triton_lfq.bit_entropy_sum_triton",
        lambda b: lfq_entropy_terms(x, group_bits=2, backend=b).per_sample,
    ),
}


@pytest.fixture
def kernels_chosen(monkeypatch):
    """backend="auto" picks the kernel on these CPU tensors, as it does on CUDA ones; no failure remembered yet."""
    monkeypatch.setattr(backend_module, "kernel_device", lambda *tensors: True)
    monkeypatch.setattr(backend_module, "_FAILED_KERNELS", {})


@pytest.mark.parametrize("op", sorted(OPS))
def test_auto_falls_back_to_the_torch_path_with_one_warning(op, kernels_chosen, monkeypatch):
    target, call = OPS[op]
    expected = call("torch")
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        _broken_kernel()

    monkeypatch.setattr(target, failing)
    with pytest.warns(RuntimeWarning, match=rf"Triton kernel of {op} failed.*forced compile failure.*torch path"):
        result = call("auto")
    assert torch.equal(result, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning, and the kernel is not tried again
        assert torch.equal(call("auto"), expected)
    assert len(calls) == 1 and op in backend_module.failed_kernels()
    with pytest.raises(Exception, match="forced compile failure"):
        call("triton")  # asked for explicitly: the error, not a silent fallback
