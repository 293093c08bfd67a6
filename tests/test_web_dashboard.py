"""The dashboard, the status document, /metrics and the API's own description (taskctl/web/dashboard.py,
metrics.py, api.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

from starlette.routing import Route
from starlette.testclient import TestClient

from taskctl.clock import SYSTEM_CLOCK, FakeClock
from taskctl.config import load_config
from taskctl.daemon.lock import acquire_daemon_lock
from taskctl.daemon.plan import applied_now, write_applied
from taskctl.daemon.status import DaemonRecord, DaemonState, write_record
from taskctl.runner import open_service
from taskctl.runs import RunStatus
from taskctl.web.api import ENDPOINTS, PREFIX
from taskctl.web.app import create_app
from taskctl.web.site import ServeOptions, Site
from taskctl.workspace import Workspace
from tests.web_helpers import cli, run_now

POST = {"X-Requested-With": "test"}
BERLIN = ZoneInfo("Europe/Berlin")
REPO = Path(__file__).resolve().parents[1]


def both_at(
    ws: Workspace, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, query: str = "", *cli_args: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`GET /api/v1/status` and `taskctl status --json`, both at the time of `clock`."""
    with TestClient(create_app(Site(ws, ServeOptions(), clock)), base_url="http://127.0.0.1:8470") as web:
        answer = web.get(f"/api/v1/status{query}")
    assert answer.status_code == 200
    monkeypatch.setattr("taskctl.clock.SYSTEM_CLOCK", clock)  # what the CLI's status reads the time from
    code, out, err = cli(ws, "status", "--json", *cli_args)
    assert code == 0, err
    return answer.json(), json.loads(out)


def test_without_a_daemon_the_dashboard_says_nothing_is_scheduling(
    web_ws: Workspace, web: TestClient
) -> None:
    status = web.get("/api/v1/status").json()
    assert status["daemon"] == {"running": False, "pid": None}
    assert status["next"] == [{"process": "greet", "at": "2030-01-07T08:00:00.000000Z"}]
    assert status["running"] == []
    page = web.get("/").text
    assert "not running: nothing is scheduling" in page
    assert "Next (once the daemon runs)" in page
    assert '<a href="/processes/greet">greet</a>' in page
    tagged = web.get("/", params={"tag": "daily"}).text
    assert "Only what is tagged daily." in tagged
    assert 'data-refresh="/?part=live&amp;tag=daily"' in tagged
    processes = web_ws.config_dir / "processes.yaml"
    processes.write_text(processes.read_text().replace("2030-01-07 09:00", "2031-02-03 10:30"))
    assert web.get("/api/v1/status").json()["next"] == [
        {"process": "greet", "at": "2031-02-03T09:30:00.000000Z"}
    ]  # the config on disk as it is now, not as the server first loaded it


def daemon_record(ws: Workspace, revision: str | None, errors: list[str] | None = None) -> DaemonRecord:
    """The record a daemon of this process started 06:00 Berlin time and reloaded at 06:00 would write."""
    started = datetime(2026, 11, 30, 6, 0, tzinfo=BERLIN).astimezone(UTC)
    record = DaemonRecord(
        pid=os.getpid(),
        started=started,
        state=DaemonState.RUNNING,
        revision=revision,
        applied_at=started,
        last_reload=started,
        config_errors=errors or [],
        busy=1,
        capacity=4,
        updated=started,
    )
    write_record(ws, record)
    return record


class Seen(NamedTuple):
    revision: str
    api: dict[str, Any]  # GET /api/v1/status
    cli: dict[str, Any]  # taskctl status --json
    page: str  # the dashboard's live part
    metrics: str


def seen_with_a_daemon(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, errors: list[str] | None = None
) -> Seen:
    """What the web and the CLI show at 07:30 Berlin time while a daemon started at 06:00 (this process, holding
    the daemon's lock) runs the config on disk, its last reload rejected for `errors` if given."""
    clock = FakeClock(datetime(2026, 11, 30, 7, 30, tzinfo=BERLIN))
    config = load_config(ws, now=clock.now())
    record = daemon_record(ws, config.revision, errors)
    write_applied(ws, applied_now(config, record.started))
    with acquire_daemon_lock(ws):
        api, cli_status = both_at(ws, clock, monkeypatch)
        with TestClient(create_app(Site(ws, ServeOptions(), clock)), base_url="http://127.0.0.1:8470") as web:
            page = web.get("/?part=live").text
            metrics = web.get("/metrics").text
    return Seen(config.revision, api, cli_status, page, metrics)


def test_with_a_daemon_the_dashboard_shows_its_pid_uptime_config_and_workers(
    web_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = seen_with_a_daemon(web_ws, monkeypatch)
    assert seen.api == seen.cli
    assert seen.api["daemon"]["running"] is True
    assert seen.api["daemon"]["uptime"] == 5400.0
    assert seen.api["daemon"]["config_revision"] == seen.revision
    assert seen.api["daemon"]["last_reload"] == "2026-11-30T05:00:00.000000Z"
    assert f"running, pid {os.getpid()}, up 1h30m (since 2026-11-30 06:00:00)" in seen.page
    assert f"revision {seen.revision}, applied 2026-11-30 06:00:00" in seen.page
    assert "<dd>2026-11-30 06:00:00: applied</dd>" in seen.page
    assert "<dd>1 of 4 busy</dd>" in seen.page
    assert "Next (once the daemon runs)" not in seen.page
    assert "taskctl_daemon_up 1\n" in seen.metrics
    assert "taskctl_config_last_reload_timestamp_seconds 1796014800.0\n" in seen.metrics
    assert "taskctl_config_last_reload_success 1\n" in seen.metrics


def test_a_rejected_reload_shows_its_error_as_status_does(
    web_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = "config/processes.yaml:5: processes.greet.schedule[0]: 'evry day' is not a schedule"
    seen = seen_with_a_daemon(web_ws, monkeypatch, [problem])
    assert seen.api == seen.cli
    assert seen.api["daemon"]["config_errors"] == [problem]
    assert (
        "rejected 2026-11-30 06:00:00: the config on disk is invalid; "
        f"the daemon keeps revision {seen.revision}"
    ) in seen.page
    assert "is not a schedule" in seen.page
    assert "taskctl_config_last_reload_success 0\n" in seen.metrics


def test_the_status_document_is_taskctl_status_json_without_a_daemon_and_by_tag(
    web_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = run_now(web_ws, "both")
    with open_service(web_ws) as service:
        service.record_missed("greet", failed.started - timedelta(hours=2), "Europe/Berlin")
    clock = FakeClock(failed.started + timedelta(minutes=5))
    web_status, cli_status = both_at(web_ws, clock, monkeypatch)
    assert web_status == cli_status
    assert web_status["last_24h"]["failed"] == 1
    tagged_web, tagged_cli = both_at(
        web_ws, clock, monkeypatch, "?tag=daily&tag=nope", "--tag", "daily", "--tag", "nope"
    )
    assert tagged_web == tagged_cli
    assert tagged_web["tags"] == ["daily", "nope"]
    assert tagged_web["last_24h"]["failed"] == 0  # `both` is not tagged daily
    assert tagged_web["notes"] == ["nothing has the tag 'nope'"]


@pytest.fixture
def daemon(web_ws: Workspace) -> Iterator[subprocess.Popen[bytes]]:
    """`taskctl daemon` on the web workspace, as a real process, once its status record says it runs."""
    from taskctl.daemon.lock import running_daemon
    from taskctl.daemon.plan import SnapshotError, read_applied
    from taskctl.daemon.status import read_record

    def applied() -> str | None:  # written once the first due slots are handed out, after the record
        try:
            snapshot = read_applied(web_ws)
        except SnapshotError:
            return None
        return snapshot.view.revision if snapshot else None

    process = subprocess.Popen(
        [sys.executable, "-m", "taskctl", "--root", str(web_ws.root), "daemon"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 60
        while not (
            (record := read_record(web_ws)) is not None
            and record.pid == process.pid
            and record.state is DaemonState.RUNNING
            and running_daemon(web_ws) == process.pid
            and applied() == record.revision
        ):
            assert process.poll() is None, "the daemon ended at start"
            assert time.monotonic() < deadline, "timed out waiting for the daemon to run"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def test_a_real_daemon_shows_on_the_dashboard_as_taskctl_status_shows_it(
    web_ws: Workspace, daemon: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(SYSTEM_CLOCK.now() + timedelta(seconds=90))
    web_status, cli_status = both_at(web_ws, clock, monkeypatch)
    assert web_status == cli_status
    assert web_status["daemon"]["running"] is True
    assert web_status["daemon"]["pid"] == daemon.pid
    assert web_status["daemon"]["state"] == "running"
    assert web_status["next"] == [{"process": "greet", "at": "2030-01-07T08:00:00.000000Z"}]
    with TestClient(create_app(Site(web_ws, ServeOptions(), clock)), base_url="http://127.0.0.1:8470") as web:
        assert f"running, pid {daemon.pid}, up 1m" in web.get("/").text
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0
        assert "not running: nothing is scheduling" in web.get("/").text
        assert web.get("/api/v1/status").json()["daemon"] == {"running": False, "pid": None}


def test_the_last_24_hours_count_failed_runs_and_missed_slots(web_ws: Workspace) -> None:
    failed = run_now(web_ws, "both")
    slot = (failed.started - timedelta(hours=1)).replace(microsecond=0)
    with open_service(web_ws) as service:
        service.record_missed("greet", slot, "Europe/Berlin")
    site = Site(web_ws, ServeOptions(), FakeClock(failed.started))
    with TestClient(create_app(site), base_url="http://127.0.0.1:8470") as web:
        status = web.get("/api/v1/status").json()
        metrics = web.get("/metrics").text
    assert status["last_24h"]["failed"] == 1
    assert status["last_24h"]["failed_runs"][0]["id"] == failed.id
    assert status["last_24h"]["missed_by_process"] == {"greet": 1}
    assert 'taskctl_runs{process="both",status="failed"} 1\n' in metrics
    assert 'taskctl_run_duration_seconds_count{process="both"} 1\n' in metrics
    assert f'taskctl_last_run_duration_seconds{{process="both"}} {failed.duration!r}\n' in metrics
    assert 'taskctl_missed_slots_24h{process="greet"} 1\n' in metrics
    assert "taskctl_daemon_up 0\n" in metrics


def test_a_running_run_shows_its_thread_and_elapsed_time(web_ws: Workspace, web: TestClient) -> None:
    (web_ws.config_dir / "processes.yaml").write_text("processes:\n  slow:\n    threads: [long]\n")
    started = web.post("/api/v1/processes/slow/run", headers=POST).json()
    try:
        with open_service(web_ws) as service:
            (row,) = service.store.active("slow")
        status = web.get("/api/v1/status").json()
        (running,) = status["running"]
        assert running["id"] == started["id"]
        assert running["elapsed"] >= 0
        live = web.get("/?part=live").text
        assert f'<a href="/runs/{started["id"]}">{started["id"]}</a>' in live
        assert "data-since=" in live
        assert row.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    finally:
        web.post(f"/api/v1/runs/{started['id']}/cancel", headers=POST)


def test_every_api_route_is_documented_and_every_documented_one_exists(web: TestClient) -> None:
    spec = web.get("/api/v1/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    app = web.app
    routed = {
        (route.path.replace(":path}", "}"), method)
        for route in app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        and route.path.startswith(PREFIX)
        and not route.path.endswith(("/docs", ".json"))
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert documented == routed
    assert len(ENDPOINTS) == len(routed)
    for operations in spec["paths"].values():
        for operation in operations.values():
            assert operation["summary"] and operation["responses"]


def test_the_api_page_lists_every_endpoint(web: TestClient) -> None:
    page = web.get("/api/v1/docs").text
    for endpoint in ENDPOINTS:
        assert f"<code>{PREFIX + endpoint.path.replace(':path}', '}')}</code>" in page


def test_the_docs_list_every_endpoint() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "web.md").read_text(encoding="utf-8")
    for endpoint in ENDPOINTS:
        assert f"`{endpoint.method} {endpoint.openapi_path}`" in docs


def test_unknown_pages_and_methods(web: TestClient) -> None:
    missing = web.get("/api/v1/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error": "there is no page at /api/v1/nothing."}
    assert web.get("/nothing").status_code == 404
    wrong = web.put("/api/v1/runs", json={})
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "PUT is not allowed on /api/v1/runs."
