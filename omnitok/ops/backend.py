"""Backend choice shared by every op: Triton kernel, chunked torch path, or the plain reference formula.

``"auto"`` runs the Triton kernel on CUDA tensors and the torch path elsewhere. ``"triton"`` on CPU tensors works
only under the Triton interpreter (``TRITON_INTERPRET=1`` set before triton is first imported). Triton itself is
imported lazily, inside the kernel modules, so ``import omnitok`` never loads it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from collections.abc import Callable
from typing import Literal, TypeVar

import torch
from torch import Tensor

from omnitok.errors import OmnitokError

T = TypeVar("T")
Backend = Literal["auto", "triton", "torch", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "torch", "reference")


@functools.cache
def triton_available() -> bool:
    """Whether the triton package is installed (checked without importing it)."""
    return importlib.util.find_spec("triton") is not None


@functools.cache
def bf16_matmul_is_fast() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX) through oneDNN."""
    import torch

    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return torch.backends.mkldnn.is_available() and (torch.cpu._is_avx512_bf16_supported() or bool(amx()))


def interpreting() -> bool:
    """Whether Triton kernels run under the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


_FAILED_KERNELS: dict[str, str] = {}  # op -> why its kernel failed in this process (auto then uses torch)


def kernel_device(*tensors: Tensor) -> bool:
    """Whether ``backend="auto"`` runs the Triton kernel on these tensors: all on CUDA."""
    return all(t.is_cuda for t in tensors)


def resolve_backend(backend: str, *tensors: Tensor, op: str) -> Literal["triton", "torch", "reference"]:
    """The concrete backend for ``op`` on ``tensors``; raises a ValueError naming the problem when impossible.
    ``"auto"`` picks the kernel on CUDA tensors unless it already failed in this process (:func:`with_fallback`)."""
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    on_cuda = all(t.is_cuda for t in tensors)
    if backend == "auto":
        return "triton" if kernel_device(*tensors) and triton_available() and op not in _FAILED_KERNELS else "torch"
    if backend == "triton":
        if not triton_available():
            raise ValueError(f"{op}: backend='triton' needs the triton package, which is not installed")
        if not on_cuda and not interpreting():
            devices = sorted({str(t.device) for t in tensors})
            raise ValueError(
                f"{op}: backend='triton' needs CUDA tensors, or TRITON_INTERPRET=1 set before triton is imported "
                f"to run the kernel on the CPU; got tensors on {devices}"
            )
    return backend  # type: ignore[return-value]


def same_device(op: str, *tensors: Tensor) -> torch.device:
    """The one device all ``tensors`` live on; raises a ValueError naming the devices otherwise."""
    devices = {t.device for t in tensors}
    if len(devices) != 1:
        raise ValueError(f"{op}: all tensors must be on one device, got {sorted(str(d) for d in devices)}")
    return devices.pop()


def with_fallback(op: str, backend: str, kernel: Callable[[], T], torch_path: Callable[[], T]) -> T:
    """Run ``kernel()``, the Triton path of ``op``. Under ``backend="auto"`` a kernel that fails to compile or launch
    on this GPU (an unsupported architecture, an old driver, a Triton bug) does not fail the user's run: one
    warning names the op and the error, ``torch_path()`` gives the result, and ``op`` uses the torch path for the
    rest of the process. An explicit ``backend="triton"`` raises the error instead."""
    if backend != "auto":
        return kernel()
    try:
        return kernel()
    except (torch.OutOfMemoryError, OmnitokError):
        raise  # not the kernel's fault: the torch path would meet the same
    except Exception as err:  # noqa: BLE001 - compile and launch errors have no common type across Triton versions
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}".rstrip(": ")
        _FAILED_KERNELS[op] = reason
        warnings.warn(
            f"omnitok: the Triton kernel of {op} failed on this GPU ({reason}); using the torch path instead "
            "(same results, slower). Pass backend='triton' to see the full error.",
            RuntimeWarning,
            stacklevel=3,
        )
        return torch_path()


def failed_kernels() -> dict[str, str]:
    """The ops whose kernel failed in this process, with the reason (a copy)."""
    return dict(_FAILED_KERNELS)
