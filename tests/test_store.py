"""The state DB: migrations, the run index and its queries, rebuilding it from run folders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from taskctl.runs import RunRecord, RunStatus, ThreadRecord, ThreadStatus, Trigger, write_run_json
from taskctl.store import MIGRATIONS, Store, open_index

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def record(
    process: str, minute: int, status: RunStatus = RunStatus.SUCCEEDED, folder: Path | None = None
) -> RunRecord:
    stamp = f"2026-11-22_13-{minute:02d}-00"
    started = NOON + timedelta(minutes=minute)
    return RunRecord(
        id=f"{process}/{stamp}",
        process=process,
        folder=folder / process / stamp if folder else Path("."),
        trigger=Trigger.MANUAL,
        status=status,
        started=started,
        finished=started + timedelta(seconds=30) if status.finished else None,
        threads=[
            ThreadRecord("a", ThreadStatus.FAILED if status is RunStatus.FAILED else ThreadStatus.SUCCEEDED)
        ],
    )


def test_a_new_db_is_migrated_in_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path / ".taskctl" / "state.db") as store:
        assert store.created
        db = store.connection
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store(tmp_path / ".taskctl" / "state.db") as again:
        assert not again.created


def test_saving_a_run_twice_updates_it(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        run = record("nightly", 1, RunStatus.RUNNING)
        store.save_run(run)
        run.status, run.finished = RunStatus.FAILED, run.started + timedelta(seconds=90)
        run.threads[0].status = ThreadStatus.FAILED
        store.save_run(run)

        row = store.get("nightly/2026-11-22_13-01-00")
        assert row is not None
        assert (row.status, row.duration, row.failed_thread) == (RunStatus.FAILED, 90.0, "a")
        assert store.counts_by_status() == {"failed": 1}


def test_runs_are_listed_newest_first_with_filters(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_many(
            [
                record("nightly", 1),
                record("nightly", 2, RunStatus.FAILED),
                record("hourly", 3, RunStatus.FAILED),
                record("nightly", 4),
            ]
        )

        assert [r.id for r in store.runs(limit=2)] == [
            "nightly/2026-11-22_13-04-00",
            "hourly/2026-11-22_13-03-00",
        ]
        assert [r.id for r in store.runs("nightly", [RunStatus.FAILED])] == ["nightly/2026-11-22_13-02-00"]
        assert len(store.runs(since=NOON + timedelta(minutes=3))) == 2
        assert store.counts_by_status() == {"succeeded": 2, "failed": 2}
        assert store.counts_by_status("nightly") == {"succeeded": 2, "failed": 1}
        assert store.counts_by_status(since=NOON + timedelta(minutes=3)) == {"succeeded": 1, "failed": 1}
        assert store.processes() == ["hourly", "nightly"]
        assert store.latest_id("nightly") == "nightly/2026-11-22_13-04-00"
        assert store.ids_with_prefix("nightly/2026-11-22_13-0") == [
            "nightly/2026-11-22_13-01-00",
            "nightly/2026-11-22_13-02-00",
            "nightly/2026-11-22_13-04-00",
        ]


def test_active_runs_are_the_queued_and_running_ones(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_many([record("p", 1, RunStatus.RUNNING), record("p", 2, RunStatus.QUEUED), record("p", 3)])

        assert [r.id for r in store.active("p")] == ["p/2026-11-22_13-01-00", "p/2026-11-22_13-02-00"]


def test_rebuild_recreates_the_index_from_run_folders_and_reports_bad_ones(tmp_path: Path) -> None:
    process_dir = tmp_path / "process"
    for run in (
        record("nightly", 1, folder=process_dir),
        record("nightly", 2, RunStatus.FAILED, folder=process_dir),
    ):
        run.folder.mkdir(parents=True)
        write_run_json(run)
    broken = process_dir / "nightly" / "2026-11-22_13-03-00"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")

    with Store(tmp_path / "state.db") as store:
        store.save_run(record("stale", 9))
        report = store.rebuild(process_dir)

        assert report.runs == 2
        assert len(report.problems) == 1
        assert report.problems[0].startswith(f"{broken / 'run.json'} is unreadable:")
        assert [r.id for r in store.runs()] == ["nightly/2026-11-22_13-02-00", "nightly/2026-11-22_13-01-00"]
        assert store.counts_by_status() == {"succeeded": 1, "failed": 1}


def test_a_deleted_index_is_rebuilt_when_opened(tmp_path: Path) -> None:
    process_dir = tmp_path / "process"
    run = record("nightly", 1, folder=process_dir)
    run.folder.mkdir(parents=True)
    write_run_json(run)

    with open_index(tmp_path / ".taskctl" / "state.db", process_dir) as store:
        assert store.latest_id("nightly") == run.id


def test_set_status_marks_a_run_whose_runner_is_gone(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_run(record("p", 1, RunStatus.RUNNING))
        store.set_status("p/2026-11-22_13-01-00", RunStatus.INTERRUPTED, NOON + timedelta(minutes=2), "gone")

        row = store.get("p/2026-11-22_13-01-00")
        assert row is not None
        assert (row.status, row.duration, row.error) == (RunStatus.INTERRUPTED, 60.0, "gone")


def test_delete_runs_removes_index_rows_and_keeps_the_counts(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_many([record("a", 1), record("a", 2, RunStatus.FAILED), record("b", 3)])
        assert store.delete_runs(["a/2026-11-22_13-02-00", "a/2026-11-22_13-01-00", "a/missing"]) == 2
        assert [r.id for r in store.runs()] == ["b/2026-11-22_13-03-00"]
        assert store.counts_by_status() == {"succeeded": 1}
        assert store.processes() == ["b"]
