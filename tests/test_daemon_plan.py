"""The plan: the record of the applied config, and its pure diff against the config on disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from taskctl.config import load_config
from taskctl.daemon.plan import (
    AppliedConfig,
    Change,
    ConfigView,
    EntryChange,
    ProcessChange,
    SnapshotError,
    applied_now,
    applied_path,
    current_plan,
    make_plan,
    plan_json,
    read_applied,
    render_plan,
    view_of,
    write_applied,
)
from taskctl.workspace import Workspace
from tests.conftest import write

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 6, 1, 9, 0, tzinfo=BERLIN)
APPLIED_AT = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)

THREADS = "threads:\n  fetch: {command: [echo, hi]}\n  report: {command: [echo, report]}\n"
PROCESSES = (
    "processes:\n"
    "  nightly:\n    threads: [fetch, report]\n    schedule: ['30 2 * * *']\n    timeout: 2h\n"
    "  hourly:\n    threads: [fetch]\n    schedule: hourly\n"
    "  old:\n    threads: [report]\n    schedule: daily at 07:00\n"
)


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    write(empty_workspace.config_dir / "taskctl.yaml", "timezone: Europe/Berlin\n")
    write(empty_workspace.config_dir / "threads.yaml", THREADS)
    write(empty_workspace.config_dir / "processes.yaml", PROCESSES)
    return empty_workspace


def test_the_record_is_written_atomically_and_reads_back(ws: Workspace) -> None:
    config = load_config(ws)
    path = write_applied(ws, applied_now(config, APPLIED_AT))
    assert path == ws.root / ".taskctl" / "daemon" / "applied.json"
    assert [p.name for p in path.parent.iterdir()] == ["applied.json"]  # no temporary file left
    record = read_applied(ws)
    assert record is not None
    assert (record.view, record.applied_at) == (view_of(config), APPLIED_AT)
    document = json.loads(path.read_text())
    assert (document["format"], document["revision"], document["applied_at"]) == (
        1,
        config.revision,
        "2027-06-01T08:00:00Z",
    )
    assert document["processes"]["nightly"]["schedule"] == ["30 2 * * *"]
    assert document["processes"]["nightly"]["timezone"] == "Europe/Berlin"


def test_no_record_means_no_daemon_applied_a_config(ws: Workspace) -> None:
    assert read_applied(ws) is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            "{not json",
            "cannot be read (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        ),
        ('{"format": 99}', "is not a record this version of taskctl writes (format 1)"),
        ('{"format": 1}', "is incomplete (it has no 'revision')"),
    ],
)
def test_an_unusable_record_says_why(ws: Workspace, content: str, reason: str) -> None:
    write(applied_path(ws), content)
    with pytest.raises(SnapshotError) as caught:
        read_applied(ws)
    assert caught.value.message == f".taskctl/daemon/applied.json {reason}"
    plan = current_plan(ws, load_config(ws), NOW)
    assert plan.applied is None
    assert plan.note == (
        f"the daemon's record of its applied config is unusable: .taskctl/daemon/applied.json {reason}; "
        "everything on disk is shown as new"
    )


def edited(ws: Workspace) -> ConfigView:
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n"
        "  nightly:\n    threads: [fetch, report]\n    schedule: ['daily at 03:15']\n    timeout: 3h\n"
        "  hourly:\n    threads: [fetch]\n    schedule: hourly\n"
        "  weekly:\n    threads: [report]\n    schedule: monday at 09:00\n    enabled: false\n",
    )
    write(ws.config_dir / "threads.yaml", THREADS.replace("[echo, hi]", "[echo, hello]"))
    write(ws.config_dir / "taskctl.yaml", "timezone: Europe/Berlin\nmax_parallel_runs: 8\n")
    return view_of(load_config(ws))


def test_the_plan_names_every_change_and_the_next_runs(ws: Workspace) -> None:
    applied = AppliedConfig(view_of(load_config(ws)), APPLIED_AT, pid=4242)
    plan = make_plan(applied, edited(ws), NOW)
    assert plan.changed
    assert plan.processes == (
        ProcessChange(
            "hourly", Change.UNCHANGED, (), (), (),
            datetime(2027, 6, 1, 10, 0, tzinfo=BERLIN), datetime(2027, 6, 1, 10, 0, tzinfo=BERLIN), "Europe/Berlin",
        ),
        ProcessChange(
            "nightly", Change.CHANGED, ("schedule", "timeout"), ("daily at 03:15",), ("30 2 * * *",),
            datetime(2027, 6, 2, 2, 30, tzinfo=BERLIN), datetime(2027, 6, 2, 3, 15, tzinfo=BERLIN), "Europe/Berlin",
        ),
        ProcessChange(
            "old", Change.REMOVED, (), (), ("daily at 07:00",),
            datetime(2027, 6, 2, 7, 0, tzinfo=BERLIN), None, "Europe/Berlin",
        ),
        ProcessChange(
            "weekly", Change.ADDED, (), ("monday at 09:00",), (), None, None, "Europe/Berlin", enabled=False,
        ),
    )  # fmt: skip
    assert plan.threads == (EntryChange("fetch", Change.CHANGED, ("command",)),)
    assert plan.settings == ("max_parallel_runs",)
    assert render_plan(plan) == [
        f"applied: revision {applied.view.revision} (Tue 2027-06-01 10:00 CEST); "
        f"on disk: revision {plan.on_disk.revision}",
        "~ process nightly: changed schedule, timeout; schedule - '30 2 * * *' + 'daily at 03:15'; "
        "next run Wed 2027-06-02 02:30 CEST -> Wed 2027-06-02 03:15 CEST",
        "- process old: removed; was next Wed 2027-06-02 07:00 CEST",
        "+ process weekly: added; next run none (disabled)",
        "~ thread fetch: changed command",
        "~ settings: changed max_parallel_runs",
        "1 process unchanged",
    ]


def test_a_plan_with_nothing_to_change(ws: Workspace) -> None:
    view = view_of(load_config(ws))
    plan = make_plan(AppliedConfig(view, APPLIED_AT, pid=1), view, NOW)
    assert not plan.changed
    assert render_plan(plan)[1:] == ["no changes"]


def test_without_a_record_everything_is_new(ws: Workspace) -> None:
    plan = current_plan(ws, load_config(ws), NOW)
    assert plan.applied is None
    assert [(p.name, p.change) for p in plan.processes] == [
        ("hourly", Change.ADDED),
        ("nightly", Change.ADDED),
        ("old", Change.ADDED),
    ]
    assert render_plan(plan)[0] == (
        f"no daemon has applied a config yet; everything on disk is new; on disk: revision {plan.on_disk.revision}"
    )
    assert render_plan(plan)[1] == "+ process hourly: added; next run Tue 2027-06-01 10:00 CEST"


def test_the_plan_as_json(ws: Workspace) -> None:
    applied = AppliedConfig(view_of(load_config(ws)), APPLIED_AT, pid=4242)
    document = plan_json(make_plan(applied, edited(ws), NOW))
    assert document["applied"] == {"revision": applied.view.revision, "applied_at": "2027-06-01T08:00:00Z"}
    assert document["changed"] is True
    assert document["note"] is None
    assert document["processes"][1] == {
        "name": "nightly",
        "change": "changed",
        "keys": ["schedule", "timeout"],
        "schedules_added": ["daily at 03:15"],
        "schedules_removed": ["30 2 * * *"],
        "next_before": "2027-06-02T00:30:00Z",
        "next_after": "2027-06-02T01:15:00Z",
    }
    assert document["threads"] == [{"name": "fetch", "change": "changed", "keys": ["command"]}]
    assert document["settings"] == ["max_parallel_runs"]
