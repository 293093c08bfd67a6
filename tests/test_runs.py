"""What a run is: its id, and run.json as the durable record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskctl.runs import (
    RunId,
    RunOwner,
    RunRecord,
    RunStatus,
    ThreadRecord,
    ThreadStatus,
    Trigger,
    read_run_json,
    write_run_json,
)

START = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)


def test_a_run_id_is_a_process_and_a_stamp() -> None:
    run_id = RunId("nightly/2026-11-22_02-30-00-2")

    assert (run_id.process, run_id.stamp) == ("nightly", "2026-11-22_02-30-00-2")
    assert RunId.parse("nightly") is None
    assert RunId.parse("../etc/2026") is None
    with pytest.raises(ValueError, match="is not a run id"):
        RunId("Nightly/x")


def test_run_ids_of_one_second_sort_by_number() -> None:
    ids = [RunId(f"p/2026-11-22_02-30-00-{n}") for n in (10, 2, 9)] + [RunId("p/2026-11-22_02-30-00")]

    assert [i.stamp[20:] for i in sorted(ids, key=RunId.sort_key)] == ["", "2", "9", "10"]


def test_run_json_round_trips_every_field(tmp_path: Path) -> None:
    record = RunRecord(
        id=RunId("nightly/2026-11-22_02-30-00"),
        process="nightly",
        folder=tmp_path,
        trigger=Trigger.CATCH_UP,
        status=RunStatus.FAILED,
        started=START,
        scheduled_for=START - timedelta(minutes=5),
        finished=START + timedelta(seconds=90),
        owner=RunOwner.DAEMON,
        pid=42,
        error="boom",
        threads=[ThreadRecord("fetch", ThreadStatus.FAILED, exit_code=3, attempts=2)],
    )

    write_run_json(record)

    assert read_run_json(tmp_path) == record
    data = json.loads((tmp_path / "run.json").read_text())
    assert (data["owner"], data["trigger"], data["duration"], data["threads"][0]["retries"]) == (
        "daemon",
        "catch-up",
        90.0,
        1,
    )
    assert not list(tmp_path.glob(".run.json.*"))


def test_an_interrupted_thread_keeps_the_time_it_ran() -> None:
    thread = ThreadRecord("fetch", ThreadStatus.RUNNING, started=START)

    thread.end(ThreadStatus.INTERRUPTED, START + timedelta(seconds=12.5))

    assert (thread.status, thread.duration) == (ThreadStatus.INTERRUPTED, 12.5)
