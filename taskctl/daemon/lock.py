"""One daemon per workspace: an exclusive `flock` on `.taskctl/daemon/lock`, a file that holds its pid.

The kernel drops the lock when the daemon dies, however it dies, so a stale file never blocks a restart. The
file descriptor is not inherited by the scripts the daemon runs (close-on-exec), so a script that outlives
the daemon does not keep the workspace locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from taskctl.daemon import daemon_dir
from taskctl.errors import TaskctlError

if TYPE_CHECKING:
    from taskctl.workspace import Workspace

LOCK_FILE = "lock"


class DaemonRunningError(TaskctlError):
    """Another daemon holds the workspace."""


class DaemonLock:
    """The held lock; release it (or leave the `with` block) when the daemon stops."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def release(self) -> None:
        """Let another daemon start. The pid stays in the file; only the lock says a daemon runs."""
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the only descriptor releases the flock
            self._descriptor = None

    def __enter__(self) -> DaemonLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def lock_path(workspace: Workspace) -> Path:
    return daemon_dir(workspace) / LOCK_FILE


def acquire_daemon_lock(workspace: Workspace) -> DaemonLock:
    """Become the workspace's daemon, or raise DaemonRunningError naming the one that is."""
    path = lock_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    # No O_TRUNC: the pid of a running daemon must survive a second daemon opening the file.
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _pid_in(descriptor)
        os.close(descriptor)
        raise DaemonRunningError(
            f"a daemon is already running for {workspace.root} (pid {pid if pid is not None else 'unknown'})."
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return DaemonLock(path, descriptor)


def running_daemon(workspace: Workspace) -> int | None:
    """The pid of the daemon running for `workspace` (0 if it cannot be read), or None if none runs."""
    try:
        descriptor = os.open(lock_path(workspace), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _pid_in(descriptor)
            return pid if pid is not None else 0
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)


def _pid_in(descriptor: int) -> int | None:
    # A daemon writes its pid right after it takes the lock: give it a moment if the file is still empty.
    for _ in range(20):
        text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None
