"""`taskctl daemon` as a real process against a temporary workspace: runs, reloads, cancels, crashes, stops.

Schedules are `every 1 seconds`, so the tests wait on what the daemon did (rows in the run index, lines in
its log, its status) with generous timeouts, never on how fast it did it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from taskctl.runs import RunStatus, Trigger
from taskctl.store import RunRow, Store
from taskctl.workspace import Workspace
from tests.conftest import write

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")

SETTINGS = "timezone: Europe/Berlin\ndefaults: {kill_grace: 0.5}\ndaemon: {shutdown_grace: 30s}\n"
THREADS = """\
threads:
  hello: {code: "import time; print('hello at', repr(time.time()))"}
  nap: {code: "import os, time; open(os.environ['TASKCTL_RUN_DIR'] + '/pid', 'w').write(str(os.getpid())); print('::progress 40/100', flush=True); time.sleep(300)"}
"""


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows(ws: Workspace, process: str | None = None) -> list[RunRow]:
    if not ws.state_db.exists():
        return []
    with Store(ws.state_db) as store:
        return store.runs(process, limit=None)


def cli(ws: Workspace, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskctl", "--root", str(ws.root), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=timeout,
    )


class Daemon:
    """A `taskctl daemon` child process; its stderr goes to a file the test reads."""

    def __init__(self, ws: Workspace, env: dict[str, str] | None = None) -> None:
        self.ws = ws
        self.log_path = ws.root / f"daemon-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "taskctl", "--root", str(ws.root), "daemon"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        wait_for(f"'{text}' in the daemon's log", lambda: text in self.log, timeout)

    def stop(self, number: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(number)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self._log.close()


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    write(empty_workspace.config_dir / "taskctl.yaml", SETTINGS)
    write(empty_workspace.config_dir / "threads.yaml", THREADS)
    write(
        empty_workspace.config_dir / "processes.yaml",
        "processes:\n  ping: {threads: [hello], schedule: every 1 seconds}\n",
    )
    return empty_workspace


@pytest.fixture
def daemons(ws: Workspace) -> Iterator[list[Daemon]]:
    """Daemons started by a test; any still alive at its end are killed."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


def start(ws: Workspace, daemons: list[Daemon], env: dict[str, str] | None = None) -> Daemon:
    daemon = Daemon(ws, env)
    daemons.append(daemon)
    daemon.wait_for_log("config revision")
    return daemon


def succeeded(ws: Workspace, process: str) -> list[RunRow]:
    return [row for row in rows(ws, process) if row.status is RunStatus.SUCCEEDED]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


# --- runs --------------------------------------------------------------------------------------------


def test_every_second_schedules_make_runs_each_in_its_slot(ws: Workspace, daemons: list[Daemon]) -> None:
    daemon = start(ws, daemons)
    done = wait_for("three runs of ping", lambda: len(succeeded(ws, "ping")) >= 3 and succeeded(ws, "ping"))
    for row in done:
        assert row.trigger is Trigger.SCHEDULE
        assert row.scheduled_for is not None and row.scheduled_for.microsecond == 0
        console = (ws.run_folder(row.id) / "console.log").read_text()
        assert "hello at" in console
        # claimed ahead of its slot, but started at it, never before: the thread reads the slot's second
        thread_started = float(console.split("hello at ")[1].split()[0])
        assert thread_started >= row.scheduled_for.timestamp()
        assert row.started >= row.scheduled_for
    assert daemon.stop() == 0
    assert "taskctl daemon stopped" in daemon.log


def test_a_second_daemon_is_refused(ws: Workspace, daemons: list[Daemon]) -> None:
    first = start(ws, daemons)
    second = cli(ws, "daemon")
    assert (second.returncode, second.stderr) == (
        1,
        f"error: a daemon is already running for {ws.root} (pid {first.process.pid}).\n",
    )


def test_one_slot_gets_one_row_across_a_restart_and_none_is_lost(
    ws: Workspace, daemons: list[Daemon]
) -> None:
    first = start(ws, daemons)
    wait_for("two runs", lambda: len(succeeded(ws, "ping")) >= 2)
    assert first.stop() == 0
    second = start(ws, daemons)
    count = len(rows(ws, "ping"))
    wait_for("two more runs", lambda: len(succeeded(ws, "ping")) >= count + 2)
    assert second.stop() == 0
    slots = sorted(row.scheduled_for for row in rows(ws, "ping") if row.scheduled_for is not None)
    assert max(Counter(slots).values()) == 1
    seconds = [int(slot.timestamp()) for slot in slots]
    assert seconds == list(range(seconds[0], seconds[-1] + 1))  # each second ran or was recorded missed
    missed = [row for row in rows(ws, "ping") if not row.has_folder]
    assert all(row.status is RunStatus.SKIPPED and (row.error or "").startswith("missed") for row in missed)


# --- reloads ------------------------------------------------------------------------------------------


def status_json(ws: Workspace) -> dict[str, object]:
    result = cli(ws, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_bad_edit_keeps_the_old_schedule_and_shows_the_error_until_fixed(
    ws: Workspace, daemons: list[Daemon]
) -> None:
    daemon = start(ws, daemons)
    revision = status_json(ws)["daemon"]["config_revision"]  # type: ignore[index]
    processes = ws.config_dir / "processes.yaml"
    processes.write_text("processes:\n  ping: {threads: [hello], schedule: evry 1 seconds}\n")
    daemon.wait_for_log("config rejected")
    status = wait_for("the error in status", lambda: (s := status_json(ws))["daemon"]["config_errors"] and s)  # type: ignore[index]
    assert status["daemon"]["config_revision"] == revision  # type: ignore[index]
    assert status["daemon"]["config_errors"] == [  # type: ignore[index]
        "config/processes.yaml:2: processes.ping.schedule[0]: 'evry 1 seconds' is not a schedule (try 'every 1 seconds')"
    ]
    text = cli(ws, "status").stdout
    assert f"the config on disk is invalid; the daemon keeps revision {revision}" in text
    count = len(succeeded(ws, "ping"))
    wait_for("ping to go on running", lambda: len(succeeded(ws, "ping")) >= count + 2)

    processes.write_text("processes:\n  pong: {threads: [hello], schedule: every 1 seconds}\n")
    wait_for("pong to run", lambda: succeeded(ws, "pong"))
    status = status_json(ws)
    assert status["daemon"]["config_errors"] == []  # type: ignore[index]
    assert status["daemon"]["config_revision"] != revision  # type: ignore[index]
    assert "- process ping: removed" in daemon.log
    assert cli(ws, "plan").stdout.splitlines()[1] == "no changes"


def test_an_edit_saved_by_rename_is_picked_up(ws: Workspace, daemons: list[Daemon]) -> None:
    daemon = start(ws, daemons)
    temporary = ws.config_dir / ".processes.yaml.swp"
    temporary.write_text(
        "processes:\n  ping: {threads: [hello], schedule: every 1 seconds}\n"
        "  pong: {threads: [hello], schedule: every 1 seconds}\n"
    )
    os.replace(temporary, ws.config_dir / "processes.yaml")
    daemon.wait_for_log("+ process pong: added")
    wait_for("pong to run", lambda: succeeded(ws, "pong"))


def test_an_invalid_config_at_start_schedules_nothing_and_a_fix_applies_it(
    ws: Workspace, daemons: list[Daemon]
) -> None:
    (ws.config_dir / "processes.yaml").write_text("processes:\n  ping: {threads: [nobody]}\n")
    daemon = Daemon(ws)
    daemons.append(daemon)
    daemon.wait_for_log("nothing is scheduled until fixed")
    status = cli(ws, "status")
    assert "config    none applied: nothing is scheduled" in status.stdout
    (ws.config_dir / "processes.yaml").write_text(
        "processes:\n  ping: {threads: [hello], schedule: every 1 seconds}\n"
    )
    wait_for("ping to run", lambda: succeeded(ws, "ping"))
    assert daemon.stop() == 0


# --- cancel, crash, stop ----------------------------------------------------------------------------


def naps(ws: Workspace, *names: str) -> None:
    entries = "".join(f"  {name}: {{threads: [nap], schedule: every 1 seconds}}\n" for name in names)
    (ws.config_dir / "processes.yaml").write_text(f"processes:\n{entries}")


def running(ws: Workspace, process: str) -> RunRow | None:
    for row in rows(ws, process):
        if row.status is RunStatus.RUNNING and (ws.run_folder(row.id) / "pid").exists():
            return row
    return None


def _with_progress(status: str) -> str | None:
    return status if "40/100 (40%)" in status else None


def test_cancel_of_a_daemon_run_stops_it(ws: Workspace, daemons: list[Daemon]) -> None:
    naps(ws, "sleepy")
    start(ws, daemons)
    row = wait_for("sleepy to run", lambda: running(ws, "sleepy"))
    # the thread's progress line is read a moment after it started
    status = wait_for("its progress in status", lambda: _with_progress(cli(ws, "status").stdout))
    assert row.id in status and "nap" in status
    # its next slots are skipped (overlap: skip), each recorded at its instant, not before it
    skipped = wait_for(
        "a skipped slot", lambda: [r for r in rows(ws, "sleepy") if r.status is RunStatus.SKIPPED]
    )
    assert skipped[0].scheduled_for is not None and skipped[0].started >= skipped[0].scheduled_for
    assert skipped[0].error is not None and row.id in skipped[0].error
    result = cli(ws, "cancel", row.id)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"run {row.id} cancelled\n", "")
    pid = int((ws.run_folder(row.id) / "pid").read_text())
    wait_for("the thread to be gone", lambda: not alive(pid))


def test_kill_9_during_a_run_then_restart_marks_it_interrupted_and_leaves_nothing(
    ws: Workspace, daemons: list[Daemon]
) -> None:
    naps(ws, "sleepy")
    first = start(ws, daemons)
    row = wait_for("sleepy to run", lambda: running(ws, "sleepy"))
    pid = int((ws.run_folder(row.id) / "pid").read_text())
    first.kill()
    second = start(ws, daemons)
    second.wait_for_log(f"run {row.id} was left unfinished by a runner that died: now interrupted")
    (after,) = [r for r in rows(ws, "sleepy") if r.id == row.id]
    assert after.status is RunStatus.INTERRUPTED
    wait_for("the thread to be gone", lambda: not alive(pid))


def test_sigterm_with_two_running_chains_cancels_both_after_the_grace_and_exits_0(
    ws: Workspace, daemons: list[Daemon]
) -> None:
    (ws.config_dir / "taskctl.yaml").write_text(SETTINGS.replace("30s", "1s"))
    naps(ws, "one", "two")
    daemon = start(ws, daemons)
    first = wait_for("one to run", lambda: running(ws, "one"))
    second = wait_for("two to run", lambda: running(ws, "two"))
    assert daemon.stop(signal.SIGTERM) == 0
    statuses = {row.id: row.status for row in rows(ws) if row.id in (first.id, second.id)}
    assert statuses == {first.id: RunStatus.CANCELLED, second.id: RunStatus.CANCELLED}
    assert "stopping (SIGTERM)" in daemon.log
    assert not [row for row in rows(ws) if not row.status.finished]


# --- systemd ------------------------------------------------------------------------------------------


def test_systemd_hears_ready_reloading_watchdog_and_stopping(
    ws: Workspace, daemons: list[Daemon], tmp_path: Path
) -> None:
    address = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(60)
    heard: list[str] = []

    def hear(prefix: str) -> str:
        while True:
            message = listener.recv(4096).decode()
            heard.append(message)
            if message.startswith(prefix):
                return message

    try:
        daemon = start(ws, daemons, {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
        assert hear("READY=1").startswith("READY=1\nSTATUS=revision ")
        assert hear("WATCHDOG=1") == "WATCHDOG=1"
        daemon.process.send_signal(signal.SIGHUP)
        reloading = hear("RELOADING=1").split("\n")
        assert (
            reloading[1].startswith("MONOTONIC_USEC=")
            and reloading[1].removeprefix("MONOTONIC_USEC=").isdigit()
        )
        hear("READY=1")
        assert daemon.stop() == 0
        assert hear("STOPPING=1").startswith("STOPPING=1")
    finally:
        listener.close()
    assert "reloading (SIGHUP)" in " ".join(heard)


# --- overlap and retention ----------------------------------------------------------------------------


def test_a_queued_run_waits_without_a_worker_and_starts_when_the_run_ahead_ends(
    ws: Workspace, daemons: list[Daemon]
) -> None:
    (ws.config_dir / "processes.yaml").write_text(
        "processes:\n  sleepy: {threads: [nap], schedule: every 1 seconds, overlap: queue}\n"
    )
    daemon = start(ws, daemons)
    first = wait_for("sleepy to run", lambda: running(ws, "sleepy"))
    queued = wait_for(
        "a queued run", lambda: next((r for r in rows(ws, "sleepy") if r.status is RunStatus.QUEUED), None)
    )
    wait_for(
        "a later slot to be skipped", lambda: any(r.status is RunStatus.SKIPPED for r in rows(ws, "sleepy"))
    )
    assert [r.id for r in rows(ws, "sleepy") if r.status is RunStatus.QUEUED] == [queued.id]  # at most one
    assert cli(ws, "cancel", first.id).returncode == 0
    wait_for(
        "the queued run to start", lambda: (r := running(ws, "sleepy")) is not None and r.id == queued.id
    )
    daemon.wait_for_log(f"run {queued.id} started: the runs ahead of it have ended")


def test_retention_is_applied_after_each_run(ws: Workspace, daemons: list[Daemon]) -> None:
    (ws.config_dir / "taskctl.yaml").write_text(SETTINGS + "retention: {keep_runs: 2}\n")
    daemon = start(ws, daemons)

    def folders() -> int:
        runs = ws.root / "process" / "ping"
        return len(list(runs.iterdir())) if runs.is_dir() else 0

    wait_for("five runs", lambda: daemon.log.count(" succeeded after ") >= 5)
    wait_for("retention to keep two finished runs", lambda: folders() <= 3)
    assert "retention: removed" in daemon.log
