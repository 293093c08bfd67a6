"""Processes that leave a thread's process group end with the thread; a run never hangs on them nor spins."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

from taskctl.config import load_config
from taskctl.runner import CancelToken, descendants, open_service
from taskctl.runs import RunRecord, RunStatus, ThreadStatus
from taskctl.workspace import Workspace
from tests.conftest import write


def workspace_with(ws: Workspace, threads: str) -> Workspace:
    write(ws.config_dir / "taskctl.yaml", "defaults: {kill_grace: 0.5}\n")
    write(ws.config_dir / "threads.yaml", "threads:\n" + threads)
    return ws


def run(ws: Workspace, name: str, cancel: CancelToken | None = None) -> RunRecord:
    with open_service(ws) as service:
        return service.run(load_config(ws).resolved(name), cancel=cancel)


def cpu_seconds() -> float:
    """CPU time of this thread alone (the runner's loop; not its children, not other threads)."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def gone(pid: int, wait: float = 2.0) -> bool:
    """No such process any more (within `wait` seconds); not even a zombie left unreaped by the runner."""
    end = time.monotonic() + wait
    while Path(f"/proc/{pid}").exists() and time.monotonic() < end:
        time.sleep(0.05)
    return not Path(f"/proc/{pid}").exists()


def escaped_pid(record: RunRecord) -> int:
    return int((record.folder / "escaped.pid").read_text())


# `setsid` leaves the thread's process group; the shell waits half a second so that the helper has left before
# the leader exits (without it the run may win the race and stop the helper while still in the group).
DETACHED = """\
  detached:
    command: [bash, -c, "setsid bash -c 'echo $$ > escaped.pid; exec sleep 8' & sleep 0.5; echo done"]
    timeout: 3s
"""


def test_a_detached_grandchild_neither_hangs_the_run_nor_spins_the_cpu(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, DETACHED)
    cpu = cpu_seconds()
    started = time.monotonic()

    record = run(ws, "detached")

    assert time.monotonic() - started < 5  # not the 8 s of the helper, nor the 3 s timeout
    assert cpu_seconds() - cpu < 1.0  # a loop that spins past a deadline burns a whole core
    assert (record.status, record.threads[0].exit_code) == (RunStatus.SUCCEEDED, 0)
    assert "detached | done" in (record.folder / "console.log").read_text()
    assert gone(escaped_pid(record))


def test_a_helper_a_python_script_starts_in_its_own_session_is_stopped_with_its_thread(
    empty_workspace: Workspace,
) -> None:
    write(
        empty_workspace.thread_dir("spawner") / "main.py",
        "import subprocess\n"
        "helper = subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
        "open('escaped.pid', 'w').write(str(helper.pid))\n",
    )
    ws = workspace_with(empty_workspace, "  spawner: {}\n")
    started = time.monotonic()

    record = run(ws, "spawner")

    assert time.monotonic() - started < 10
    assert record.status is RunStatus.SUCCEEDED
    assert gone(escaped_pid(record))


def test_a_timeout_ends_the_run_within_the_grace_while_an_escaped_child_holds_the_output(
    empty_workspace: Workspace,
) -> None:
    ws = workspace_with(
        empty_workspace,
        "  stuck:\n"
        "    command: [bash, -c, \"setsid bash -c 'echo $$ > escaped.pid; exec sleep 30' & sleep 30\"]\n"
        "    timeout: 0.5s\n",
    )
    cpu = cpu_seconds()
    started = time.monotonic()

    record = run(ws, "stuck")

    assert time.monotonic() - started < 8
    assert cpu_seconds() - cpu < 1.0
    assert (record.status, record.threads[0].status) == (RunStatus.TIMED_OUT, ThreadStatus.TIMED_OUT)
    assert gone(escaped_pid(record))


def test_a_cancel_after_the_leader_exited_still_ends_the_run_within_the_kill_grace(
    empty_workspace: Workspace,
) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", "defaults: {kill_grace: 2s}\n")
    write(
        empty_workspace.config_dir / "threads.yaml",
        "threads:\n  stubborn:\n"
        '    command: [bash, -c, "setsid bash -c \'trap \\"\\" TERM; echo $$ > escaped.pid; sleep 30\' & sleep 0.3"]\n',
    )
    token = CancelToken()
    threading.Timer(
        0.8, token.cancel
    ).start()  # the leader has exited; its TERM-proof helper holds the output
    started = time.monotonic()

    record = run(empty_workspace, "stubborn", cancel=token)

    assert time.monotonic() - started < 8  # the grace (2 s) after the leader's exit, not the helper's 30 s
    assert (record.status, record.threads[0].exit_code) == (
        RunStatus.SUCCEEDED,
        0,
    )  # nothing was left to stop
    assert gone(escaped_pid(record))


def test_a_runner_of_two_chains_stops_only_the_escaped_children_of_the_thread_that_ended(
    empty_workspace: Workspace,
) -> None:
    ws = workspace_with(
        empty_workspace,
        "  slow:\n"
        "    command: [bash, -c, \"setsid bash -c 'echo $$ > escaped.pid; exec sleep 30' & sleep 3\"]\n"
        "  quick:\n"
        "    command: [bash, -c, \"setsid bash -c 'echo $$ > escaped.pid; exec sleep 30' & sleep 0.5\"]\n",
    )
    records: dict[str, RunRecord] = {}
    slow = threading.Thread(target=lambda: records.setdefault("slow", run(ws, "slow")))
    slow.start()
    time.sleep(0.5)  # as the daemon does: two chains at once in one process

    records["quick"] = run(ws, "quick")
    slow_helper = int(next((ws.root / "process" / "slow").glob("*/escaped.pid")).read_text())

    assert gone(escaped_pid(records["quick"]))
    assert not gone(
        slow_helper, wait=0
    )  # the slow thread is still running: its helper is not the quick one's
    slow.join(timeout=30)
    assert gone(slow_helper)
    assert records["slow"].status is records["quick"].status is RunStatus.SUCCEEDED


def test_spawns_run_together_and_a_scan_waits_until_they_are_done() -> None:
    lock = descendants._SpawnLock()
    events: list[str] = []
    both_spawning = threading.Barrier(3, timeout=10)
    release = threading.Event()

    def spawn(name: str) -> None:
        with lock.spawn():
            both_spawning.wait()  # passes only if two spawns hold the lock at once
            release.wait(10)
            events.append(f"{name} done")

    def scan() -> None:
        with lock.scan():
            events.append("scan")

    spawners = [threading.Thread(target=spawn, args=(name,)) for name in ("a", "b")]
    for thread in spawners:
        thread.start()
    both_spawning.wait()
    scanner = threading.Thread(target=scan)
    scanner.start()
    scanner.join(0.2)
    assert events == []  # the scan waits for the spawns in progress
    release.set()
    for thread in [*spawners, scanner]:
        thread.join(10)

    assert sorted(events[:2]) == ["a done", "b done"]
    assert events[2:] == ["scan"]


def test_the_death_watch_file_holds_the_groups_left_after_many_threads_change_them() -> None:
    watch = descendants._DeathWatch()
    groups = [[4_000_000 + 100 * worker + n for n in range(40)] for worker in range(8)]

    def churn(mine: list[int]) -> None:
        for group in mine:
            watch.add(group, 2.5)
        for group in mine[1:]:
            watch.remove(group)

    threads = [threading.Thread(target=churn, args=(mine,)) for mine in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert watch._file is not None and watch._watcher is not None
    grace, *left = os.pread(watch._file, 4096, 0).decode().split()

    assert grace == "3" and sorted(map(int, left)) == [mine[0] for mine in groups]
    for mine in groups:
        watch.remove(mine[0])
    assert os.pread(watch._file, 4096, 0).decode().split() == ["1"]
    assert watch._pipe is not None
    os.close(watch._pipe)  # as when the runner dies: the watcher finds no group and ends
    assert watch._watcher.wait(10) == 0
    os.close(watch._file)
