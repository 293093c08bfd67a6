"""One attempt of one thread: a subprocess in its own session, its output streamed, its whole group stopped.

Stopping means SIGTERM to the process group, then SIGKILL after the grace period. The group is also cleaned
up after the leader exits on its own, so a `sleep 1000 &` left in the background does not outlive the run.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from taskctl.clock import Clock
from taskctl.runner.capture import CHUNK, LogCapture, LogWriteError


class StopReason(StrEnum):
    """Why taskctl stopped a thread (or a run) before it ended by itself."""

    CANCELLED = "cancelled"  # `taskctl cancel`, Ctrl-C, or the daemon shutting down
    TIMEOUT = "timeout"  # the thread's timeout
    CHAIN_TIMEOUT = "chain_timeout"  # the process's timeout for the whole chain
    LOG_ERROR = "log_error"  # the logs could not be written


class CancelToken:
    """Asks a running chain to stop. Safe to call from a signal handler; wakes the runner at once (a pipe)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.reason: StopReason | None = None

    def cancel(self, reason: StopReason = StopReason.CANCELLED) -> None:
        if self.reason is None:
            self.reason = reason
        with contextlib.suppress(OSError):
            os.write(self._write, b"x")

    def is_set(self) -> bool:
        return self.reason is not None

    def fileno(self) -> int:
        return self._read

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cancel; True if cancelled."""
        if self.is_set():
            return True
        with selectors.DefaultSelector() as selector:
            selector.register(self._read, selectors.EVENT_READ)
            selector.select(max(0.0, seconds))
        return self.is_set()

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class AttemptResult:
    """How one attempt ended."""

    exit_code: int | None = None
    signal: str | None = None
    stopped: StopReason | None = None
    error: str | None = None  # the process could not start, or its log could not be written


def run_attempt(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    capture: LogCapture,
    clock: Clock,
    cancel: CancelToken,
    deadline: float | None,
    deadline_reason: StopReason,
    grace: float,
    on_start: Callable[[int], None] | None = None,
) -> AttemptResult:
    """Run `argv` until it ends, `deadline` (monotonic) passes or `cancel` fires; output goes to `capture`."""
    try:
        child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            bufsize=0,
        )
    except OSError as exc:
        return AttemptResult(error=f"cannot start '{argv[0]}': {exc.strerror or exc}")
    assert child.stdout is not None
    if on_start is not None:
        on_start(child.pid)
    group = child.pid
    result = AttemptResult()
    pipe = child.stdout.fileno()
    _enlarge_pipe(pipe)
    selector = selectors.DefaultSelector()
    selector.register(pipe, selectors.EVENT_READ, "pipe")
    selector.register(cancel.fileno(), selectors.EVENT_READ, "cancel")
    pidfd: int | None = None
    try:
        pidfd = os.pidfd_open(child.pid)
        selector.register(pidfd, selectors.EVENT_READ, "exit")
    except (AttributeError, OSError):
        pidfd = None
    leader_done = False
    exited = False
    pipe_open = True
    group_gone = False
    kill_at: float | None = None
    killed = False
    logging = True

    def stop(reason: StopReason) -> None:
        nonlocal kill_at
        if result.stopped is None and not leader_done:
            result.stopped = reason
        if kill_at is None:
            _signal_group(group, signal.SIGTERM)
            kill_at = clock.monotonic() + grace

    try:
        while pipe_open or not leader_done or not (group_gone or killed):
            now = clock.monotonic()
            if cancel.is_set() and result.stopped is None and not leader_done:
                capture.note(f"stopping: {cancel.reason}")
                stop(cancel.reason or StopReason.CANCELLED)
            if deadline is not None and now >= deadline and result.stopped is None and not leader_done:
                capture.note(
                    "timed out" if deadline_reason is StopReason.TIMEOUT else "the process timed out"
                )
                stop(deadline_reason)
            if leader_done and not group_gone:
                group_gone = not _group_exists(group)
            if kill_at is not None and not killed and now >= kill_at and not group_gone:
                _signal_group(group, signal.SIGKILL)
                killed = True
            if not pipe_open and leader_done and (group_gone or killed):
                break
            timeout = _next_wakeup(
                now, deadline if result.stopped is None else None, kill_at if not killed else None
            )
            if pidfd is None or (leader_done and not group_gone):
                timeout = 0.05 if timeout is None else min(timeout, 0.05)
            if not pipe_open and leader_done and killed:
                break
            for key, _ in selector.select(timeout):
                if key.data == "pipe":
                    data = os.read(pipe, CHUNK)
                    if not data:
                        pipe_open = False
                        selector.unregister(pipe)
                    elif logging:
                        try:
                            capture.feed(data)
                        except LogWriteError as exc:
                            logging = False
                            result.error = str(exc)
                            stop(StopReason.LOG_ERROR)
                else:
                    selector.unregister(key.fd)
                    exited = exited or key.data == "exit"
            if not leader_done and (exited or pidfd is None) and child.poll() is not None:
                leader_done = True
                # anything left in the group (a `cmd &` in the background) goes too
                if kill_at is None:
                    group_gone = not _signal_group(group, signal.SIGTERM)
                    if not group_gone:
                        kill_at = clock.monotonic() + grace
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
        child.stdout.close()
        if child.poll() is None:
            _signal_group(group, signal.SIGKILL)
            child.wait()
    code = child.returncode
    if code is not None and code < 0:
        result.signal = _signal_name(-code)
    else:
        result.exit_code = code
    return result


def _enlarge_pipe(fd: int) -> None:
    """Fewer, larger reads: a 1 MiB pipe instead of 64 KiB (Linux; left as it is elsewhere)."""
    import fcntl

    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setter, CHUNK)


def _next_wakeup(now: float, *moments: float | None) -> float | None:
    pending = [m - now for m in moments if m is not None]
    return max(0.0, min(pending)) if pending else None


def _signal_group(group: int, signum: int) -> bool:
    """Send `signum` to the process group; False if the group no longer exists."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_exists(group: int) -> bool:
    """True while some process of the group is alive (zombies left to a non-reaping init do not count)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_live_member(group)


def _has_live_member(group: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(group) and fields[0] != "Z":
            return True
    return False


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
