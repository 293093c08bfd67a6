"""`taskctl run`, `history`, `show`, `logs`, `cancel`, `pack` and `thread run`, through the CLI."""

from __future__ import annotations

import io
import json
import os
import random
import re
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from taskctl import store as store_module
from taskctl.cli.main import app
from taskctl.config import load_config
from taskctl.deps import environment_for
from taskctl.runner import RunRequest, open_service
from taskctl.runs import RunId, RunRecord, RunStatus, ThreadStatus, read_run_json, write_run_json
from taskctl.store import Store
from taskctl.workspace import Workspace
from tests.conftest import write

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

THREADS = """\
threads:
  hello:
    code: print('hi there')
  broken:
    command: ['sh', '-c', 'echo oops; exit 3']
  long:
    command: ['sleep', '30']
"""


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    write(empty_workspace.config_dir / "taskctl.yaml", "defaults: {kill_grace: 0.3}\n")
    write(empty_workspace.config_dir / "threads.yaml", THREADS)
    write(
        empty_workspace.config_dir / "processes.yaml", "processes:\n  both:\n    threads: [hello, broken]\n"
    )
    return empty_workspace


def taskctl(ws: Workspace, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--root", str(ws.root), *args])


def only_run(ws: Workspace, process: str) -> Path:
    (folder,) = (ws.root / "process" / process).iterdir()
    return folder


def spawn(ws: Workspace, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "taskctl", "--root", str(ws.root), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def thread_group(run_id: str) -> int | None:
    """The process group of the thread running in `run_id` (its leader carries TASKCTL_RUN_ID)."""
    marker = f"TASKCTL_RUN_ID={run_id}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                pid = int(environ.parent.name)
                if os.getpgid(pid) == pid:
                    return pid
        except (OSError, ValueError):
            continue
    return None


def wait_for_running_thread(ws: Workspace, process: str, timeout: float = 15.0) -> dict[str, object]:
    """The run of `process` once its thread has started: its id, runner pid and the thread's process group."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ws.state_db.exists():
            with Store(ws.state_db) as store:
                for row in store.active(process):
                    group = thread_group(row.id) if row.status is RunStatus.RUNNING else None
                    if group is not None:
                        return {"id": row.id, "child_pgid": group, "pid": row.pid}
        time.sleep(0.05)
    raise AssertionError("the run did not start")


def start_here(ws: Workspace, process: str) -> RunRecord:
    """A run of `process` created as running by this (live) test process, which never executes it."""
    with open_service(ws) as service:
        return service.create(load_config(ws).resolved(process), RunRequest()).record


def group_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == str(group) and fields[0] != "Z":
            return False
    return True


# -- run -------------------------------------------------------------------------------------------


def test_run_streams_the_console_and_exits_0_when_the_run_succeeds(ws: Workspace) -> None:
    result = taskctl(ws, "run", "hello")

    run_id = f"hello/{only_run(ws, 'hello').name}"
    assert result.exit_code == 0
    assert re.search(r"^\S+ hello \| hi there$", result.stdout, re.M)
    assert result.stderr.startswith(f"run {run_id} succeeded in ")


def test_run_exits_1_and_names_the_failed_thread(ws: Workspace) -> None:
    result = taskctl(ws, "run", "both")

    run_id = f"both/{only_run(ws, 'both').name}"
    assert result.exit_code == 1
    assert re.fullmatch(
        rf"run {run_id} failed in \d+\.\ds: thread broken failed \(exit 3\) \(see taskctl logs {run_id}\)\n"
        rf"run folder: process/{run_id}/\n",
        result.stderr,
    )


def test_run_of_an_unknown_process_suggests_the_closest_name(ws: Workspace) -> None:
    result = taskctl(ws, "run", "helo")

    assert (result.exit_code, result.stderr) == (
        1,
        "error: no process or thread named 'helo'; did you mean 'hello'?\n",
    )
    assert not (ws.root / "process").exists()


def test_run_dry_run_prints_the_chain_and_runs_nothing(ws: Workspace) -> None:
    result = taskctl(ws, "run", "both", "--dry-run")

    assert result.exit_code == 0
    assert result.stdout.startswith("process both: 2 thread(s), on_failure stop, timeout none\n")
    assert "\n2/2 broken (command)\n  command: sh -c 'echo oops; exit 3'\n" in result.stdout
    assert "    TASKCTL_STEP=2/2\n" in result.stdout
    assert not (ws.root / "process").exists()


def test_run_dry_run_json_lists_each_thread(ws: Workspace) -> None:
    result = taskctl(ws, "run", "both", "--dry-run", "--json")

    data = json.loads(result.stdout)
    assert [t["name"] for t in data["threads"]] == ["hello", "broken"]
    assert data["threads"][1]["argv"] == ["sh", "-c", "echo oops; exit 3"]


def test_thread_run_runs_one_thread_alone(ws: Workspace) -> None:
    result = taskctl(ws, "thread", "run", "broken")

    assert result.exit_code == 1
    assert read_run_json(only_run(ws, "broken")).threads[0].exit_code == 3


def test_a_run_is_skipped_while_another_runs_unless_forced(ws: Workspace) -> None:
    active = start_here(ws, "hello")

    skipped = taskctl(ws, "run", "hello")
    forced = taskctl(ws, "run", "hello", "--force")

    assert skipped.exit_code == 1
    assert f"skipped: {active.id} still active (overlap: skip); use --force to run anyway." in skipped.stderr
    assert forced.exit_code == 0


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 1), (signal.SIGHUP, 1)],
    ids=["ctrl-c", "sigterm", "sighup (a closed terminal)"],
)
def test_a_signal_cancels_the_run_stops_its_threads_and_exits_130_for_ctrl_c(
    ws: Workspace, signum: int, exit_code: int
) -> None:
    child = spawn(ws, "run", "long")
    data = wait_for_running_thread(ws, "long")

    child.send_signal(signum)

    assert child.wait(timeout=15) == exit_code
    record = read_run_json(only_run(ws, "long"))
    assert (record.status, record.threads[0].status) == (RunStatus.CANCELLED, ThreadStatus.CANCELLED)
    assert group_gone(int(str(data["child_pgid"])))


def test_cancel_from_another_terminal_stops_the_run(ws: Workspace) -> None:
    child = spawn(ws, "run", "long")
    data = wait_for_running_thread(ws, "long")

    result = taskctl(ws, "cancel", "long@latest")

    assert (result.exit_code, result.stdout) == (0, f"run {data['id']} cancelled\n")
    assert child.wait(timeout=15) == 1
    assert group_gone(int(str(data["child_pgid"])))


def test_cancel_of_a_run_whose_runner_died_marks_it_interrupted(ws: Workspace) -> None:
    run = start_here(ws, "long")
    run.pid, run.pid_start = 999_999, 1
    with Store(ws.state_db) as store:
        store.save_run(run)

    result = taskctl(ws, "cancel", run.id)

    assert (result.exit_code, result.stdout) == (
        0,
        f"the runner of {run.id} was gone; marked the run interrupted\n",
    )
    assert read_run_json(run.folder).status is RunStatus.INTERRUPTED


def test_cancel_of_a_process_name_cancels_its_running_run(ws: Workspace) -> None:
    earlier = start_here(ws, "long")  # a finished run of the same process, which NAME must not mean
    earlier.status, earlier.finished = RunStatus.SUCCEEDED, earlier.started
    write_run_json(earlier)
    with Store(ws.state_db) as store:
        store.save_run(earlier)
    child = spawn(ws, "run", "long")
    data = wait_for_running_thread(ws, "long")

    result = taskctl(ws, "cancel", "long")

    assert (result.exit_code, result.stdout) == (0, f"run {data['id']} cancelled\n")
    assert child.wait(timeout=15) == 1


def test_cancel_of_a_process_name_with_several_active_runs_lists_them(ws: Workspace) -> None:
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  pair:\n    threads: [long]\n    overlap: allow\n    max_instances: 2\n",
    )
    first, second = start_here(ws, "pair"), start_here(ws, "pair")

    result = taskctl(ws, "cancel", "pair")

    assert (result.exit_code, result.stderr) == (
        2,
        f"error: process 'pair' has 2 runs queued or running; give one:\n  {first.id} (running)\n  {second.id} (running)\n",
    )


def test_cancel_of_a_process_name_without_an_active_run_names_its_latest(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")

    result = taskctl(ws, "cancel", "hello")

    run_id = f"hello/{only_run(ws, 'hello').name}"
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: process 'hello' has no queued or running run (its latest, {run_id}, succeeded).\n",
    )


def test_cancel_of_a_finished_run_says_so(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")

    result = taskctl(ws, "cancel", "hello@latest")

    run_id = f"hello/{only_run(ws, 'hello').name}"
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: run {run_id} already finished (succeeded); there is nothing to cancel.\n",
    )


def test_detach_prints_the_run_id_and_runs_in_the_background(ws: Workspace) -> None:
    child = spawn(ws, "run", "hello", "--detach")
    out, _ = child.communicate(timeout=15)

    run_id = out.decode().strip()
    folder = ws.root / "process" / run_id
    end = time.monotonic() + 15
    while read_run_json(folder).status is not RunStatus.SUCCEEDED and time.monotonic() < end:
        time.sleep(0.05)
    assert read_run_json(folder).status is RunStatus.SUCCEEDED
    assert "hello | hi there" in (folder / "console.log").read_text()


# -- history / show / logs -------------------------------------------------------------------------


def test_history_lists_runs_newest_first_with_the_failed_thread(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    taskctl(ws, "run", "both")

    result = taskctl(ws, "history")

    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "PROCESS",
        "TRIGGER",
        "STATUS",
        "STARTED",
        "DURATION",
        "FAILED",
        "THREAD",
    ]
    assert lines[2].split()[1:4] == ["both", "manual", "failed"]
    assert lines[2].split()[-1] == "broken"
    assert lines[3].split()[1:4] == ["hello", "manual", "succeeded"]


def test_history_json_filters_by_process_and_status(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    taskctl(ws, "run", "both")

    result = taskctl(ws, "history", "both", "--status", "failed", "--since", "1d", "--json")

    (row,) = json.loads(result.stdout)
    assert row["process"] == "both" and row["status"] == "failed" and row["failed_thread"] == "broken"
    assert row["started"].endswith("Z") and isinstance(row["duration"], float)


def test_history_marks_a_run_whose_runner_was_killed_as_interrupted(ws: Workspace) -> None:
    child = spawn(ws, "run", "long")
    data = wait_for_running_thread(ws, "long")
    child.kill()
    child.wait(timeout=15)

    (row,) = json.loads(taskctl(ws, "history", "--json").stdout)

    assert (row["status"], row["error"]) == (
        "interrupted",
        f"the runner (pid {child.pid}) stopped before the run finished",
    )
    assert group_gone(int(str(data["child_pgid"])))


def test_history_since_takes_a_date_or_a_date_and_time_in_the_workspace_zone(ws: Workspace) -> None:
    write(ws.config_dir / "taskctl.yaml", "timezone: Pacific/Kiritimati\ndefaults: {kill_grace: 0.3}\n")
    taskctl(ws, "run", "hello")
    started = datetime.fromisoformat(json.loads(taskctl(ws, "history", "--json").stdout)[0]["started"])
    local = started.astimezone(ZoneInfo("Pacific/Kiritimati"))  # UTC+14: its date is often not UTC's

    def count(since: str) -> int:
        result = taskctl(ws, "history", "--since", since, "--json")
        assert result.exit_code == 0, result.stderr
        return len(json.loads(result.stdout))

    assert count(f"{local:%Y-%m-%d}") == 1
    assert count(f"{local + timedelta(days=1):%Y-%m-%d}") == 0
    assert count(f"{local - timedelta(minutes=1):%Y-%m-%d %H:%M}") == 1
    assert count(f"{started + timedelta(minutes=1):%Y-%m-%dT%H:%M}Z") == 0


def test_history_says_how_to_see_more_when_the_limit_cuts_it(ws: Workspace) -> None:
    for _ in range(3):
        taskctl(ws, "run", "hello")

    cut = taskctl(ws, "history", "--limit", "2")
    whole = taskctl(ws, "history", "--limit", "3")

    assert len(cut.stdout.splitlines()) == 4
    assert cut.stderr == "(more: --limit 4, or narrow with --since, --status or --tag)\n"
    assert whole.stderr == ""


def test_history_tag_lists_the_runs_of_tagged_processes_and_threads(ws: Workspace) -> None:
    write(
        ws.config_dir / "threads.yaml",
        THREADS.replace("  hello:\n", "  hello:\n    tags: [greet]\n"),
    )
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  both:\n    threads: [hello, broken]\n    tags: [pair]\n",
    )
    for name in ("hello", "both", "broken"):
        taskctl(ws, "run", name)

    def processes(*args: str) -> list[str]:
        result = taskctl(ws, "history", *args, "--json")
        return [row["process"] for row in json.loads(result.stdout)]

    assert processes("--tag", "greet") == ["hello"]
    assert processes("--tag", "greet", "--tag", "pair") == ["both", "hello"]
    assert processes("--tag", "pair", "hello") == []
    misspelt = taskctl(ws, "history", "--tag", "gret")
    assert (misspelt.stdout, misspelt.stderr) == (
        "no runs match\n",
        "warning: no thread or process has the tag 'gret'; did you mean 'greet'?\n",
    )


def test_history_rejects_a_bad_status_a_bad_since_and_an_unknown_process(ws: Workspace) -> None:
    assert taskctl(ws, "history", "--status", "faild").stderr == (
        "error: --status 'faild' is not a run status; did you mean 'failed'?\n"
    )
    assert taskctl(ws, "history", "--since", "7x").exit_code == 2
    result = taskctl(ws, "history", "bothh")
    assert (result.exit_code, result.stderr) == (1, "error: no process named 'bothh'; did you mean 'both'?\n")


def test_history_rebuild_reindexes_run_folders_and_reports_unreadable_ones(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    ws.state_db.unlink()
    broken = write(ws.root / "process" / "hello" / "2020-01-01_00-00-00" / "run.json", "{")

    result = taskctl(ws, "history", "--rebuild", "--json")

    assert result.exit_code == 0
    assert f"warning: {broken} is unreadable:" in result.stderr
    assert "indexed 1 run(s) from process/\n" in result.stderr
    assert [r["process"] for r in json.loads(result.stdout)] == ["hello"]


def test_show_prints_each_thread_and_the_files(ws: Workspace) -> None:
    taskctl(ws, "run", "both")

    result = taskctl(ws, "show", "both@latest")

    assert result.exit_code == 0
    assert re.search(r"^broken\s+failed\s+exit 3\s+", result.stdout, re.M)
    assert re.search(r"^console\.log\s+\d+ B$", result.stdout, re.M)
    data = json.loads(taskctl(ws, "show", "both@latest", "--json").stdout)
    assert data["threads"][1]["exit_code"] == 3
    assert {f["name"] for f in data["files"]} == {"console.log", "hello.log", "broken.log", "run.json"}


def test_a_run_id_prefix_that_matches_several_runs_lists_them(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    taskctl(ws, "run", "hello")
    ids = sorted(f"hello/{p.name}" for p in (ws.root / "process" / "hello").iterdir())

    result = taskctl(ws, "show", "hello/")

    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: 'hello' matches several runs; give more of the id:\n  {ids[0]}\n  {ids[1]}\n"
    )


def test_show_of_a_process_name_shows_its_newest_run_like_logs(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    taskctl(ws, "run", "hello")
    newest = json.loads(taskctl(ws, "history", "hello", "--limit", "1", "--json").stdout)[0]["id"]

    result = taskctl(ws, "show", "hello", "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == newest


def test_show_of_an_unknown_run_suggests_the_closest_process(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")

    result = taskctl(ws, "show", "helo@latest")

    assert (result.exit_code, result.stderr) == (1, "error: no run of 'helo'; did you mean 'hello'?\n")


def test_logs_of_a_process_show_its_newest_run_and_one_thread(ws: Workspace) -> None:
    taskctl(ws, "run", "both")

    everything = taskctl(ws, "logs", "both")
    last = taskctl(ws, "logs", "both", "--thread", "broken", "--tail", "2")

    assert "hello | hi there\n" in everything.stdout and "broken | oops\n" in everything.stdout
    lines = last.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("broken | oops")
    assert lines[1].endswith("broken | [taskctl: broken failed (exit 3)]")


def test_logs_of_an_unknown_thread_names_the_threads_of_the_run(ws: Workspace) -> None:
    taskctl(ws, "run", "both")

    result = taskctl(ws, "logs", "both@latest", "--thread", "helo")

    run_id = f"both/{only_run(ws, 'both').name}"
    assert result.stderr == f"error: no thread in run {run_id} named 'helo'; did you mean 'hello'?\n"


def test_logs_follow_prints_until_the_run_ends(ws: Workspace) -> None:
    write(
        ws.config_dir / "more.yaml",
        "threads:\n  ticks:\n    code: \"import time\\nfor i in range(3): print('tick', i); time.sleep(0.2)\"\n",
    )
    child = spawn(ws, "run", "ticks")
    wait_for_running_thread(ws, "ticks")

    result = taskctl(ws, "logs", "ticks", "--follow")

    child.wait(timeout=15)
    assert [line.split("| ")[1] for line in result.stdout.splitlines()[:3]] == ["tick 0", "tick 1", "tick 2"]
    assert result.stderr.endswith("succeeded\n")


def test_logs_follow_ends_when_the_runner_is_killed(ws: Workspace) -> None:
    child = spawn(ws, "run", "long")
    data = wait_for_running_thread(ws, "long")
    follower = spawn(ws, "logs", str(data["id"]), "--follow")
    time.sleep(0.5)

    child.kill()
    _, err = follower.communicate(timeout=15)

    assert err.decode().endswith(
        f"run {data['id']} interrupted: the runner (pid {child.pid}) stopped before the run finished\n"
    )


# -- on a terminal ---------------------------------------------------------------------------------

PROGRESSING = """\
threads:
  login:
    code: print('in')
  pages:
    code: "print('::progress 1/2', flush=True)\\nprint('done')"
  refuses:
    command: ['sh', '-c', 'echo no; exit 3']
"""


def on_a_terminal(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """taskctl with stdout and stderr on a pseudo-terminal, as in an interactive shell: exit code, screen."""
    import pty
    import select

    leader, follower = pty.openpty()
    inherited = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    environment = {**inherited, "PYTHONPATH": str(REPO), "TERM": "xterm", **(env or {})}
    child = subprocess.Popen(
        [sys.executable, "-m", "taskctl", "--root", str(ws.root), *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    screen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            child.kill()
            raise AssertionError(f"no output for 60 s: {screen!r}")
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: every process holding it is gone
            break
        if not data:
            break
        screen += data
    os.close(leader)
    return child.wait(timeout=30), screen.decode()


@pytest.fixture
def progressing(ws: Workspace) -> Workspace:
    write(ws.config_dir / "threads.yaml", PROGRESSING)
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  chain:\n    threads: [login, pages]\n  failing:\n    threads: [login, refuses]\n",
    )
    return ws


def test_run_on_a_terminal_shows_a_progress_bar_with_the_step_and_colours_the_status(
    progressing: Workspace,
) -> None:
    code, screen = on_a_terminal(progressing, "run", "chain")

    assert code == 0
    assert "[############------------] 2/2 pages 1/2 (50%)" in screen
    assert "1/2 login \x1b[32msucceeded\x1b[0m in " in screen
    assert re.search(r"run chain/\S+ \x1b\[32msucceeded\x1b\[0m in ", screen)


def test_run_on_a_terminal_colours_a_failure_red(progressing: Workspace) -> None:
    code, screen = on_a_terminal(progressing, "run", "failing")

    assert code == 1
    assert "2/2 refuses \x1b[31mfailed\x1b[0m in " in screen and "(exit 3)" in screen


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}], ids=["NO_COLOR", "TERM=dumb"])
def test_run_with_no_color_on_a_terminal_is_plain_text(progressing: Workspace, env: dict[str, str]) -> None:
    code, screen = on_a_terminal(progressing, "run", "chain", env=env)

    assert code == 0
    assert "\x1b" not in screen and "[####" not in screen
    assert "pages | ::progress 1/2" in screen


def test_run_into_a_pipe_is_plain_text(progressing: Workspace) -> None:
    child = spawn(progressing, "run", "chain")
    out, err = child.communicate(timeout=60)

    assert child.returncode == 0
    assert b"\x1b" not in out + err and b"[####" not in err
    assert re.fullmatch(rb"run chain/\S+ succeeded in \S+\nrun folder: process/chain/\S+/\n", err)


def test_logs_follow_on_a_terminal_shows_the_progress_bar(progressing: Workspace) -> None:
    write(
        progressing.config_dir / "more.yaml",
        "threads:\n  slow:\n    code: \"import time\\nprint('::progress 3/4', flush=True)\\ntime.sleep(1)\"\n",
    )
    child = spawn(progressing, "run", "slow")
    data = wait_for_running_thread(progressing, "slow")

    code, screen = on_a_terminal(progressing, "logs", str(data["id"]), "--follow")

    child.wait(timeout=30)
    assert code == 0
    assert "slow | ::progress 3/4" in screen
    assert re.search(r"run slow/\S+ \x1b\[32msucceeded\x1b\[0m", screen)


def test_a_second_ctrl_c_kills_a_thread_that_ignores_sigterm_at_once(ws: Workspace) -> None:
    import select

    write(ws.config_dir / "taskctl.yaml", "defaults: {kill_grace: 120s}\n")
    write(
        ws.config_dir / "more.yaml",
        "threads:\n  stubborn:\n    command: ['sh', '-c', 'trap \"\" TERM; sleep 300']\n",
    )
    child = spawn(ws, "run", "stubborn")
    data = wait_for_running_thread(ws, "stubborn")
    assert child.stderr is not None

    child.send_signal(signal.SIGINT)
    said = b""
    console = ws.root / "process" / str(data["id"]) / "console.log"
    end = time.monotonic() + 30
    while time.monotonic() < end and not (
        b"(Ctrl-C again kills it now)\n" in said and "[taskctl: stopping: cancelled]" in console.read_text()
    ):  # the message, and the runner has sent SIGTERM (as a person's second Ctrl-C comes later)
        if select.select([child.stderr], [], [], 0.2)[0]:
            said += os.read(child.stderr.fileno(), 4096)
    child.send_signal(signal.SIGINT)

    assert child.wait(timeout=60) == 130  # long before the 120 s grace
    said += child.stderr.read()
    assert said.decode().startswith(
        f"stopping run {data['id']}: thread stubborn got SIGTERM; waiting up to 2m00s for it to exit "
        "(Ctrl-C again kills it now)\n"
        f"killing thread stubborn of run {data['id']} now\n"
    )
    thread = read_run_json(only_run(ws, "stubborn")).threads[0]
    assert (thread.status, thread.signal) == (ThreadStatus.CANCELLED, "SIGKILL")
    assert group_gone(int(str(data["child_pgid"])))


# -- pack ------------------------------------------------------------------------------------------


def test_pack_writes_the_whole_run_folder_under_the_run_id(ws: Workspace, tmp_path: Path) -> None:
    taskctl(ws, "run", "hello")
    run_id = f"hello/{only_run(ws, 'hello').name}"

    result = taskctl(ws, "pack", "hello@latest", "-o", str(tmp_path / "out.zip"))

    assert result.exit_code == 0, result.stderr
    names = zipfile.ZipFile(tmp_path / "out.zip").namelist()
    assert any(n.endswith("run.json") and run_id.split("/")[1] in n for n in names)
    assert any(n.endswith("console.log") for n in names)


def test_pack_never_follows_a_symlink_out_of_the_run_folder(ws: Workspace, tmp_path: Path) -> None:
    taskctl(ws, "run", "hello")
    secret = write(tmp_path / "secret.txt", "top secret content")
    (only_run(ws, "hello") / "link.txt").symlink_to(secret)

    result = taskctl(
        ws, "pack", "hello", "--latest", "--format", "tar.gz", "-o", str(tmp_path / "out.tar.gz")
    )

    assert result.exit_code == 0, result.stderr
    with tarfile.open(tmp_path / "out.tar.gz") as archive:
        for member in archive.getmembers():
            if member.isfile():
                content = archive.extractfile(member)
                assert content is not None and b"top secret content" not in content.read()


def test_pack_to_stdout_writes_the_archive_bytes(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")

    result = taskctl(ws, "pack", "hello@latest", "-o", "-")

    assert result.exit_code == 0, result.stderr
    assert zipfile.ZipFile(io.BytesIO(result.stdout_bytes)).namelist()


def test_pack_into_a_missing_folder_is_refused(ws: Workspace, tmp_path: Path) -> None:
    taskctl(ws, "run", "hello")

    result = taskctl(ws, "pack", "hello@latest", "-o", str(tmp_path / "nope" / "out.zip"))

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot write '{tmp_path / 'nope' / 'out.zip'}': the folder '{tmp_path / 'nope'}' does not exist; "
        "create it or choose another -o.\n"
    )


def test_pack_of_a_running_run_is_refused_unless_allowed(ws: Workspace, tmp_path: Path) -> None:
    active = start_here(ws, "long")

    refused = taskctl(ws, "pack", active.id, "-o", str(tmp_path / "a.zip"))
    allowed = taskctl(ws, "pack", active.id, "-o", str(tmp_path / "b.zip"), "--allow-running")

    assert (refused.exit_code, refused.stderr) == (
        1,
        f"error: run {active.id} is still running; wait for it, cancel it, or pass --allow-running.\n",
    )
    assert allowed.exit_code == 0, allowed.stderr


def test_pack_of_a_process_name_packs_its_newest_run(ws: Workspace, tmp_path: Path) -> None:
    taskctl(ws, "run", "hello")
    taskctl(ws, "run", "hello")
    newest = max((ws.root / "process" / "hello").iterdir(), key=lambda p: RunId(f"hello/{p.name}").sort_key())

    result = taskctl(ws, "pack", "hello", "-o", str(tmp_path / "one.zip"))

    assert result.exit_code == 0, result.stderr
    names = zipfile.ZipFile(tmp_path / "one.zip").namelist()
    assert {n.split("/")[1] for n in names} == {newest.name}


def test_pack_without_a_name_packs_the_runs_of_every_process(ws: Workspace, tmp_path: Path) -> None:
    taskctl(ws, "run", "hello")
    taskctl(ws, "run", "both")

    since = taskctl(ws, "pack", "--since", "1d", "-o", str(tmp_path / "all.zip"))
    latest = taskctl(ws, "pack", "--latest", "-o", str(tmp_path / "latest.tar.gz"))
    neither = taskctl(ws, "pack")

    assert since.exit_code == 0, since.stderr
    assert {n.split("/")[0] for n in zipfile.ZipFile(tmp_path / "all.zip").namelist()} == {"hello", "both"}
    assert latest.exit_code == 0, latest.stderr
    with tarfile.open(tmp_path / "latest.tar.gz") as archive:
        assert {n.split("/")[0] for n in archive.getnames()} == {"hello", "both"}
    assert (neither.exit_code, neither.stderr) == (
        2,
        "error: give run ids or a process NAME, or choose runs of every process with --latest or --since "
        "(one of them).\n",
    )


def test_pack_since_a_date_in_the_future_has_nothing_to_pack(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")

    result = taskctl(ws, "pack", "--since", "2999-01-01")

    assert (result.exit_code, result.stderr) == (1, "error: no runs since 2999-01-01 to pack.\n")


def test_pack_names_the_archive_after_the_run_by_default(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    stamp = only_run(ws, "hello").name

    result = taskctl(ws, "pack", "hello@latest")

    assert result.exit_code == 0, result.stderr
    assert Path(f"hello_{stamp}.zip").is_file()


def test_every_run_command_has_help_with_an_example() -> None:
    for command in (["run"], ["history"], ["show"], ["logs"], ["cancel"], ["pack"], ["thread", "run"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout, command


def test_history_shows_start_times_in_the_workspace_zone_like_the_folder_names(ws: Workspace) -> None:
    write(ws.config_dir / "taskctl.yaml", "timezone: America/New_York\ndefaults: {kill_grace: 0.3}\n")
    taskctl(ws, "run", "hello")
    day, clock = only_run(ws, "hello").name.split("_")

    result = taskctl(ws, "history")

    assert f"{day} {clock.replace('-', ':')}" in result.stdout


# -- faults: a run never hangs, never outlives its runner, never loses its outcome ------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_threads_of_a_runner_killed_with_sigkill_do_not_run_on(ws: Workspace) -> None:
    write(
        ws.config_dir / "more.yaml", "threads:\n  pair:\n    command: ['sh', '-c', 'sleep 30 & sleep 30']\n"
    )
    child = spawn(ws, "run", "pair")
    group = int(str(wait_for_running_thread(ws, "pair")["child_pgid"]))

    child.kill()
    child.wait(timeout=15)

    assert wait_until(lambda: group_gone(group), timeout=10)  # with no taskctl command run in between


def test_escaped_descendants_of_a_killed_runner_are_stopped_by_the_next_reader(ws: Workspace) -> None:
    write(
        ws.config_dir / "more.yaml",
        "threads:\n  escaper:\n    command: ['sh', '-c', 'setsid sleep 30 & echo $! > escaped.pid; sleep 30']\n",
    )
    child = spawn(ws, "run", "escaper")
    wait_for_running_thread(ws, "escaper")
    pid_file = only_run(ws, "escaper") / "escaped.pid"
    assert wait_until(lambda: pid_file.is_file() and pid_file.read_text().strip() != "")
    escaped = int(pid_file.read_text())
    child.kill()
    child.wait(timeout=15)

    (row,) = json.loads(taskctl(ws, "history", "--json").stdout)

    assert row["status"] == "interrupted"
    assert wait_until(lambda: gone(escaped), timeout=5)


def gone(pid: int) -> bool:
    """True if `pid` no longer runs (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_thread_interrupted_with_its_runner_keeps_its_duration(ws: Workspace) -> None:
    child = spawn(ws, "run", "long")
    wait_for_running_thread(ws, "long")
    child.kill()
    child.wait(timeout=15)

    data = json.loads(taskctl(ws, "show", "long@latest", "--json").stdout)

    assert data["threads"][0]["status"] == "interrupted"
    assert isinstance(data["threads"][0]["duration"], float)


def test_kill_9_at_any_moment_never_leaves_a_run_that_history_misses_or_that_stays_running(
    ws: Workspace,
) -> None:
    rng = random.Random(20261122)
    runs_dir = ws.root / "process" / "hello"
    started = time.monotonic()
    spawn(ws, "run", "hello").wait(timeout=30)
    lifetime = time.monotonic() - started
    for _ in range(12):  # killed just as its run folder appears: while the run is being created
        before = len(list(runs_dir.iterdir()))
        child = spawn(ws, "run", "hello", "--force")
        wait_until(
            lambda count=before, process=child: (
                len(list(runs_dir.iterdir())) > count or process.poll() is not None
            ),
            timeout=30,
        )
        time.sleep(rng.uniform(0.0, 0.01))
        child.kill()
        child.wait(timeout=15)
    for _ in range(4):  # three at a time, each killed at a random moment of its life
        children = [spawn(ws, "run", "hello", "--force") for _ in range(3)]
        for child in children:
            time.sleep(rng.uniform(0.0, lifetime / 3))
            child.kill()
        for child in children:
            child.wait(timeout=15)

    result = taskctl(ws, "history", "hello", "--json", "--limit", "1000")

    rows = json.loads(result.stdout)
    assert {row["id"] for row in rows} == {f"hello/{folder.name}" for folder in runs_dir.iterdir()}
    assert [row["id"] for row in rows if row["status"] in ("queued", "running")] == []
    for row in rows:
        assert read_run_json(ws.root / "process" / row["id"]).status == row["status"]


def test_history_and_show_work_on_a_full_disk(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    run_id = f"hello/{only_run(ws, 'hello').name}"

    def full_disk() -> None:  # no file may grow: as on a full disk (writes fail with EFBIG, not ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for args, expected in ((["history", "--json"], run_id), (["show", "hello@latest"], "succeeded")):
        result = subprocess.run(
            [sys.executable, "-m", "taskctl", "--root", str(ws.root), *args],
            env=env,
            capture_output=True,
            preexec_fn=full_disk,
            timeout=60,
        )
        assert (result.returncode, result.stderr) == (0, b""), args
        assert expected in result.stdout.decode(), args


def test_run_with_the_index_locked_fails_in_one_sentence_and_creates_nothing(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.2)
    Store(ws.state_db).close()
    holder = sqlite3.connect(ws.state_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = taskctl(ws, "run", "hello")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert (result.exit_code, result.stderr) == (
        1,
        "error: the run index .taskctl/state.db is locked by another process (database is locked); "
        "try again when it has finished.\n",
    )
    assert not (ws.root / "process").exists()


CORRUPT = (
    "error: the run index .taskctl/state.db is damaged (file is not a database); run 'taskctl history "
    "--rebuild' to move it aside and rebuild it from the run folders.\n"
)


def test_a_corrupt_index_names_its_fix_and_history_rebuild_moves_it_aside(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    run_id = f"hello/{only_run(ws, 'hello').name}"
    for suffix in ("-wal", "-shm"):
        Path(f"{ws.state_db}{suffix}").unlink(missing_ok=True)
    ws.state_db.write_bytes(b"not a database at all " * 500)

    for args in (
        ["history"],
        ["show", "hello@latest"],
        ["logs", "hello"],
        ["run", "hello"],
        ["cancel", run_id],
    ):
        result = taskctl(ws, *args)
        assert (result.exit_code, result.stderr) == (1, CORRUPT), args
    rebuilt = taskctl(ws, "history", "--rebuild", "--json")

    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert re.match(r"moved the damaged index to \.taskctl/state\.db\.corrupt-\d{8}-\d{6}\n", rebuilt.stderr)
    assert [row["id"] for row in json.loads(rebuilt.stdout)] == [run_id]
    assert len(list(ws.state_dir.glob("state.db.corrupt-*"))) == 1


class _DiskFillsAfterTheFirstCommit(sqlite3.Connection):
    """The disk fills up once the run has been created: every later write fails as SQLite reports it."""

    commits = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        verb = sql.lstrip().split()[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE", "COMMIT") and _DiskFillsAfterTheFirstCommit.commits >= 1:
            raise sqlite3.OperationalError("database or disk is full")
        if verb == "COMMIT":
            _DiskFillsAfterTheFirstCommit.commits += 1
        return super().execute(sql, *args)


def test_a_run_whose_index_writes_fail_keeps_its_outcome_and_history_shows_it(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(ws.state_db).close()

    def connect(path: Path | str, timeout: float, uri: bool = False) -> sqlite3.Connection:
        factory = sqlite3.Connection if str(path) == ":memory:" else _DiskFillsAfterTheFirstCommit
        return sqlite3.connect(path, timeout=timeout, isolation_level=None, uri=uri, factory=factory)

    monkeypatch.setattr(store_module, "connect", connect)
    result = taskctl(ws, "run", "hello")
    monkeypatch.undo()  # the disk has space again

    assert result.exit_code == 0
    assert result.stderr.count("warning:") == 1
    assert (
        "warning: cannot write the run index .taskctl/state.db: database or disk is full; free some disk space "
        "(run.json in each run folder keeps the record); run.json keeps the run's record, and the next taskctl "
        "command brings the index up to date.\n"
    ) in result.stderr
    assert read_run_json(only_run(ws, "hello")).status is RunStatus.SUCCEEDED
    (row,) = json.loads(taskctl(ws, "history", "--json").stdout)
    assert row["status"] == "succeeded"


def test_deleting_the_index_during_a_run_still_ends_with_the_run_succeeded(ws: Workspace) -> None:
    write(
        ws.config_dir / "more.yaml", "threads:\n  nap:\n    command: ['sh', '-c', 'sleep 1; echo rested']\n"
    )
    child = spawn(ws, "run", "nap")
    wait_for_running_thread(ws, "nap")

    for suffix in ("", "-wal", "-shm"):
        Path(f"{ws.state_db}{suffix}").unlink(missing_ok=True)
    assert "running" in taskctl(ws, "history").stdout  # a new index, rebuilt while the run goes on

    assert child.wait(timeout=15) == 0
    (row,) = json.loads(taskctl(ws, "history", "--json").stdout)
    assert row["status"] == "succeeded"
    assert read_run_json(only_run(ws, "nap")).status is RunStatus.SUCCEEDED


def test_show_of_an_unreadable_run_json_shows_what_the_index_knows(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    run_json = only_run(ws, "hello") / "run.json"
    run_json.write_text("{")

    result = taskctl(ws, "show", "hello@latest")

    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {run_json} is unreadable: ")
    assert result.stderr.endswith("; showing what the run index knows.\n")
    assert re.search(r"^status\s+succeeded$", result.stdout, re.M)


def test_run_json_is_created_with_the_mode_of_any_other_file(ws: Workspace) -> None:
    old = os.umask(0o022)
    try:
        taskctl(ws, "run", "hello")
    finally:
        os.umask(old)

    folder = only_run(ws, "hello")
    assert stat.S_IMODE((folder / "run.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((folder / "console.log").stat().st_mode) == 0o644


def test_runs_of_the_same_second_are_listed_in_their_order_2_before_10(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    record = read_run_json(only_run(ws, "hello"))
    for number in range(2, 12):
        record.id = RunId(f"hello/2026-01-01_00-00-00-{number}")
        record.folder = ws.root / "process" / record.id
        record.folder.mkdir()
        write_run_json(record)
    taskctl(ws, "history", "--rebuild")

    result = taskctl(ws, "show", "hello/2026-01-01")

    shown = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert shown[:3] == [
        "hello/2026-01-01_00-00-00-2",
        "hello/2026-01-01_00-00-00-3",
        "hello/2026-01-01_00-00-00-4",
    ]
    assert shown[8] == "hello/2026-01-01_00-00-00-10"


def test_history_and_show_do_not_wait_on_a_fifo_where_the_settings_file_should_be(ws: Workspace) -> None:
    taskctl(ws, "run", "hello")
    (ws.config_dir / "taskctl.yaml").unlink()
    os.mkfifo(ws.config_dir / "taskctl.yaml")

    for args in (["history"], ["show", "hello@latest"]):
        out, err = spawn(ws, *args).communicate(timeout=30)  # a read of the FIFO would block for ever
        assert b"hello" in out, args
        assert err.startswith(b"warning: config/taskctl.yaml"), err  # said, not silently another zone


# -- thread kinds, environments and the SKU loop from the CLI ---------------------------------------------


def test_dry_run_shows_the_interpreter_the_environment_and_the_kinds(ws: Workspace) -> None:
    write(
        ws.config_dir / "kinds.yaml",
        "threads:\n"
        "  health:\n    func: 'checks:ping'\n    kwargs: {url: 'http://127.0.0.1/'}\n"
        "    requirements: ['tinypkg==1.0']\n"
        "  reviews:\n    type: scraping\n    code: print(1)\n"
        "    input: {skus: {base_sku: B07, stale: 2d}, required: true}\n"
        "    output: {file: results.csv, into_skus: skip}\n",
    )
    config = load_config(ws)
    environment = environment_for(ws, "health", config.threads["health"])
    assert environment is not None

    result = taskctl(ws, "thread", "run", "health", "--dry-run")

    assert result.exit_code == 0
    assert "\n1/1 health (func)\n" in result.stdout
    assert "  calls:   checks:ping\n" in result.stdout
    assert f"  python:  {environment.python}\n" in result.stdout
    assert (
        f"  environment: .taskctl/venvs/{environment.key} (not built yet (built before the first attempt))\n"
        in result.stdout
    )
    assert f"    VIRTUAL_ENV={environment.folder}\n" in result.stdout
    data = json.loads(taskctl(ws, "thread", "run", "health", "--dry-run", "--json").stdout)
    (thread,) = data["threads"]
    assert (thread["kind"], thread["func"], thread["python"]) == (
        "func",
        "checks:ping",
        str(environment.python),
    )
    assert thread["environment"] == {"path": str(environment.folder), "ready": False}

    result = taskctl(ws, "thread", "run", "reviews", "--dry-run")
    assert (
        "  input:   SKU table rows (base_sku B07, stale 2d0h, required) written to reviews.input.csv when the "
        "thread starts\n" in result.stdout
    )
    assert "  output:  results.csv into the SKU table after success (into_skus: skip)\n" in result.stdout
    assert f"  python:  {sys.executable}\n" in result.stdout
    assert not (ws.root / "process").exists()


def test_show_and_history_report_test_counts_sku_imports_and_return_values(ws: Workspace) -> None:
    write(ws.thread_dir("calc") / "calc.py", "def total(*values):\n    return {'total': sum(values)}\n")
    write(ws.config_dir / "calc.yaml", "threads:\n  calc:\n    func: 'calc:total'\n    args: [1, 2, 3]\n")
    assert taskctl(ws, "run", "calc").exit_code == 0

    result = taskctl(ws, "show", "calc@latest")

    assert 'calc: returned {"total": 6}\n' in result.stdout
    assert json.loads(taskctl(ws, "show", "calc@latest", "--json").stdout)["threads"][0]["result"] == {
        "total": 6
    }
    (row,) = json.loads(taskctl(ws, "history", "calc", "--json").stdout)
    assert row["tests"] is None


def test_the_example_writes_the_ratings_it_scrapes_back_into_the_sku_table(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    shop = Workspace(tmp_path / "shop")
    listed = json.loads(taskctl(shop, "sku", "list", "--json").stdout)["skus"]
    assert [(s["sku"], s["rating"]) for s in listed] == [
        ("B07-BLU-L", None),
        ("B07-RED-M", None),
        ("K12-BLK", None),
    ]

    result = taskctl(shop, "run", "example")

    assert result.exit_code == 0, result.stderr
    listed = json.loads(taskctl(shop, "sku", "list", "--json").stdout)["skus"]
    assert [(s["sku"], s["rating"], s["review_count"]) for s in listed] == [
        ("B07-BLU-L", 4.1, 87),
        ("B07-RED-M", 4.5, 120),
        ("K12-BLK", 3.8, 1024),
    ]
    shown = taskctl(shop, "show", "example@latest").stdout
    assert "product_pages: input: 3 rows of the SKU table\n" in shown
    assert "product_pages: results.csv into the SKU table: imported 3 rows: 3 updated\n" in shown
    assert "product_pages: ignored columns (not SKU columns): title, price\n" in shown
    assert "best rated: Shirt red M (4.5)" in (only_run(shop, "example") / "summary.txt").read_text()


# -- missed slots ----------------------------------------------------------------------------------


def test_a_missed_slot_shows_as_skipped_and_has_no_folder_to_show_log_or_pack(ws: Workspace) -> None:
    from datetime import UTC, datetime

    slot = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)
    with open_service(ws) as service:
        run_id = service.record_missed("both", slot, "Europe/Berlin")
    assert run_id == "both/2027-06-01_10-00-00-missed"
    history = taskctl(ws, "history")
    assert "skipped (missed)" in history.stdout

    shown = taskctl(ws, "show", run_id)
    assert (shown.exit_code, shown.stdout.splitlines()[-1]) == (
        0,
        f"{run_id} is a schedule slot that never ran (recorded as missed): it has no run folder, threads or logs.",
    )
    assert "reason    missed" in shown.stdout
    assert json.loads(taskctl(ws, "show", run_id, "--json").stdout)["folder"] is None

    logged = taskctl(ws, "logs", run_id)
    assert (logged.exit_code, logged.stderr) == (
        1,
        f"error: {run_id} is a schedule slot that never ran (recorded as missed): it has no run folder, threads or logs.\n",
    )
    packed = taskctl(ws, "pack", run_id)
    assert (packed.exit_code, packed.stderr) == (
        1,
        f"error: nothing to pack: {run_id} never ran (a missed schedule slot has no run folder).\n",
    )
