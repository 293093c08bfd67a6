"""One attempt of one thread: a subprocess in its own session, its output streamed, its whole group stopped.

Stopping means SIGTERM to the process group (and to descendants that escaped it, see `descendants`), then
SIGKILL after the grace period. The same happens when the leader exits on its own, so a `sleep 1000 &` left in
the background does not outlive the run. The attempt ends when the leader has exited and nothing of it is
left; output still held open by some process taskctl cannot attribute is read for `DRAIN` seconds more, no
longer.

The loop sleeps until the next event (output, the leader's exit through a pidfd, a cancel) or timer (deadline,
kill time); every timer is used once, so a moment in the past never makes it spin. While the group empties
after the leader's exit it is checked every `POLL` seconds, as there is no event for "group empty".
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from taskctl.clock import Clock
from taskctl.runner import descendants
from taskctl.runner.capture import CHUNK, LogCapture, LogWriteError

POLL = 0.05  # seconds between checks of an emptying process group
DRAIN = 0.5  # seconds output is still read once the thread's processes are gone
KILL_WAIT = 5.0  # seconds to wait after SIGKILL for processes stuck in the kernel before giving up on them


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


@dataclass(frozen=True)
class AttemptLimits:
    """When an attempt is stopped: at `deadline` (monotonic) for `deadline_reason`, SIGKILL `grace` s
    later."""

    deadline: float | None
    deadline_reason: StopReason
    grace: float


def run_attempt(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    capture: LogCapture,
    clock: Clock,
    cancel: CancelToken,
    limits: AttemptLimits,
    owner: tuple[str, str],
    on_start: Callable[[int], None] | None = None,
    started: subprocess.Popen[bytes] | None = None,
    call_at: tuple[float, Callable[[], None]] | None = None,
) -> AttemptResult:
    """Run `argv` until it and what it started have ended, its deadline passes or `cancel` fires; output goes
    to `capture`. `owner` is (run id, thread): how its escaped descendants are recognised. `started`: `argv`
    already started with `descendants.spawn` (the daemon starts a run's first thread before its
    bookkeeping); this attempt supervises it. `call_at`: (monotonic instant, function) to call then, on this
    thread, if the attempt still runs."""
    if started is not None:
        child = started
    else:
        try:
            child = descendants.spawn(argv, cwd, env, limits.grace)
        except OSError as exc:
            return AttemptResult(error=f"cannot start '{argv[0]}': {exc.strerror or exc}")
    try:
        if on_start is not None:
            on_start(child.pid)
        leftovers = descendants.Leftovers(child.pid, *owner)
        return _Supervisor(child, leftovers, capture, clock, cancel, limits, call_at).run()
    finally:
        descendants.release(child)


class _Supervisor:
    """The event loop of one attempt (see the module docstring)."""

    def __init__(
        self,
        child: subprocess.Popen[bytes],
        leftovers: descendants.Leftovers,
        capture: LogCapture,
        clock: Clock,
        cancel: CancelToken,
        limits: AttemptLimits,
        call_at: tuple[float, Callable[[], None]] | None = None,
    ) -> None:
        self.child = child
        self.call_at = call_at
        self.leftovers = leftovers
        self.capture = capture
        self.clock = clock
        self.cancel = cancel
        self.limits = limits
        self.result = AttemptResult()
        self.leader_done = False
        self.pipe_open = True
        self.logging = True
        self.kill_at: float | None = None  # set by the first SIGTERM
        self.killed = False
        self.next_check = 0.0  # when to look at the emptying group again
        self.gone_at: float | None = None  # when the group and its escaped descendants were found gone

    def run(self) -> AttemptResult:
        assert self.child.stdout is not None
        pipe = self.child.stdout.fileno()
        _enlarge_pipe(pipe)
        selector = selectors.DefaultSelector()
        selector.register(pipe, selectors.EVENT_READ, "pipe")
        selector.register(self.cancel.fileno(), selectors.EVENT_READ, "cancel")
        pidfd: int | None = None
        try:
            pidfd = os.pidfd_open(self.child.pid)
            selector.register(pidfd, selectors.EVENT_READ, "exit")
        except (AttributeError, OSError):
            pidfd = None
        try:
            while True:
                now = self.clock.monotonic()
                self._apply_timers(now)
                if self._finished(now):
                    break
                for key, _ in selector.select(self._timeout(now, poll_leader=pidfd is None)):
                    if key.data == "pipe":
                        self._read(pipe, selector)
                    else:
                        selector.unregister(key.fd)  # a cancel or an exit is seen once; then it is state
                if not self.leader_done and self.child.poll() is not None:
                    self._leader_exited()
        finally:
            selector.close()
            if pidfd is not None:
                os.close(pidfd)
            self.child.stdout.close()
            if self.child.poll() is None:
                _signal_group(self.child.pid, signal.SIGKILL)
                self.child.wait()
        code = self.child.returncode
        if code is not None and code < 0:
            self.result.signal = _signal_name(-code)
        else:
            self.result.exit_code = code
        return self.result

    def _apply_timers(self, now: float) -> None:
        if self.call_at is not None and now >= self.call_at[0]:
            call, self.call_at = self.call_at[1], None
            call()
        if not self.leader_done and self.result.stopped is None:
            if self.cancel.is_set():
                self.capture.note(f"stopping: {self.cancel.reason}")
                self._stop(self.cancel.reason or StopReason.CANCELLED, now)
            elif self.limits.deadline is not None and now >= self.limits.deadline:
                reason = self.limits.deadline_reason
                self.capture.note("timed out" if reason is StopReason.TIMEOUT else "the process timed out")
                self._stop(reason, now)
        if self.kill_at is not None and not self.killed and now >= self.kill_at:
            self.leftovers.stop(signal.SIGKILL)
            self.killed = True
        if self.leader_done and self.gone_at is None and now >= self.next_check:
            if self.leftovers.remaining():
                self.next_check = now + POLL
            else:
                self.gone_at = now

    def _finished(self, now: float) -> bool:
        if not self.leader_done:
            return False
        if self.gone_at is not None:
            return not self.pipe_open or now >= self.gone_at + DRAIN
        if self.killed and self.kill_at is not None and now >= self.kill_at + KILL_WAIT:
            self.capture.note("processes of this thread survived SIGKILL; no longer waiting for them")
            return True
        return False

    def _timeout(self, now: float, poll_leader: bool) -> float | None:
        moments: list[float] = []
        if self.call_at is not None:
            moments.append(self.call_at[0])
        if not self.leader_done:
            if self.result.stopped is None and self.limits.deadline is not None:
                moments.append(self.limits.deadline)
            if poll_leader:
                moments.append(now + POLL)
        if self.kill_at is not None and not self.killed:
            moments.append(self.kill_at)
        if self.leader_done:
            if self.gone_at is None:
                moments.append(self.next_check)
                if self.killed and self.kill_at is not None:
                    moments.append(self.kill_at + KILL_WAIT)
            elif self.pipe_open:
                moments.append(self.gone_at + DRAIN)
        return max(0.0, min(moments) - now) if moments else None

    def _stop(self, reason: StopReason, now: float) -> None:
        self.result.stopped = reason
        self._terminate(now)

    def _terminate(self, now: float, scan: bool = True) -> None:
        if self.kill_at is None:
            self.leftovers.stop(signal.SIGTERM, scan)
            self.kill_at = now + self.limits.grace

    def _leader_exited(self) -> None:
        self.leader_done = True
        now = self.clock.monotonic()
        # anything left in the group (a `cmd &` in the background) goes too; the escaped descendants are
        # found (and get the signal) by the check of the emptying group that follows at once
        self._terminate(now, scan=False)
        self.next_check = now

    def _read(self, pipe: int, selector: selectors.BaseSelector) -> None:
        data = os.read(pipe, CHUNK)
        if not data:
            self.pipe_open = False
            selector.unregister(pipe)
        elif self.logging:
            try:
                self.capture.feed(data)
            except LogWriteError as exc:
                self.logging = False
                self.result.error = str(exc)
                if not self.leader_done and self.result.stopped is None:
                    self._stop(StopReason.LOG_ERROR, self.clock.monotonic())


def _enlarge_pipe(fd: int) -> None:
    """Fewer, larger reads: a 1 MiB pipe instead of 64 KiB (Linux; left as it is elsewhere)."""
    import fcntl

    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setter, CHUNK)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


@contextlib.contextmanager
def cancel_on_signals(
    token: CancelToken, signums: Sequence[int] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
) -> Iterator[list[int]]:
    """While the block runs, these signals cancel `token` instead of ending the process; yields the list of
    signals received. SIGHUP (a closed terminal, a dropped SSH session) is handled like SIGTERM, so the
    threads are stopped and the run recorded rather than left running unsupervised. Main thread only."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        token.cancel()

    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
