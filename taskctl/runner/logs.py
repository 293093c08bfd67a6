"""Reading run logs: the last lines of a file, and following a log while its run goes on."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from taskctl.runner.control import is_alive
from taskctl.runs import RunJsonError, RunRecord, RunStatus, read_run_json


def tail_lines(path: Path, count: int, block: int = 64 * 1024) -> list[bytes]:
    """The last `count` lines of `path` (read backwards in blocks, never the whole file)."""
    if count <= 0 or not path.exists():
        return []
    with path.open("rb") as file:
        end = file.seek(0, os.SEEK_END)
        data = b""
        position = end
        while position > 0 and data.count(b"\n") <= count:
            step = min(block, position)
            position -= step
            file.seek(position)
            data = file.read(step) + data
    lines = data.splitlines(keepends=True)
    return lines[-count:]


def follow(
    path: Path,
    folder: Path,
    start: int = 0,
    poll: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes | RunRecord]:
    """Yield new bytes of `path` from offset `start` as they are written, and the run record whenever it
    changes, until the run in `folder` has finished (or its runner has died: the last record yielded is
    then still `running`) and everything written has been yielded."""
    position = start
    last: RunRecord | None = None
    while True:
        try:
            record: RunRecord | None = read_run_json(folder)
        except RunJsonError:
            record = None
        if record is not None and (last is None or record.to_json() != last.to_json()):
            last = record
            yield record
        if path.exists():
            with path.open("rb") as file:
                file.seek(position)
                while chunk := file.read(64 * 1024):
                    position += len(chunk)
                    yield chunk
        if record is not None and (record.status.finished or _runner_died(record)):
            return
        sleep(poll)


def _runner_died(record: RunRecord) -> bool:
    # only a running run: a queued one may still carry the pid of the `run --detach` that prepared it
    return record.status is RunStatus.RUNNING and not is_alive(record.pid, record.pid_start)
