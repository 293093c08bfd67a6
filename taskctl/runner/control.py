"""Acting on runs from outside their runner: finding them by id, cancelling them, noticing dead runners."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.errors import NotFoundError, TaskctlError, closest, not_found
from taskctl.runs import RunJsonError, RunStatus, ThreadStatus, read_run_json, write_run_json
from taskctl.store import RunRow, Store


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


def mark_interrupted(store: Store, row: RunRow, clock: Clock = SYSTEM_CLOCK) -> None:
    """Record that a run's runner died before finishing it: run.json (if readable) and the index."""
    if row.child_pgid:
        _stop_group(row.child_pgid)
    folder = store.path.parent.parent / "process" / row.id
    error = f"the runner (pid {row.pid}) stopped before the run finished"
    now = clock.now()
    with contextlib.suppress(RunJsonError, OSError):
        record = read_run_json(folder)
        if not record.status.finished:
            record.status = RunStatus.INTERRUPTED
            record.finished = now
            record.error = error
            record.child_pgid = None
            for thread in record.threads:
                if thread.status is ThreadStatus.RUNNING:
                    thread.status = ThreadStatus.INTERRUPTED
                    thread.finished = now
                elif thread.status is ThreadStatus.QUEUED:
                    thread.status = ThreadStatus.NOT_RUN
            write_run_json(record)
            store.save_run(record)
            return
    store.set_status(row.id, RunStatus.INTERRUPTED, now, error)


def reap_dead_runs(store: Store, clock: Clock = SYSTEM_CLOCK) -> list[str]:
    """Mark every queued or running run whose runner has died as interrupted; returns their ids.

    Readers call this so that a runner killed at a bad moment (SIGKILL, a reboot) does not leave its run
    `running` for ever.
    """
    dead = [row for row in store.active() if not is_alive(row.pid, row.pid_start)]
    for row in dead:
        mark_interrupted(store, row, clock)
    return [row.id for row in dead]


def _stop_group(group: int, grace: float = 2.0) -> None:
    """SIGTERM a leftover process group, then SIGKILL if it is still there after `grace`."""
    try:
        os.killpg(group, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def signal_runner(store: Store, row: RunRow) -> bool:
    """Ask the runner of `row` to stop it; False if the runner is gone (the caller decides what then)."""
    store.request_cancel(row.id)
    if row.owner == "daemon":
        return is_alive(row.pid, row.pid_start)  # the daemon watches cancel_requested
    if not is_alive(row.pid, row.pid_start):
        return False
    assert row.pid is not None
    try:
        os.kill(row.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # the runner stopped it and recorded it cancelled
    REQUESTED = "requested"  # the runner was asked and is still stopping it
    INTERRUPTED = "interrupted"  # the runner was gone: the run is now marked interrupted


@dataclass(frozen=True)
class CancelResult:
    run_id: str
    outcome: CancelOutcome
    status: RunStatus


def cancel_run(store: Store, run_id: str, wait: float = 15.0, clock: Clock = SYSTEM_CLOCK) -> CancelResult:
    """Stop a queued or running run: signal its runner, wait up to `wait` seconds for it to record the end."""
    row = store.get(run_id)
    if row is None:
        raise NotFoundError(f"no run with id '{run_id}'.")
    if row.status.finished:
        raise TaskctlError(f"run {run_id} already finished ({row.status}); there is nothing to cancel.")
    if not signal_runner(store, row):
        mark_interrupted(store, row, clock)
        return CancelResult(run_id, CancelOutcome.INTERRUPTED, RunStatus.INTERRUPTED)
    end = time.monotonic() + wait
    while time.monotonic() < end:
        current = store.get(run_id)
        if current is not None and current.status.finished:
            return CancelResult(run_id, CancelOutcome.CANCELLED, current.status)
        time.sleep(0.05)
    return CancelResult(run_id, CancelOutcome.REQUESTED, row.status)


def resolve_run_id(store: Store, text: str, process_dir: Path | None = None) -> str:
    """The run id meant by `text`: an exact id, a unique prefix, or `NAME@latest`.

    Raises NotFoundError (with the closest name) for nothing, and UsageError listing the matches for
    an ambiguous prefix.
    """
    from taskctl.errors import UsageError

    text = text.strip().rstrip("/")
    if text.endswith("@latest"):
        process = text.removesuffix("@latest")
        latest = store.latest_id(process)
        if latest is None:
            raise _unknown_process(store, process, process_dir)
        return latest
    if store.get(text) is not None:
        return text
    if process_dir is not None and "/" in text and (process_dir / text / "run.json").is_file():
        return text  # prepared but not yet in the index (a run starting in the background)
    matches = store.ids_with_prefix(text, limit=11)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        shown = "\n  ".join(matches[:10]) + ("\n  ..." if len(matches) > 10 else "")
        raise UsageError(f"'{text}' matches several runs; give more of the id:\n  {shown}")
    process = text.split("/", 1)[0]
    if "/" in text and process in store.processes():
        raise not_found("run", text, [r.id for r in store.runs(process, limit=200)])
    raise _unknown_process(store, process, process_dir, run_text=text)


def _unknown_process(
    store: Store, process: str, process_dir: Path | None, run_text: str | None = None
) -> NotFoundError:
    known = set(store.processes())
    if process_dir is not None and process_dir.is_dir():
        known.update(p.name for p in process_dir.iterdir() if p.is_dir())
    hint = closest(process, known)
    what = f"run '{run_text}'" if run_text else f"run of '{process}'"
    if hint:
        return NotFoundError(f"no {what}; did you mean '{hint}'?")
    if known:
        return NotFoundError(f"no {what}; processes with runs: {', '.join(sorted(known)[:8])}.")
    return NotFoundError(f"no {what}: nothing has run in this workspace yet.")
