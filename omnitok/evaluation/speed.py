"""Wall time and peak memory of encode/decode calls, on the device that runs them.

On CUDA the peak is ``torch.cuda.max_memory_allocated`` above what was allocated before the call. On the CPU
torch's allocations are invisible to Python's tracers, so a sampling thread reads the process's resident set
size (``/proc/self/statm``) every millisecond and reports the peak above the size before the call; it is a
lower bound (a spike shorter than the sampling period can be missed) and says so in the report.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")
A = TypeVar("A")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CPU_MEMORY_NOTE = "CPU: peak resident set size above the level before each call, sampled every 1 ms (a lower bound)"
CUDA_MEMORY_NOTE = "CUDA: torch.cuda.max_memory_allocated above the level before each call"


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class Stopwatch:
    """Accumulates seconds and the peak extra memory (bytes) over many timed calls."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.seconds = 0.0
        self.samples = 0
        self.peak_bytes: int | None = 0

    def run(self, fn: Callable[[A], T], arg: A, samples: int) -> T:
        """Return ``fn(arg)``, timing the call (synchronizing CUDA) and tracking its peak memory; ``samples``
        counts towards the samples-per-second rate."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            start = time.perf_counter()
            out = fn(arg)
            torch.cuda.synchronize(self.device)
            elapsed = time.perf_counter() - start
            peak = torch.cuda.max_memory_allocated(self.device) - base
        else:
            out, elapsed, peak = self._run_cpu(fn, arg)
        self.seconds += elapsed
        self.samples += samples
        if peak is None or self.peak_bytes is None:
            self.peak_bytes = None
        else:
            self.peak_bytes = max(self.peak_bytes, peak)
        return out

    def _run_cpu(self, fn: Callable[[A], T], arg: A) -> tuple[T, float, int | None]:
        base = _rss_bytes()
        if base is None:
            start = time.perf_counter()
            out = fn(arg)
            return out, time.perf_counter() - start, None
        peak = [base]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.001):
                peak[0] = max(peak[0], _rss_bytes() or 0)

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        start = time.perf_counter()
        try:
            out = fn(arg)
        finally:
            elapsed = time.perf_counter() - start
            done.set()
            watcher.join()
        peak[0] = max(peak[0], _rss_bytes() or 0)
        return out, elapsed, peak[0] - base

    @property
    def samples_per_second(self) -> float | None:
        return self.samples / self.seconds if self.seconds > 0 else None

    @property
    def peak_megabytes(self) -> float | None:
        return None if self.peak_bytes is None else self.peak_bytes / 2**20
