"""``--batch-size`` for ``omnitok encode`` and ``decode``: consecutive files of one shape coded in one call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from omnitok.errors import OmnitokError, OutputError
from omnitok.progress import Progress

Item = tuple[int, Tensor, dict]  # (file index, what was read: media [C, ...] or tokens [1, ...], its record)


def run_batches(
    count: int,
    batch_size: int,
    read: Callable[[int], tuple[Tensor, dict]],
    code: Callable[[list[Item]], None],
    path_of: Callable[[int], Path],
    failures: dict[int, str],
    progress: Progress,
) -> None:
    """Read items ``0..count-1`` in order and hand each run of up to ``batch_size`` consecutive items of one shape
    and dtype to ``code``. An item that fails to read, or to code, is recorded in ``failures`` (index -> message
    naming its file); a batch whose coding fails is retried item by item, so each failure names its own file and the
    other files of the batch are still written."""
    pending: list[Item] = []

    def flush() -> None:
        if not pending:
            return
        try:
            code(pending)
        except OmnitokError as err:
            if len(pending) == 1:
                failures[pending[0][0]] = per_file_message(err, path_of(pending[0][0]))
            else:
                for item in pending:
                    try:
                        code([item])
                    except OmnitokError as one:
                        failures[item[0]] = per_file_message(one, path_of(item[0]))
        progress.update(len(pending))
        pending.clear()

    for index in range(count):
        try:
            x, record = read(index)
        except OmnitokError as err:
            failures[index] = per_file_message(err, path_of(index))
            progress.update()
            continue
        if pending and (x.shape != pending[0][1].shape or x.dtype != pending[0][1].dtype):
            flush()
        pending.append((index, x, record))
        if len(pending) == batch_size:
            flush()
    flush()


def per_file_message(err: OmnitokError, path: Path) -> str:
    """A failure line that names the input (once), for the command's summary. Output errors are not the input's
    fault and stop the command instead (re-raised here)."""
    if isinstance(err, OutputError):
        raise err
    return str(err) if str(path) in str(err) else f"{path}: {err}"


def in_order(failures: dict[int, str]) -> list[str]:
    """The failure messages in the order of the files."""
    return [failures[i] for i in sorted(failures)]
