"""Executing runs, with real tiny subprocesses: outcomes, signals, timeouts, retries, logs, progress."""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from taskctl.config import LoadedConfig, load_config
from taskctl.deps import environment_for
from taskctl.errors import ConfigError
from taskctl.runner import CancelToken, RunHooks, RunRequest, RunService, chain, open_service
from taskctl.runner.capture import parse_progress
from taskctl.runner.chain import FirstThread
from taskctl.runner.service import CreatedRun, SlotClaim
from taskctl.runs import (
    Progress,
    RunOwner,
    RunRecord,
    RunStatus,
    ThreadStatus,
    Trigger,
    read_run_json,
    write_run_json,
)
from taskctl.store import Store
from taskctl.workspace import Workspace
from tests.conftest import write

FAST = "defaults: {kill_grace: 0.3}\n"


def workspace_with(ws: Workspace, threads: str, processes: str = "", settings: str = FAST) -> Workspace:
    write(ws.config_dir / "taskctl.yaml", settings)
    write(ws.config_dir / "threads.yaml", "threads:\n" + threads)
    if processes:
        write(ws.config_dir / "processes.yaml", "processes:\n" + processes)
    return ws


def run(
    ws: Workspace,
    name: str,
    config: LoadedConfig | None = None,
    cancel: CancelToken | None = None,
    hooks: RunHooks | None = None,
) -> RunRecord:
    """Run `name` now through the run service, as `taskctl run` does."""
    definition = (config or load_config(ws)).resolved(name)
    with open_service(ws) as service:
        return service.run(definition, cancel=cancel, hooks=hooks)


def gone(pid: int) -> bool:
    """True if `pid` no longer runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_thread_that_exits_0_succeeds_and_leaves_its_record_and_logs(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  hello:\n    code: print('hi there')\n")

    record = run(ws, "hello")

    assert record.status is RunStatus.SUCCEEDED
    assert record.folder.parent == ws.root / "process" / "hello"
    data = json.loads((record.folder / "run.json").read_text())
    assert data["id"] == f"hello/{record.folder.name}"
    assert data["status"] == "succeeded"
    assert data["trigger"] == "manual"
    assert data["started"].endswith("Z") and data["finished"].endswith("Z")
    assert data["threads"][0] | {"started": None, "finished": None, "duration": None} == {
        "name": "hello",
        "status": "succeeded",
        "exit_code": 0,
        "signal": None,
        "started": None,
        "finished": None,
        "duration": None,
        "attempts": 1,
        "retries": 0,
        "progress": None,
        "log": "hello.log",
        "error": None,
        "note": None,
        "input_skus": None,
        "skus_import": None,
        "result": None,
        "tests": None,
    }
    assert data["notifications"] == []
    assert data["config_revision"] == load_config(ws).revision
    assert data["user"] and data["host"] and data["pid"] == os.getpid()
    assert "hello | hi there\n" in (record.folder / "console.log").read_text()
    assert "hello | hi there\n" in (record.folder / "hello.log").read_text()


def test_a_thread_that_exits_3_fails_with_its_exit_code(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  bad:\n    command: ['sh', '-c', 'exit 3']\n")

    record = run(ws, "bad")

    assert record.status is RunStatus.FAILED
    assert (record.threads[0].status, record.threads[0].exit_code, record.threads[0].signal) == (
        ThreadStatus.FAILED,
        3,
        None,
    )
    assert record.failed_thread == "bad"


def test_a_death_by_sigkill_is_recorded_as_the_signal_not_an_exit_code(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  killed:\n    command: sh -c 'kill -9 $$'\n")

    record = run(ws, "killed")

    thread = read_run_json(record.folder).threads[0]
    assert (thread.status, thread.exit_code, thread.signal) == (ThreadStatus.FAILED, None, "SIGKILL")


def test_a_script_ignoring_sigterm_is_killed_after_the_grace_period(empty_workspace: Workspace) -> None:
    script = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready')\ntime.sleep(60)\n"
    )
    write(empty_workspace.thread_dir("stubborn") / "main.py", script)
    ws = workspace_with(empty_workspace, "  stubborn:\n    timeout: 0.5s\n")

    record = run(ws, "stubborn")

    thread = record.threads[0]
    assert (record.status, thread.status, thread.signal) == (
        RunStatus.TIMED_OUT,
        ThreadStatus.TIMED_OUT,
        "SIGKILL",
    )
    assert "[taskctl: timed out]" in (record.folder / "console.log").read_text()


def test_a_background_sleep_left_behind_is_gone_after_a_timeout(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        "  leaky:\n    command: ['sh', '-c', 'sleep 1000 & echo $! > sleep.pid; sleep 1000']\n    timeout: 0.5s\n",
    )

    record = run(ws, "leaky")

    assert record.status is RunStatus.TIMED_OUT
    assert gone(int((record.folder / "sleep.pid").read_text()))


def test_a_background_sleep_left_behind_by_a_finished_thread_is_stopped_too(
    empty_workspace: Workspace,
) -> None:
    ws = workspace_with(
        empty_workspace, "  leaky:\n    command: ['sh', '-c', 'sleep 1000 & echo $! > sleep.pid']\n"
    )

    record = run(ws, "leaky")

    assert record.status is RunStatus.SUCCEEDED
    assert gone(int((record.folder / "sleep.pid").read_text()))


CHAIN_THREADS = """\
  first:
    command: ['sh', '-c', 'echo one']
  second:
    command: ['sh', '-c', 'exit 4']
  third:
    command: ['sh', '-c', 'echo three > third.txt']
"""


def test_on_failure_stop_marks_the_threads_after_a_failure_not_run(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        CHAIN_THREADS,
        "  chain:\n    threads: [first, second, third]\n    on_failure: stop\n",
    )

    record = run(ws, "chain")

    assert record.status is RunStatus.FAILED
    assert [t.status for t in record.threads] == [
        ThreadStatus.SUCCEEDED,
        ThreadStatus.FAILED,
        ThreadStatus.NOT_RUN,
    ]
    assert not (record.folder / "third.txt").exists()


def test_on_failure_continue_runs_the_rest_and_the_run_still_fails(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        CHAIN_THREADS,
        "  chain:\n    threads: [first, second, third]\n    on_failure: continue\n",
    )

    record = run(ws, "chain")

    assert record.status is RunStatus.FAILED
    assert [t.status for t in record.threads] == [
        ThreadStatus.SUCCEEDED,
        ThreadStatus.FAILED,
        ThreadStatus.SUCCEEDED,
    ]
    assert (record.folder / "third.txt").read_text() == "three\n"
    assert record.failed_thread == "second"


def test_retries_run_the_thread_again_and_count_the_attempts(empty_workspace: Workspace) -> None:
    flaky = "import pathlib, sys\np = pathlib.Path('tries')\nn = len(p.read_text()) if p.exists() else 0\n"
    flaky += "p.write_text('x' * (n + 1))\nprint('try', n + 1)\nsys.exit(0 if n == 2 else 5)\n"
    write(empty_workspace.thread_dir("flaky") / "main.py", flaky)
    ws = workspace_with(empty_workspace, "  flaky:\n    retries: {count: 3, delay: 0.05s, backoff: 2}\n")

    record = run(ws, "flaky")

    thread = read_run_json(record.folder).threads[0]
    assert (record.status, thread.attempts, thread.retries, thread.exit_code) == (
        RunStatus.SUCCEEDED,
        3,
        2,
        0,
    )
    console = (record.folder / "console.log").read_text()
    assert "[taskctl: attempt 1 of 4]" in console
    assert "[taskctl: attempt 2 of 4 in 0.05s]" in console
    assert "[taskctl: attempt 3 of 4 in 0.1s]" in console
    assert console.count("flaky failed (exit 5)") == 2


def test_a_thread_printing_200_mb_keeps_its_logs_within_the_cap(empty_workspace: Workspace) -> None:
    noisy = (
        "import sys\nline = b'y' * 1023 + b'\\n'\nblock = line * 1024\n"
        "for i in range(200):\n    sys.stdout.buffer.write(block)\nprint('the very end')\n"
    )
    write(empty_workspace.thread_dir("noisy") / "main.py", noisy)
    ws = workspace_with(
        empty_workspace, "  noisy: {}\n", settings="defaults: {kill_grace: 0.3, max_log_size: 1MB}\n"
    )

    record = run(ws, "noisy")

    assert record.status is RunStatus.SUCCEEDED
    for name in ("noisy.log", "console.log"):
        size = (record.folder / name).stat().st_size
        assert 700_000 < size <= 1024 * 1024 + 4096, (name, size)
    text = (record.folder / "noisy.log").read_text()
    assert "of output omitted]" in text
    assert text.rstrip("\n").splitlines()[-2].endswith("noisy | the very end")
    assert not list(record.folder.glob(".*tail*"))


def test_a_huge_line_without_newline_is_cut_into_pieces(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace, "  wide:\n    code: \"import sys; sys.stdout.write('z' * 300000)\"\n"
    )

    record = run(ws, "wide")

    lines = [line for line in (record.folder / "wide.log").read_text().splitlines() if "zzz" in line]
    assert len(lines) == 5
    assert sum(line.count("z") for line in lines) == 300000


def test_progress_lines_are_recorded(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace, "  steps:\n    code: \"print('::progress 3/4'); print('::progress 40%')\"\n"
    )
    write(ws.config_dir / "more.yaml", "threads:\n  counted:\n    code: \"print('::progress 30/40')\"\n")

    assert run(ws, "steps").threads[0].progress == Progress(40.0)
    assert read_run_json(run(ws, "counted").folder).threads[0].progress == Progress(30.0, 40.0)


def test_progress_lines_are_parsed_in_both_forms() -> None:
    assert parse_progress(b"::progress 40/100") == Progress(40.0, 100.0)
    assert parse_progress(b"::progress 12.5%") == Progress(12.5)
    assert parse_progress(b"::progress soon") is None
    assert Progress(40.0, 100.0).text() == "40/100 (40%)"


def test_a_thread_sees_its_environment_and_runs_in_the_run_folder(empty_workspace: Workspace) -> None:
    code = (
        "import os\nfor k in ['TASKCTL_RUN_ID', 'TASKCTL_PROCESS', 'TASKCTL_THREAD', 'TASKCTL_STEP', "
        "'PYTHONUNBUFFERED', 'REGION']:\n    print(k, os.environ[k])\nprint('cwd', os.getcwd())\n"
        "print('dir', os.environ['TASKCTL_RUN_DIR'])\n"
    )
    write(empty_workspace.thread_dir("envy") / "main.py", code)
    ws = workspace_with(
        empty_workspace,
        "  envy:\n    env: {REGION: us}\n  other:\n    code: pass\n",
        "  both:\n    threads: [other, envy]\n",
    )

    record = run(ws, "both")

    log = (record.folder / "envy.log").read_text()
    for expected in (
        f"TASKCTL_RUN_ID {record.id}",
        "TASKCTL_PROCESS both",
        "TASKCTL_THREAD envy",
        "TASKCTL_STEP 2/2",
        "PYTHONUNBUFFERED 1",
        "REGION us",
        f"cwd {record.folder}",
        f"dir {record.folder}",
    ):
        assert expected in log


def test_a_change_to_the_environment_reaches_the_next_run(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace_with(
        empty_workspace, "  peek:\n    code: \"import os; print(os.environ.get('TASKCTL_TEST_REGION'))\"\n"
    )

    monkeypatch.setenv("TASKCTL_TEST_REGION", "us")
    first = run(ws, "peek")
    monkeypatch.setenv("TASKCTL_TEST_REGION", "eu")
    second = run(ws, "peek")
    monkeypatch.delenv("TASKCTL_TEST_REGION")
    third = run(ws, "peek")

    assert " peek | us\n" in (first.folder / "peek.log").read_text()
    assert " peek | eu\n" in (second.folder / "peek.log").read_text()
    assert " peek | None\n" in (third.folder / "peek.log").read_text()


def test_settings_taskctl_made_for_its_own_process_do_not_reach_threads(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import taskctl

    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")
    monkeypatch.setattr(taskctl, "OWN_ENV", {"PYDANTIC_DISABLE_PLUGINS"})
    ws = workspace_with(
        empty_workspace,
        "  peek:\n    code: \"import os; print(os.environ.get('PYDANTIC_DISABLE_PLUGINS'))\"\n",
    )

    record = run(ws, "peek")

    assert " peek | None\n" in (record.folder / "peek.log").read_text()


def test_a_scraping_input_is_copied_into_the_run_folder_and_passed_first(empty_workspace: Workspace) -> None:
    write(empty_workspace.thread_dir("scrape") / "links.csv", "sku,name,link\n")
    write(empty_workspace.thread_dir("scrape") / "main.py", "import sys, os\nprint(sys.argv[1:])\n")
    ws = workspace_with(
        empty_workspace, "  scrape:\n    type: scraping\n    input: links.csv\n    args: ['--pages', '3']\n"
    )

    record = run(ws, "scrape")

    copy = record.folder / "links.csv"
    assert copy.read_text() == "sku,name,link\n"
    assert f"['{copy}', '--pages', '3']" in (record.folder / "scrape.log").read_text()


def test_placeholders_place_the_input_and_the_run_folder(empty_workspace: Workspace) -> None:
    write(empty_workspace.thread_dir("scrape") / "links.csv", "sku\n")
    ws = workspace_with(
        empty_workspace,
        "  scrape:\n    type: scraping\n    input: links.csv\n    command: echo\n    args: ['--in={input}', '{run_dir}']\n",
    )

    record = run(ws, "scrape")

    assert (
        f"--in={record.folder / 'links.csv'} {record.folder}\n" in (record.folder / "scrape.log").read_text()
    )


def test_a_script_deleted_after_validation_fails_with_a_clear_message(empty_workspace: Workspace) -> None:
    write(empty_workspace.thread_dir("gone") / "main.py", "print('x')\n")
    ws = workspace_with(empty_workspace, "  gone: {}\n")
    config = load_config(ws)
    (ws.thread_dir("gone") / "main.py").unlink()

    record = run(ws, "gone", config)

    assert record.status is RunStatus.FAILED
    assert record.threads[0].error == (
        "script threads/gone/main.py does not exist (it was there when the config was checked); restore it"
    )


def test_a_script_that_is_not_python_fails_with_a_clear_message(empty_workspace: Workspace) -> None:
    write(empty_workspace.thread_dir("shell") / "main.py", "#!/bin/sh\necho $((1 + 2))\nfi\n")
    ws = workspace_with(empty_workspace, "  shell: {}\n")

    record = run(ws, "shell")

    assert record.status is RunStatus.FAILED
    error = record.threads[0].error or ""
    assert error.startswith("threads/shell/main.py is not a Python script (line 2:")
    assert error.endswith("fix it or use 'command:'")


def test_an_input_deleted_after_validation_fails_with_a_clear_message(empty_workspace: Workspace) -> None:
    write(empty_workspace.thread_dir("scrape") / "input.csv", "sku\n")
    write(empty_workspace.thread_dir("scrape") / "main.py", "print('x')\n")
    ws = workspace_with(empty_workspace, "  scrape:\n    type: scraping\n    input: input.csv\n")
    config = load_config(ws)
    (ws.thread_dir("scrape") / "input.csv").unlink()

    record = run(ws, "scrape", config)

    assert record.threads[0].error == (
        "input threads/scrape/input.csv does not exist (it was there when the config was checked); restore it"
    )


class _FullDisk:
    """A log file on a disk that fills up after `room` bytes."""

    def __init__(self, path: Path, mode: str, room: list[int]) -> None:
        self._file = open(path, mode)  # noqa: SIM115
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room[0] -= len(data)
        return self._file.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


def test_a_full_disk_while_writing_the_log_fails_the_run_cleanly(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        "  chatty:\n    code: \"import time\\nfor i in range(100000): print('line', i)\"\n  after:\n    code: pass\n",
        "  both:\n    threads: [chatty, after]\n    on_failure: continue\n",
    )
    room = [10_000]

    def opener(path: Path, mode: str) -> BinaryIO:
        return _FullDisk(path, mode, room)  # type: ignore[return-value]

    record = run(ws, "both", hooks=RunHooks(open_log=opener))
    with open_service(ws) as service:
        row = service.store.get(record.id)

    assert record.status is RunStatus.FAILED
    assert "No space left on device" in (record.error or "")
    assert [t.status for t in record.threads] == [ThreadStatus.FAILED, ThreadStatus.NOT_RUN]
    assert read_run_json(record.folder).status is RunStatus.FAILED
    assert row is not None and row.status is RunStatus.FAILED


def test_the_process_timeout_covers_the_whole_chain(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        "  nap:\n    command: ['sleep', '0.3']\n  long:\n    command: ['sleep', '30']\n  never:\n    code: pass\n",
        "  slow:\n    threads: [nap, long, never]\n    timeout: 0.8s\n    on_failure: continue\n",
    )

    record = run(ws, "slow")

    assert record.status is RunStatus.TIMED_OUT
    assert [t.status for t in record.threads] == [
        ThreadStatus.SUCCEEDED,
        ThreadStatus.TIMED_OUT,
        ThreadStatus.NOT_RUN,
    ]


def test_cancelling_a_run_stops_its_thread_and_records_cancelled(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  long:\n    command: ['sleep', '30']\n")
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()

    record = run(ws, "long", cancel=token)

    assert (record.status, record.threads[0].status, record.threads[0].signal) == (
        RunStatus.CANCELLED,
        ThreadStatus.CANCELLED,
        "SIGTERM",
    )


def test_a_process_name_with_unicode_is_rejected_by_the_config(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "processes.yaml", "processes:\n  nächtlich:\n    threads: [job]\n")
    write(empty_workspace.config_dir / "threads.yaml", "threads:\n  job:\n    code: pass\n")

    with pytest.raises(ConfigError) as caught:
        load_config(empty_workspace)

    assert "'nächtlich' is not a valid name" in str(caught.value)


def test_sigterm_to_a_thread_is_recorded_as_sigterm(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  term:\n    command: sh -c 'kill -TERM $$'\n")

    assert run(ws, "term").threads[0].signal == signal.Signals.SIGTERM.name


def test_a_cancel_during_the_timeout_grace_leaves_the_run_timed_out_like_its_thread(
    empty_workspace: Workspace,
) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", "defaults: {kill_grace: 3s}\n")
    write(
        empty_workspace.config_dir / "threads.yaml",
        "threads:\n  stubborn:\n    command: [bash, -c, \"trap '' TERM; sleep 30\"]\n    timeout: 0.5s\n"
        "  after:\n    code: pass\n",
    )
    write(
        empty_workspace.config_dir / "processes.yaml", "processes:\n  both:\n    threads: [stubborn, after]\n"
    )
    token = CancelToken()
    threading.Timer(1.5, token.cancel).start()  # timed out at 0.5 s, killed at 3.5 s: cancelled in between

    record = run(empty_workspace, "both", cancel=token)

    assert (record.status, [t.status for t in record.threads]) == (
        RunStatus.TIMED_OUT,
        [ThreadStatus.TIMED_OUT, ThreadStatus.NOT_RUN],
    )


def test_a_run_json_is_written_at_the_start_at_each_boundary_and_at_the_end(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace_with(
        empty_workspace,
        "  one:\n    code: pass\n  two:\n    code: pass\n  three:\n    code: pass\n",
        "  chain:\n    threads: [one, two, three]\n",
    )
    from taskctl.runner import chain, service

    written: list[str] = []

    def spy(record: RunRecord) -> None:
        written.append(f"{record.status} " + " ".join(str(t.status) for t in record.threads))
        write_run_json(record)

    monkeypatch.setattr(chain, "write_run_json", spy)
    monkeypatch.setattr(service, "write_run_json", spy)

    run(ws, "chain")

    assert written == [
        "running running queued queued",
        "running succeeded running queued",
        "running succeeded succeeded running",
        "succeeded succeeded succeeded succeeded",
    ]


def test_a_run_json_that_cannot_be_written_is_reported_once_and_the_chain_goes_on(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace_with(
        empty_workspace,
        "  one:\n    code: pass\n  two:\n    code: pass\n",
        "  chain:\n    threads: [one, two]\n",
    )
    from taskctl.runner import chain

    def full_disk(record: RunRecord) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(chain, "write_run_json", full_disk)
    warnings: list[str] = []

    record = run(ws, "chain", hooks=RunHooks(on_warning=warnings.append))

    assert [t.status for t in record.threads] == [ThreadStatus.SUCCEEDED, ThreadStatus.SUCCEEDED]
    assert warnings == [f"cannot write {record.folder / 'run.json'}: No space left on device."]
    with open_service(ws) as service:
        row = service.store.get(record.id)
    assert row is not None and (row.status, row.error) == (
        RunStatus.SUCCEEDED,
        "cannot write run.json: No space left on device",
    )


# -- per-thread environments ---------------------------------------------------------------------------


@pytest.mark.usefixtures("offline")
def test_a_thread_with_requirements_runs_in_its_own_environment(empty_workspace: Workspace) -> None:
    probe = (
        "import os, sys, tinypkg\n"
        "print('python', sys.executable)\n"
        "print('venv', os.environ['VIRTUAL_ENV'])\n"
        "print('path', os.environ['PATH'].split(os.pathsep)[0])\n"
        "print('tinypkg', tinypkg.VERSION)\n"
    )
    write(empty_workspace.thread_dir("scrape") / "main.py", probe)
    ws = workspace_with(
        empty_workspace,
        "  scrape:\n    requirements: ['tinypkg==2.0']\n"
        "  tool:\n    command: ['sh', '-c', 'command -v python; echo $VIRTUAL_ENV']\n"
        "    requirements: ['tinypkg==2.0']\n",
        "  both:\n    threads: [scrape, tool]\n",
    )
    config = load_config(ws)
    environment = environment_for(ws, "scrape", config.threads["scrape"])
    assert environment is not None and not environment.ready

    record = run(ws, "both", config)

    assert record.status is RunStatus.SUCCEEDED
    folder = str(environment.folder)
    scrape = (record.folder / "scrape.log").read_text()
    assert f"scrape | python {folder}/bin/python\n" in scrape
    assert f"scrape | venv {folder}\n" in scrape
    assert f"scrape | path {folder}/bin\n" in scrape
    assert "scrape | tinypkg 2.0\n" in scrape
    assert "[taskctl: deps: building environment" in scrape and "[taskctl: deps: environment" in scrape
    tool = (record.folder / "tool.log").read_text()
    assert f"tool | {folder}/bin/python\n" in tool
    assert f"tool | {folder}\n" in tool
    assert "deps: building" not in tool  # the same requirements share the environment built for scrape


@pytest.mark.usefixtures("offline")
def test_requirements_that_cannot_be_installed_fail_the_thread_with_the_installers_words(
    empty_workspace: Workspace,
) -> None:
    ws = workspace_with(
        empty_workspace,
        "  scrape:\n    code: print('never')\n    requirements: ['nosuchpkg==9.9']\n"
        "  after:\n    code: print('after')\n",
        "  both:\n    threads: [scrape, after]\n",
    )

    record = run(ws, "both")

    scrape = record.threads[0]
    assert (record.status, scrape.status, scrape.attempts) == (RunStatus.FAILED, ThreadStatus.FAILED, 0)
    assert scrape.error is not None
    assert scrape.error.startswith("installing the requirements of thread 'scrape' with ")
    assert "nosuchpkg" in scrape.error
    log = (record.folder / "console.log").read_text()
    assert f"[taskctl: {scrape.error}]" in log
    assert "never" not in log
    assert record.threads[1].status is ThreadStatus.NOT_RUN


def test_a_requirement_that_cannot_be_read_fails_the_thread_before_it_starts(
    empty_workspace: Workspace,
) -> None:
    ws = workspace_with(
        empty_workspace, "  scrape:\n    code: print('never')\n    requirements: ['tinypkg>>2']\n"
    )

    record = run(ws, "scrape")

    assert record.threads[0].error is not None
    assert record.threads[0].error.startswith(
        "threads.scrape.requirements[0]: 'tinypkg>>2' is not a valid requirement"
    )
    assert "never" not in (record.folder / "console.log").read_text()


def claimed(ws: Workspace, name: str) -> tuple[RunService, CreatedRun]:
    """A run of `name` claimed for a schedule slot as the daemon claims them (its folder not written yet)."""
    service = RunService(ws, Store(ws.state_db))
    slot = RunRequest(Trigger.SCHEDULE, datetime(2026, 11, 22, 2, 30, tzinfo=UTC), owner=RunOwner.DAEMON)
    [created] = service.claim_slots([SlotClaim(load_config(ws).resolved(name), slot)])
    assert isinstance(created, CreatedRun)
    return service, created


def test_a_first_thread_started_ahead_of_the_records_runs_as_usual(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        "  hello:\n    code: print('hi there')\n    retries: 1\n  after:\n    code: print('then me')\n",
        "  both:\n    threads: [hello, after]\n",
    )
    service, created = claimed(ws, "both")
    definition = load_config(ws).resolved("both")

    first = service.start_first_thread(definition, created.record)
    assert first is not None and created.record.folder.is_dir()
    assert not (created.record.folder / "run.json").exists()  # written after the start
    service.make_folder(definition, created)
    assert read_run_json(created.record.folder).status is RunStatus.RUNNING
    record = service.execute(definition, created.record, first=first)

    assert record.status is RunStatus.SUCCEEDED
    assert [t.status for t in record.threads] == [ThreadStatus.SUCCEEDED, ThreadStatus.SUCCEEDED]
    assert record.threads[0].attempts == 1
    console = (record.folder / "console.log").read_text()
    assert console.index("[taskctl: attempt 1 of 2]") < console.index("hello | hi there")
    assert console.index("hi there") < console.index("then me")
    assert read_run_json(record.folder).status is RunStatus.SUCCEEDED
    service.store.close()


def test_a_run_started_ahead_and_ending_at_once_writes_its_run_json_once(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace_with(empty_workspace, "  quick:\n    command: [echo, done]\n")
    service, created = claimed(ws, "quick")
    definition = load_config(ws).resolved("quick")
    writes: list[RunStatus] = []
    real_write = chain.write_run_json

    def counted(record: RunRecord) -> None:
        writes.append(record.status)
        real_write(record)

    monkeypatch.setattr(chain, "write_run_json", counted)
    first = service.start_first_thread(definition, created.record)
    assert first is not None
    service.make_folder(definition, created, first)
    assert not (created.record.folder / "run.json").exists()
    loaded = service.load(created.record.id)  # `show` meanwhile: what the index has, without a warning
    assert (loaded.record.status, loaded.problem) == (RunStatus.RUNNING, None)
    record = service.execute(definition, created.record, first=first)

    assert record.status is RunStatus.SUCCEEDED
    assert writes == [RunStatus.SUCCEEDED]  # one write, no temporary file replacing an earlier one
    assert read_run_json(record.folder).threads[0].status is ThreadStatus.SUCCEEDED
    service.store.close()


def executed_ahead(ws: Workspace, name: str) -> tuple[RunRecord, list[RunStatus]]:
    """Run `name` as the daemon does (claimed, first thread started ahead, no run.json written) while another
    thread waits for its first run.json: the run's outcome, and the status that first run.json had."""
    service, created = claimed(ws, name)
    definition = load_config(ws).resolved(name)
    first = service.start_first_thread(definition, created.record)
    assert first is not None
    service.make_folder(definition, created, first)
    seen: list[RunStatus] = []
    run_json = created.record.folder / "run.json"

    def watch() -> None:
        while not run_json.exists():
            threading.Event().wait(0.02)
        seen.append(read_run_json(created.record.folder).status)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    record = service.execute(definition, created.record, first=first)
    watcher.join(5)
    service.store.close()
    return record, seen


def test_a_run_started_ahead_and_still_running_writes_its_run_json_a_moment_later(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain, "FIRST_RECORD_DELAY", 0.3)
    ws = workspace_with(empty_workspace, "  slow:\n    command: [sleep, '1.5']\n")

    record, seen = executed_ahead(ws, "slow")

    assert seen == [RunStatus.RUNNING]  # written while it ran, a moment after its start
    assert record.status is RunStatus.SUCCEEDED
    assert read_run_json(record.folder).status is RunStatus.SUCCEEDED


def test_a_run_started_ahead_waiting_to_try_again_has_its_run_json(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace, "  flaky:\n    command: ['false']\n    retries: {count: 1, delay: 1.5}\n"
    )

    record, seen = executed_ahead(ws, "flaky")

    assert seen == [RunStatus.RUNNING]  # written before the wait for the second attempt
    assert record.status is RunStatus.FAILED and record.threads[0].attempts == 2


def test_a_first_thread_needing_work_before_it_starts_is_not_started_ahead(
    empty_workspace: Workspace,
) -> None:
    write(empty_workspace.thread_dir("scrape") / "links.csv", "sku,name,link\n")
    write(empty_workspace.thread_dir("scrape") / "main.py", "print('scraped')\n")
    ws = workspace_with(empty_workspace, "  scrape:\n    type: scraping\n    input: links.csv\n")
    service, created = claimed(ws, "scrape")

    assert service.start_first_thread(load_config(ws).resolved("scrape"), created.record) is None
    service.store.close()


def test_a_thread_started_ahead_is_stopped_when_its_run_fails_before_supervising_it(
    empty_workspace: Workspace,
) -> None:
    ws = workspace_with(empty_workspace, "  sleepy:\n    command: [sleep, '30']\n")
    service, created = claimed(ws, "sleepy")
    definition = load_config(ws).resolved("sleepy")
    first = service.start_first_thread(definition, created.record)
    assert first is not None
    child = first.take()
    assert child is not None
    first = FirstThread(first.plans, child, first.spawned)  # handed back: the run's execution owns it
    pid = child.pid

    def no_logs(path: Path, mode: str) -> BinaryIO:
        raise OSError(errno.EACCES, "Permission denied")

    service.make_folder(definition, created)
    record = service.execute(definition, created.record, hooks=RunHooks(open_log=no_logs), first=first)

    assert record.status is RunStatus.FAILED
    assert "cannot open console.log" in (record.error or "")
    assert gone(pid)
    service.store.close()
