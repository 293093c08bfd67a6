"""The dashboard, the status document, /metrics and the API's own description (taskctl/web/dashboard.py,
status.py, metrics.py, api.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

from starlette.routing import Route
from starlette.testclient import TestClient

from taskctl.clock import SYSTEM_CLOCK, FakeClock
from taskctl.config import load_config
from taskctl.daemon.lock import acquire_daemon_lock
from taskctl.daemon.plan import write_applied
from taskctl.runner import open_service
from taskctl.runs import RunStatus
from taskctl.web.api import ENDPOINTS, PREFIX
from taskctl.web.app import create_app
from taskctl.web.site import ServeOptions, Site
from taskctl.workspace import Workspace
from tests.web_helpers import run_now

POST = {"X-Requested-With": "test"}


def test_without_a_daemon_the_dashboard_says_nothing_is_scheduling(
    web_ws: Workspace, web: TestClient
) -> None:
    status = web.get("/api/v1/status").json()
    assert status["daemon"] == {"running": False, "pid": None}
    assert status["next"] == [{"process": "greet", "at": "2030-01-07T08:00:00.000000Z"}]
    assert status["running"] == []
    page = web.get("/").text
    assert "not running: nothing is scheduling" in page
    assert '<a href="/processes/greet">greet</a>' in page


def test_with_a_daemon_the_dashboard_shows_its_pid_and_config(web_ws: Workspace, web: TestClient) -> None:
    config = load_config(web_ws, now=SYSTEM_CLOCK.now())
    write_applied(web_ws, config, datetime(2026, 11, 30, 5, 0, tzinfo=UTC))
    with acquire_daemon_lock(web_ws):
        status = web.get("/api/v1/status").json()
        page = web.get("/?part=live").text
        metrics = web.get("/metrics").text
    assert status["daemon"]["running"] is True
    assert status["daemon"]["config_revision"] == config.revision
    assert status["daemon"]["last_reload"] == "2026-11-30T05:00:00.000000Z"
    assert "running, pid" in page
    assert f"revision {config.revision}" in page
    assert "taskctl_daemon_up 1\n" in metrics
    assert "taskctl_config_last_reload_timestamp_seconds 1796014800.0\n" in metrics
    assert "taskctl_config_last_reload_success 1\n" in metrics


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
