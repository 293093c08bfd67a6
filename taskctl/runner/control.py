"""Whether a run's runner is still there: its pid, its start time (a reused pid is another process), its
host."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@functools.cache
def this_host() -> str:
    """The name runs started here record as their host; only this host may declare their runners dead."""
    return os.uname().nodename  # what socket.gethostname() returns, without importing socket (~3 ms)


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/`pid`/stat after the command name (state first), or None where unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def process_start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None where /proc is missing."""
    return _start_ticks(_proc_stat(pid))


def own_start_ticks() -> tuple[int, int | None]:
    """This process's pid and start time (read once per process)."""
    pid = os.getpid()
    if _own[0] != pid:
        _own[:] = [pid, process_start_ticks(pid)]
    return pid, _own[1]


_own: list[int | None] = [None, None]


def _start_ticks(fields: list[str] | None) -> int | None:
    try:
        return None if fields is None else int(fields[19])
    except (IndexError, ValueError):
        return None


def is_alive(pid: int | None, start_ticks: int | None) -> bool:
    """True if `pid` runs and is the same process that started at `start_ticks` (not a reused pid)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start_ticks is None:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return not Path("/proc").is_dir()
    return _start_ticks(fields) == start_ticks and fields[0] != "Z"


_executing: set[str] = set()  # runs this process is executing now
_executing_lock = threading.Lock()


@contextmanager
def executing(run_id: str) -> Iterator[None]:
    """Mark a run as executed by this process while the block runs (the reaper leaves it alone: a runner
    that runs it records its end itself)."""
    with _executing_lock:
        _executing.add(run_id)
    try:
        yield
    finally:
        with _executing_lock:
            _executing.discard(run_id)


def executing_here(run_id: str) -> bool:
    """True while this process executes the run `run_id`."""
    return run_id in _executing
