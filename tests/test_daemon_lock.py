"""One daemon per workspace: the lock, as separate real processes see it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from taskctl.daemon.lock import DaemonRunningError, acquire_daemon_lock, lock_path, running_daemon
from taskctl.workspace import Workspace

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from taskctl.daemon.lock import acquire_daemon_lock
    from taskctl.workspace import Workspace
    lock = acquire_daemon_lock(Workspace(Path(sys.argv[1])))
    print("locked", flush=True)
    time.sleep(60)
    """
)


def hold_lock_elsewhere(ws: Workspace) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ws.root)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline() == "locked\n"
    return child


def test_a_second_daemon_is_refused_with_the_pid_of_the_first(empty_workspace: Workspace) -> None:
    child = hold_lock_elsewhere(empty_workspace)
    try:
        with pytest.raises(DaemonRunningError) as refused:
            acquire_daemon_lock(empty_workspace)
        assert (
            refused.value.message
            == f"a daemon is already running for {empty_workspace.root} (pid {child.pid})."
        )
        assert refused.value.exit_code == 1
        assert running_daemon(empty_workspace) == child.pid
    finally:
        child.kill()
        child.wait()


def test_a_killed_daemon_leaves_a_file_but_no_lock(empty_workspace: Workspace) -> None:
    child = hold_lock_elsewhere(empty_workspace)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert lock_path(empty_workspace).read_text() == f"{child.pid}\n"
    assert running_daemon(empty_workspace) is None
    with acquire_daemon_lock(empty_workspace) as lock:
        assert lock.held
        assert lock_path(empty_workspace).read_text() == f"{os.getpid()}\n"
        assert running_daemon(empty_workspace) == os.getpid()
    assert running_daemon(empty_workspace) is None


def test_no_daemon_ever_means_no_lock_file(empty_workspace: Workspace) -> None:
    assert running_daemon(empty_workspace) is None
    assert not lock_path(empty_workspace).exists()


def test_a_script_started_by_the_daemon_does_not_inherit_the_lock(empty_workspace: Workspace) -> None:
    lock = acquire_daemon_lock(empty_workspace)
    script = subprocess.Popen(["sleep", "30"], close_fds=False)  # inherits every inheritable descriptor
    try:
        lock.release()
        assert running_daemon(empty_workspace) is None
        acquire_daemon_lock(empty_workspace).release()
    finally:
        script.kill()
        script.wait()
