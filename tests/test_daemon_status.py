"""The daemon's status record and what `taskctl status` makes of it, the run index and the applied config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.clock import FakeClock
from taskctl.config import load_config
from taskctl.daemon.plan import view_of
from taskctl.daemon.state import set_missed_count
from taskctl.daemon.status import (
    DaemonRecord,
    DaemonState,
    read_record,
    render_status,
    status_json,
    status_path,
    status_report,
    write_record,
)
from taskctl.runner.service import RunRequest, open_service
from taskctl.runs import RunOwner, RunStatus, Trigger
from taskctl.workspace import Workspace
from tests.conftest import write

BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = """\
timezone: Europe/Berlin
threads:
  fetch: {command: [echo, hi], tags: [shop], schedule: daily at 05:00}
  other: {command: [echo, ho]}
processes:
  nightly: {threads: [fetch], schedule: '30 2 * * *', tags: [nightly]}
  poll: {threads: [other], schedule: every 10 minutes, tags: [ops]}
"""


def berlin(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2027, 6, 1, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


def test_the_record_is_written_whole_and_read_back(empty_workspace: Workspace) -> None:
    record = DaemonRecord(
        pid=4242,
        started=berlin(9),
        state=DaemonState.RUNNING,
        revision="abc123",
        applied_at=berlin(9, 0, 1),
        config_errors=["config/a.yaml:3: processes.x: bad"],
        busy=1,
        capacity=4,
    )
    write_record(empty_workspace, record)
    assert read_record(empty_workspace) == record
    assert [p.name for p in status_path(empty_workspace).parent.iterdir()] == ["status.json"]
    status_path(empty_workspace).write_text("{not json")
    assert read_record(empty_workspace) is None


def test_the_report_counts_missed_slots_skips_and_failures_of_the_last_day(
    empty_workspace: Workspace,
) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG)
    config = load_config(empty_workspace)
    with open_service(empty_workspace, FakeClock(berlin(9, 10))) as service:
        service.record_missed("poll", berlin(8, 0), "Europe/Berlin")
        service.record_missed(
            "poll",
            berlin(8, 50),
            "Europe/Berlin",
            within=lambda tx: set_missed_count(tx, "poll", berlin(8, 50), 5, "missed 5 slots"),
        )
        service.record_missed("nightly", berlin(2, 30), "Europe/Berlin")
        service.record_missed("poll", berlin(8) - timedelta(days=1, seconds=1), "Europe/Berlin")  # too old
        running = service.create(
            config.resolved("poll"), RunRequest(Trigger.SCHEDULE, berlin(9, 10), owner=RunOwner.DAEMON)
        ).record
        report = status_report(empty_workspace, service.store, view_of(config), running.started)
    assert report.missed == {"nightly": 1, "poll": 6}
    assert [row.id for row in report.active] == [running.id]
    assert report.pid is None and not report.running
    assert [(fire.process, fire.zone) for fire in report.next_fires] == [
        ("poll", "Europe/Berlin"),
        ("nightly", "Europe/Berlin"),
        ("fetch", "Europe/Berlin"),
    ]
    document = status_json(report)
    assert document["daemon"] == {"running": False, "pid": None}
    assert document["last_24h"]["missed"] == 7
    assert document["running"][0]["status"] == str(RunStatus.RUNNING)


def test_tags_keep_what_carries_any_of_them(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG)
    config = load_config(empty_workspace)
    with open_service(empty_workspace) as service:
        service.record_missed("poll", berlin(8), "Europe/Berlin")
        service.record_missed("nightly", berlin(2, 30), "Europe/Berlin")
        service.record_missed("fetch", berlin(5), "Europe/Berlin")

        def report(*tags: str) -> tuple[dict[str, int], list[str]]:
            found = status_report(empty_workspace, service.store, view_of(config), berlin(9), tags)
            return found.missed, [fire.process for fire in found.next_fires]

        assert report("shop") == (
            {"fetch": 1},
            ["fetch"],
        )  # the thread's runs alone, not the chain running it
        assert report("ops", "nightly") == ({"nightly": 1, "poll": 1}, ["poll", "nightly"])


def test_a_record_left_by_a_killed_daemon_shows_as_not_running(empty_workspace: Workspace) -> None:
    write_record(empty_workspace, DaemonRecord(pid=4242, started=berlin(9), state=DaemonState.RUNNING))
    with open_service(empty_workspace) as service:
        report = status_report(empty_workspace, service.store, None, berlin(10))
    lines = render_status(report)
    assert lines[0] == "daemon    not running (pid 4242 ended without stopping cleanly)"
    assert status_json(report)["daemon"] == {"running": False, "pid": None, "ended_uncleanly_pid": 4242}
    assert "nothing runs" in lines and "nothing scheduled" in lines
    assert lines[-1] == "LAST 24 H: 0 missed slot(s), 0 run(s) skipped by overlap, 0 failed run(s)"


def test_status_without_a_daemon_shows_the_next_fires_of_the_config_on_disk(
    empty_workspace: Workspace,
) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG)
    result = CliRunner().invoke(app, ["--root", str(empty_workspace.root), "status"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "daemon    not running"
    assert "NEXT (once the daemon runs)" in lines
    assert any(line.startswith("nightly ") and " 02:30:00 CE" in line for line in lines)
    document = json.loads(
        CliRunner()
        .invoke(app, ["--root", str(empty_workspace.root), "status", "--json", "--tag", "nope"])
        .stdout
    )
    assert (document["next"], document["notes"]) == ([], ["nothing has the tag 'nope'"])
