"""Notifications of real runs against a webhook receiver on loopback: which events, and where the outcomes
are recorded (console log, run.json, `show`), including outcomes that arrive after the run has ended."""

from __future__ import annotations

import json
import threading

from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.config import load_config
from taskctl.runner import RunRequest, open_service
from taskctl.runner.notices import pending_deliveries
from taskctl.runner.service import wait_for_all_notifications
from taskctl.runs import RunRecord, RunStatus, read_run_json
from taskctl.workspace import Workspace
from tests.conftest import write
from tests.webhooks import Hook

runner = CliRunner()


HELLO = "  hello:\n    code: print('hi')\n"
NIGHTLY = "  nightly:\n    threads: [hello]\n    notify: [ops]\n"


def notifying(ws: Workspace, url: str, on: str, threads: str = HELLO, processes: str = NIGHTLY) -> Workspace:
    write(
        ws.config_dir / "taskctl.yaml",
        f"defaults: {{kill_grace: 0.3}}\nnotify:\n  ops:\n    url: {url}\n    on: {on}\n"
        f"  quiet:\n    url: {url}/quiet\n    on: [success]\n",
    )
    write(ws.config_dir / "threads.yaml", "threads:\n" + threads)
    write(ws.config_dir / "processes.yaml", "processes:\n" + processes)
    return ws


def run(ws: Workspace, name: str, request: RunRequest | None = None) -> tuple[RunRecord, bool]:
    """A run through the service; whether its deliveries were all done within 30 s."""
    with open_service(ws) as service:
        record = service.run(load_config(ws).resolved(name), request)
        return record, service.wait_for_notifications(30)


def events(hook: Hook) -> list[tuple[str, str]]:
    return [(r["path"], r["json"]["event"]) for r in hook.received]


def test_start_and_success_are_posted_and_recorded_in_the_log_and_run_json(
    empty_workspace: Workspace, hook: Hook
) -> None:
    ws = notifying(
        empty_workspace,
        hook.url,
        "[start, success]",
    )

    record, done = run(ws, "nightly")

    assert done and record.status is RunStatus.SUCCEEDED
    assert sorted(events(hook)) == [("/hook", "start"), ("/hook", "success")]
    success = next(r["json"] for r in hook.received if r["json"]["event"] == "success")
    assert (success["run_id"], success["status"], success["workspace"]) == (record.id, "succeeded", "ws")
    assert "hello | hi" in success["log_tail"][0]
    recorded = read_run_json(record.folder).notifications
    assert sorted((n["event"], n["delivered"], n["status"], n["attempts"]) for n in recorded) == [
        ("start", True, 204, 1),
        ("success", True, 204, 1),
    ]
    log = (record.folder / "console.log").read_text()
    assert "taskctl | [notify ops (127.0.0.1): start delivered (HTTP 204), 1 attempt]\n" in log
    assert "taskctl | [notify ops (127.0.0.1): success delivered (HTTP 204), 1 attempt]\n" in log


def test_a_retried_attempt_is_a_failure_and_the_last_one_a_final_failure(
    empty_workspace: Workspace, hook: Hook
) -> None:
    ws = notifying(
        empty_workspace,
        hook.url,
        "[failure, final_failure]",
        "  flaky:\n    command: ['sh', '-c', 'echo nope; exit 4']\n    retries: 1\n",
        "  nightly:\n    threads: [flaky]\n    notify: [ops, quiet]\n",
    )

    record, done = run(ws, "nightly")

    assert done and record.status is RunStatus.FAILED
    assert sorted(events(hook)) == [("/hook", "failure"), ("/hook", "final_failure")]
    retried, final = sorted((r["json"] for r in hook.received), key=lambda p: p["event"])
    assert (retried["status"], retried["failed_thread"], retried["exit_code"]) == ("running", "flaky", 4)
    assert (final["status"], final["failed_thread"], final["exit_code"]) == ("failed", "flaky", 4)
    assert sorted(n["event"] for n in read_run_json(record.folder).notifications) == [
        "failure",
        "final_failure",
    ]


def test_a_run_skipped_by_its_overlap_policy_is_a_missed_slot(empty_workspace: Workspace, hook: Hook) -> None:
    ws = notifying(
        empty_workspace,
        hook.url,
        "[missed]",
    )
    definition = load_config(ws).resolved("nightly")
    with open_service(ws) as service:
        blocker = service.create(definition, RunRequest())  # still running, as far as the index knows
        skipped = service.run(definition)
        assert service.wait_for_notifications(30)
    assert (blocker.record.status, skipped.status) == (RunStatus.RUNNING, RunStatus.SKIPPED)
    assert events(hook) == [("/hook", "missed")]
    assert hook.received[0]["json"]["status"] == "skipped"
    assert [n["event"] for n in read_run_json(skipped.folder).notifications] == ["missed"]
    assert (
        "[notify ops (127.0.0.1): missed delivered (HTTP 204), 1 attempt]"
        in (skipped.folder / "console.log").read_text()
    )


def test_an_outcome_that_arrives_after_the_run_ended_is_still_recorded(
    empty_workspace: Workspace, hook: Hook
) -> None:
    ws = notifying(
        empty_workspace,
        hook.url,
        "[success]",
    )
    hook.gate = threading.Event()  # the receiver holds the POST until the run has ended
    definition = load_config(ws).resolved("nightly")
    with open_service(ws) as service:
        record = service.run(definition)
        assert service.pending_notifications() == 1
        assert read_run_json(record.folder).notifications == []
        hook.gate.set()
        assert service.wait_for_notifications(30)
        assert service.pending_notifications() == 0
    (outcome,) = read_run_json(record.folder).notifications
    assert (outcome["event"], outcome["delivered"]) == ("success", True)
    assert (
        (record.folder / "console.log")
        .read_text()
        .endswith("taskctl | [notify ops (127.0.0.1): success delivered (HTTP 204), 1 attempt]\n")
    )
    assert read_run_json(record.folder).status is RunStatus.SUCCEEDED


def test_taskctl_run_waits_for_the_delivery_and_show_lists_it(empty_workspace: Workspace, hook: Hook) -> None:
    ws = notifying(
        empty_workspace,
        hook.url,
        "[success]",
    )
    hook.delay = 0.5  # slower than the run itself

    result = runner.invoke(app, ["--root", str(ws.root), "run", "nightly"])

    assert result.exit_code == 0
    assert events(hook) == [("/hook", "success")]
    shown = runner.invoke(app, ["--root", str(ws.root), "show", "nightly@latest"])
    assert "\nnotify ops (127.0.0.1): success delivered (HTTP 204), 1 attempt\n" in shown.stdout
    data = json.loads(runner.invoke(app, ["--root", str(ws.root), "show", "nightly@latest", "--json"]).stdout)
    assert [(n["target"], n["event"], n["delivered"]) for n in data["notifications"]] == [
        ("ops", "success", True)
    ]


def test_a_process_without_targets_sends_nothing(empty_workspace: Workspace, hook: Hook) -> None:
    ws = notifying(
        empty_workspace,
        hook.url,
        "[start, success, failure]",
        processes="  nightly:\n    threads: [hello]\n",
    )
    record, done = run(ws, "nightly")
    assert done and hook.received == [] and read_run_json(record.folder).notifications == []
    record, done = run(ws, "hello")  # a thread run alone names no targets either
    assert done and hook.received == []


def test_a_daemon_can_wait_for_the_deliveries_of_runs_its_workers_ended(
    empty_workspace: Workspace, hook: Hook
) -> None:
    ws = notifying(empty_workspace, hook.url, "[success]")
    hook.gate = threading.Event()
    with open_service(ws) as worker:  # a worker's service, closed once its run has ended
        record = worker.run(load_config(ws).resolved("nightly"))
    assert pending_deliveries() == 1
    assert not wait_for_all_notifications(0.2)
    hook.gate.set()
    assert wait_for_all_notifications(30)
    assert pending_deliveries() == 0
    assert [n["event"] for n in read_run_json(record.folder).notifications] == ["success"]
