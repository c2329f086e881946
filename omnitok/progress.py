"""Progress of long-running work on stderr: a tqdm bar on a terminal, plain periodic lines anywhere else.

A log file, a CI job or a pipe gets one complete line per interval (``encode: 40/100 files (40%), 12.3 s``) and
never a carriage return or cursor code; a terminal gets tqdm's bar, cleared when the work is done. The interval of
the plain lines is ``OMNITOK_PROGRESS_SECONDS`` (default 10 seconds; 0 prints a line per step).
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import Any, Self, TextIO

INTERVAL_VARIABLE = "OMNITOK_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 10.0


class Progress:
    """Counts ``total`` steps of ``what`` (e.g. "encode") in ``unit`` (e.g. "file").

    Args:
        total: how many steps the work has.
        what: the label that starts each line.
        unit: what one step is, singular ("file", "sample").
        stream: where to write (default: ``sys.stderr``); a bar only when it is a terminal.
        interval: seconds between plain lines (default: ``OMNITOK_PROGRESS_SECONDS``, else 10).
        enabled: False writes nothing (library calls that did not ask for progress).
    """

    def __init__(
        self,
        total: int,
        what: str,
        unit: str = "file",
        *,
        stream: TextIO | None = None,
        interval: float | None = None,
        enabled: bool = True,
    ):
        self.total, self.what, self.unit = int(total), what, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = progress_interval() if interval is None else float(interval)
        self.done = 0
        self.enabled = enabled and self.total > 0
        self._start = self._last = time.monotonic()
        self._printed = False
        self._bar: Any = None
        if self.enabled and _is_terminal(self.stream):
            self._bar = _tqdm_bar(self.total, what, unit, self.stream)

    def update(self, steps: int = 1) -> None:
        """``steps`` more steps are done."""
        self.done += steps
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(steps)
            return
        now = time.monotonic()
        if now - self._last >= self.interval and self.done < self.total:
            self._line(now)

    def close(self) -> None:
        """End the bar, or print the last line where earlier lines were printed (short work prints nothing)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._printed:
            self._line(time.monotonic())
        self.enabled = False

    def _line(self, now: float) -> None:
        units = self.unit if self.total == 1 else f"{self.unit}s"
        percent = 100 * self.done // self.total
        self.stream.write(f"{self.what}: {self.done}/{self.total} {units} ({percent}%), {now - self._start:.1f} s\n")
        self.stream.flush()
        self._last, self._printed = now, True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def progress_interval() -> float:
    """Seconds between plain progress lines: ``OMNITOK_PROGRESS_SECONDS``, else 10 (unreadable or negative: 10)."""
    text = os.environ.get(INTERVAL_VARIABLE, "")
    try:
        value = float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 else DEFAULT_INTERVAL


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # a closed or replaced stream
        return False


def _tqdm_bar(total: int, what: str, unit: str, stream: TextIO) -> Any:
    """tqdm's bar (a dependency of huggingface_hub, so present with the core install), or None without it."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=what, unit=unit, file=stream, leave=False, dynamic_ncols=True)
