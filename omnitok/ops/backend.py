"""Backend choice shared by every op: Triton kernel, chunked torch path, or the plain reference formula.

``"auto"`` runs the Triton kernel on CUDA tensors and the torch path elsewhere. ``"triton"`` on CPU tensors works
only under the Triton interpreter (``TRITON_INTERPRET=1`` set before triton is first imported). Triton itself is
imported lazily, inside the kernel modules, so ``import omnitok`` never loads it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Literal

import torch
from torch import Tensor

Backend = Literal["auto", "triton", "torch", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "torch", "reference")


@functools.cache
def triton_available() -> bool:
    """Whether the triton package is installed (checked without importing it)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """Whether Triton kernels run under the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def resolve_backend(backend: str, *tensors: Tensor, op: str) -> Literal["triton", "torch", "reference"]:
    """The concrete backend for ``op`` on ``tensors``; raises a ValueError naming the problem when impossible."""
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    on_cuda = all(t.is_cuda for t in tensors)
    if backend == "auto":
        return "triton" if on_cuda and triton_available() else "torch"
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
