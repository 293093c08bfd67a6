"""Webhook notifications against a real HTTP server on loopback, started by each test."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.config import load_config
from taskctl.config.models import NotifyEvent, NotifyTarget
from taskctl.errors import ConfigError
from taskctl.notify import (
    DeliveryOutcome,
    Notifier,
    deliver,
    events_at_end,
    missed_payload,
    read_log_tail,
    run_payload,
    targets_for,
)
from taskctl.runs import CONSOLE_LOG, RunRecord, RunStatus, ThreadRecord, ThreadStatus, Trigger
from taskctl.workspace import Workspace
from tests.conftest import write
from tests.webhooks import Hook

BERLIN = ZoneInfo("Europe/Berlin")


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def failed_run(folder: Path) -> RunRecord:
    return RunRecord(
        id="nightly/2026-11-22_02-30-00",
        process="nightly",
        folder=folder,
        trigger=Trigger.SCHEDULE,
        status=RunStatus.FAILED,
        started=datetime(2026, 11, 22, 2, 30, tzinfo=BERLIN).astimezone(UTC),
        scheduled_for=datetime(2026, 11, 22, 2, 30, tzinfo=BERLIN).astimezone(UTC),
        finished=datetime(2026, 11, 22, 2, 31, 15, 500000, tzinfo=BERLIN).astimezone(UTC),
        threads=[
            ThreadRecord("fetch", ThreadStatus.SUCCEEDED, exit_code=0),
            ThreadRecord("parse", ThreadStatus.FAILED, exit_code=3),
            ThreadRecord("report", ThreadStatus.NOT_RUN),
        ],
    )


# -- payloads and choices ---------------------------------------------------------------------------


def test_the_payload_of_a_failed_run() -> None:
    payload = run_payload(NotifyEvent.FINAL_FAILURE, failed_run(Path("/x")), "shop", ["a", "b"])
    assert payload == {
        "event": "final_failure",
        "process": "nightly",
        "run_id": "nightly/2026-11-22_02-30-00",
        "status": "failed",
        "trigger": "schedule",
        "scheduled_for": "2026-11-22T01:30:00.000000Z",
        "started": "2026-11-22T01:30:00.000000Z",
        "finished": "2026-11-22T01:31:15.500000Z",
        "duration": 75.5,
        "failed_thread": "parse",
        "exit_code": 3,
        "signal": None,
        "log_tail": ["a", "b"],
        "workspace": "shop",
    }


def test_a_retried_attempt_names_its_thread_while_the_run_is_still_running() -> None:
    run = failed_run(Path("/x"))
    run.status, run.finished = RunStatus.RUNNING, None
    run.threads[1] = ThreadRecord("parse", ThreadStatus.RUNNING, signal="SIGKILL")
    payload = run_payload(NotifyEvent.FAILURE, run, "shop", [], failed_thread="parse")
    assert (payload["status"], payload["failed_thread"], payload["exit_code"], payload["signal"]) == (
        "running",
        "parse",
        None,
        "SIGKILL",
    )
    assert (payload["finished"], payload["duration"]) == (None, None)


def test_a_missed_slot_has_the_same_keys_and_says_why() -> None:
    payload = missed_payload(
        "nightly", datetime(2026, 11, 22, 1, 30, tzinfo=UTC), "older than misfire_grace", "shop"
    )
    assert set(payload) == set(run_payload("start", failed_run(Path("/x")), "shop", [])) | {"reason"}
    assert (payload["event"], payload["scheduled_for"], payload["reason"]) == (
        "missed",
        "2026-11-22T01:30:00.000000Z",
        "older than misfire_grace",
    )


def test_events_at_the_end_of_a_run() -> None:
    assert events_at_end("succeeded") == [NotifyEvent.SUCCESS]
    assert events_at_end("timed_out") == [NotifyEvent.FINAL_FAILURE, NotifyEvent.FAILURE]
    assert events_at_end("interrupted") == [NotifyEvent.FINAL_FAILURE, NotifyEvent.FAILURE]
    assert events_at_end("skipped") == [NotifyEvent.MISSED]
    assert events_at_end("running") == []


def test_each_named_target_gets_one_post_with_the_most_specific_event_it_listens_to() -> None:
    targets = {
        "ops": NotifyTarget(url="http://h/1", on=[NotifyEvent.FAILURE, NotifyEvent.FINAL_FAILURE]),
        "chat": NotifyTarget(url="http://h/2", on=[NotifyEvent.FAILURE]),
        "pager": NotifyTarget(url="http://h/3", on=[NotifyEvent.SUCCESS]),
    }
    chosen = targets_for(targets, ["ops", "chat", "pager", "ops"], events_at_end("failed"))
    assert [(name, event) for name, _, event in chosen] == [("ops", "final_failure"), ("chat", "failure")]


def test_the_log_tail_is_the_last_20_lines(tmp_path: Path) -> None:
    log = write(tmp_path / CONSOLE_LOG, "".join(f"line {n}\n" for n in range(1, 101)))
    assert read_log_tail(log) == [f"line {n}" for n in range(81, 101)]
    assert read_log_tail(tmp_path / "missing.log") == []
    big = write(tmp_path / "big.log", "x" * 100_000 + "\nlast\n")
    assert read_log_tail(big, max_bytes=1000) == ["last"]


# -- delivery ---------------------------------------------------------------------------------------


def test_a_delivery_posts_json_with_the_headers_and_their_environment_values(hook: Hook) -> None:
    target = NotifyTarget(url=hook.url, headers={"Authorization": "Bearer ${HOOK_TOKEN}", "X-Team": "ops"})
    outcome = deliver("ops", target, {"event": "success", "n": 1}, environ={"HOOK_TOKEN": "s3cret"})
    assert (outcome.delivered, outcome.status, outcome.attempts, outcome.error) == (True, 204, 1, None)
    (request,) = hook.received
    assert request["json"] == {"event": "success", "n": 1}
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["X-Team"] == "ops"
    assert request["headers"]["Content-Type"] == "application/json"
    assert outcome.summary() == "notify ops (127.0.0.1): success delivered (HTTP 204), 1 attempt"


def test_server_errors_are_retried_with_backoff(hook: Hook) -> None:
    hook.answers = [500, 503]
    waits: list[float] = []
    outcome = deliver("ops", NotifyTarget(url=hook.url), {"event": "failure"}, sleep=waits.append)
    assert (outcome.delivered, outcome.status, outcome.attempts, waits) == (True, 204, 3, [1.0, 4.0])
    assert len(hook.received) == 3


def test_three_failed_attempts_give_up_and_say_why(hook: Hook) -> None:
    hook.answers = [502, 502, 502]
    outcome = deliver("ops", NotifyTarget(url=hook.url), {"event": "failure"}, sleep=lambda s: None)
    assert (outcome.delivered, outcome.status, outcome.attempts) == (False, 502, 3)
    assert (
        outcome.summary()
        == "notify ops (127.0.0.1): failure not delivered after 3 attempts: HTTP 502: answer 502"
    )


def test_a_client_error_or_a_redirect_is_not_retried(hook: Hook) -> None:
    hook.answers = [404, 302]
    first = deliver("ops", NotifyTarget(url=hook.url), {}, sleep=lambda s: None)
    assert (first.delivered, first.status, first.attempts, first.error) == (
        False,
        404,
        1,
        "HTTP 404: answer 404",
    )
    second = deliver("ops", NotifyTarget(url=hook.url), {}, sleep=lambda s: None)
    assert (second.status, second.attempts) == (302, 1)
    assert (
        second.error == "HTTP 302, a redirect to http://elsewhere.example/hook (set the final URL in 'url:')"
    )
    assert len(hook.received) == 2


def test_no_server_and_a_slow_server_are_retried_then_reported() -> None:
    refused = deliver("ops", NotifyTarget(url=closed_port_url()), {}, sleep=lambda s: None)
    assert (refused.delivered, refused.status, refused.attempts) == (False, None, 3)
    assert refused.error is not None and refused.error.startswith("no answer (")


def test_an_answer_slower_than_the_timeout_is_a_failed_attempt(hook: Hook) -> None:
    hook.delay = 3.0
    outcome = deliver("ops", NotifyTarget(url=hook.url), {}, timeout=0.3, attempts=1)
    assert (outcome.delivered, outcome.error) == (False, "no answer (timed out)")


def test_a_header_reading_an_unset_variable_is_not_sent_at_all(hook: Hook) -> None:
    target = NotifyTarget(url=hook.url, headers={"Authorization": "Bearer ${NO_SUCH_TOKEN}"})
    outcome = deliver("ops", target, {"event": "start"}, environ={})
    assert (outcome.delivered, outcome.attempts) == (False, 0)
    assert outcome.error == "header reads ${NO_SUCH_TOKEN}, which is not set in the environment"
    assert hook.received == []


# -- the notifier, in the background ---------------------------------------------------------------


def notify_workspace(ws: Workspace, url: str) -> Workspace:
    write(
        ws.config_dir / "taskctl.yaml",
        f"notify:\n  ops: {{url: '{url}', on: [start, final_failure]}}\n  chat: {{url: '{url}', on: [success]}}\n",
    )
    write(
        ws.config_dir / "main.yaml",
        "threads:\n  fetch: {code: pass}\n  parse: {code: pass}\n  report: {code: pass}\n"
        "processes:\n  nightly: {threads: [fetch, parse, report], notify: [ops, chat]}\n"
        "  quiet: {threads: [fetch]}\n",
    )
    return ws


def test_a_finished_run_is_notified_in_the_background_and_the_outcome_reported(
    empty_workspace: Workspace, hook: Hook, tmp_path: Path
) -> None:
    config = load_config(notify_workspace(empty_workspace, hook.url))
    write(tmp_path / CONSOLE_LOG, "02:30:01 fetch ok\n02:31:15 parse: exit 3\n")
    outcomes: list[DeliveryOutcome] = []
    hook.gate = threading.Event()
    notifier = Notifier(config, on_outcome=outcomes.append)
    assert notifier.run_finished(failed_run(tmp_path)) == 1
    assert outcomes == []  # the POST is still waiting for the server: the run was not held up
    hook.gate.set()
    assert notifier.wait(timeout=30)
    (outcome,) = outcomes
    assert (outcome.target, outcome.event, outcome.delivered) == ("ops", "final_failure", True)
    (request,) = hook.received
    assert request["json"]["log_tail"] == ["02:30:01 fetch ok", "02:31:15 parse: exit 3"]
    assert request["json"]["workspace"] == "ws"


def test_only_targets_the_process_names_and_that_listen_are_called(
    empty_workspace: Workspace, hook: Hook, tmp_path: Path
) -> None:
    config = load_config(notify_workspace(empty_workspace, hook.url))
    notifier = Notifier(config)
    run = failed_run(tmp_path)
    run.status = RunStatus.SUCCEEDED
    assert notifier.run_finished(run) == 1  # chat
    assert notifier.run_started(run) == 1  # ops
    assert notifier.attempt_failed(run, "parse") == 0  # nobody listens to failure
    run.process = "quiet"
    assert notifier.run_finished(run) == 0
    assert notifier.wait(timeout=30)
    assert sorted(r["json"]["event"] for r in hook.received) == ["start", "success"]


# -- config ----------------------------------------------------------------------------------------


def test_config_errors_in_notify_targets_name_file_line_and_key(empty_workspace: Workspace) -> None:
    write(
        empty_workspace.config_dir / "taskctl.yaml",
        "notify:\n  ops:\n    url: ftp://x\n    on: [failure, finished]\n    headers: {X-A: [1]}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(empty_workspace)
    assert [p.render() for p in caught.value.problems] == [
        "config/taskctl.yaml:3: notify.ops.url: 'ftp://x' is not an http(s) URL",
        "config/taskctl.yaml:4: notify.ops.on[1]: 'finished' is not valid (use failure, final_failure, success, start or missed)",
        "config/taskctl.yaml:5: notify.ops.headers.X-A: a list is not text (quote it)",
    ]


# -- the CLI ---------------------------------------------------------------------------------------

runner = CliRunner()


def test_notify_test_sends_a_sample_and_reports_the_status(empty_workspace: Workspace, hook: Hook) -> None:
    ws = notify_workspace(empty_workspace, hook.url)
    result = runner.invoke(app, ["--root", str(ws.root), "notify", "test", "ops"])
    assert (result.exit_code, result.stdout) == (
        0,
        "notify ops (127.0.0.1): test delivered (HTTP 204), 1 attempt\n",
    )
    sample = hook.received[0]["json"]
    assert set(sample) == set(run_payload("start", failed_run(Path("/x")), "ws", []))
    assert (sample["event"], sample["workspace"]) == ("test", "ws")


def test_notify_test_fails_with_the_answer_after_one_attempt(empty_workspace: Workspace, hook: Hook) -> None:
    ws = notify_workspace(empty_workspace, hook.url)
    hook.answers = [500]
    result = runner.invoke(app, ["--root", str(ws.root), "notify", "test", "ops", "--event", "final_failure"])
    assert (result.exit_code, result.stderr) == (
        1,
        "error: notify ops (127.0.0.1): final_failure not delivered after 1 attempt: HTTP 500: answer 500.\n",
    )
    assert hook.received[0]["json"]["failed_thread"] == "product_pages"


def test_notify_test_names_unknown_targets_and_events(empty_workspace: Workspace, hook: Hook) -> None:
    ws = notify_workspace(empty_workspace, hook.url)
    result = runner.invoke(app, ["--root", str(ws.root), "notify", "test", "opps"])
    assert (result.exit_code, result.stderr) == (
        1,
        "error: no notify target named 'opps'; did you mean 'ops'?\n",
    )
    result = runner.invoke(app, ["--root", str(ws.root), "notify", "test", "ops", "--event", "boom"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: 'boom' is not a notify event; use one of test, failure, final_failure, success, start, missed.\n",
    )
    assert hook.received == []


def test_notify_test_has_help_with_an_example() -> None:
    result = runner.invoke(app, ["notify", "test", "--help"])
    assert result.exit_code == 0 and "Example:" in result.stdout
