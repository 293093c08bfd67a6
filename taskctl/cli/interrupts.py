"""Ctrl-C while `taskctl run` follows its run: the first stops the run and says what it waits for, a second
kills the running thread at once instead of waiting out its kill grace."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskctl.cli.progress import RunDisplay
    from taskctl.config.loader import ResolvedProcess
    from taskctl.runner import CancelToken
    from taskctl.runs import RunRecord, ThreadRecord


@contextlib.contextmanager
def second_ctrl_c_kills(
    token: CancelToken, started: list[RunRecord], definition: ResolvedProcess, display: RunDisplay
) -> Iterator[None]:
    """The first Ctrl-C cancels the run (the handler already installed does that) and says what the run now
    waits for: the running thread gets SIGTERM and its kill grace to exit. A second Ctrl-C kills it at
    once (SIGKILL to its process group and to what escaped it)."""
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        record = started[0] if started else None
        current = record.current if record is not None else None
        if not token.is_set():
            if callable(previous):
                previous(signum, frame)
            _write_now(display, _stopping_message(record, current, definition))
        elif record is not None and current is not None:
            from taskctl.runner.descendants import stop_run_processes

            _write_now(display, f"killing thread {current.name} of run {record.id} now")
            stop_run_processes(record.id, record.child_pgid, grace=0)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stopping_message(
    record: RunRecord | None, current: ThreadRecord | None, definition: ResolvedProcess
) -> str:
    from taskctl.units import format_duration

    if record is None or current is None:
        return "stopping the run"
    grace = next((t.kill_grace for t in definition.threads if t.name == current.name), None)
    wait = f"up to {format_duration(grace)} " if grace is not None else ""
    return (
        f"stopping run {record.id}: thread {current.name} got SIGTERM; waiting {wait}for it to exit "
        "(Ctrl-C again kills it now)"
    )


def _write_now(display: RunDisplay, line: str) -> None:
    """A line on stderr from a signal handler: written to the file descriptor, never into a buffered stream
    the interrupted code may be writing to."""
    with contextlib.suppress(OSError):
        os.write(2, display.clear_sequence() + line.encode() + b"\n")
