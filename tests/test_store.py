"""The state DB: migrations, the run index and its queries, rebuilding it from run folders."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskctl import store as store_module
from taskctl.runs import (
    RunFields,
    RunId,
    RunRecord,
    RunStatus,
    ThreadRecord,
    ThreadStatus,
    Trigger,
    write_run_json,
)
from taskctl.store import (
    MIGRATIONS,
    GroupWriter,
    IndexCorruptError,
    IndexUnavailableError,
    RunRow,
    SlotTakenError,
    Store,
    Transaction,
    move_aside,
    open_index,
)
from taskctl.workspace import Workspace

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def record(
    process: str, minute: int, status: RunStatus = RunStatus.SUCCEEDED, folder: Path | None = None
) -> RunRecord:
    stamp = f"2026-11-22_13-{minute:02d}-00"
    started = NOON + timedelta(minutes=minute)
    return RunRecord(
        id=RunId.of(process, stamp),
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
        with store.transaction() as tx:
            assert tx.query("PRAGMA user_version") == [(len(MIGRATIONS),)]
            assert tx.query("PRAGMA journal_mode") == [("wal",)]
    with Store(tmp_path / ".taskctl" / "state.db") as again:
        assert not again.created


def test_the_index_columns_and_run_json_follow_the_one_declaration_of_a_run(tmp_path: Path) -> None:
    declared = list(RunFields.__dataclass_fields__)
    with Store(tmp_path / "state.db") as store, store.transaction() as tx:
        columns = [row[1] for row in tx.query("PRAGMA table_info(runs)")]
    summary = [
        "failed_thread",
        "current_thread",
        "progress",
        "cancel_requested",
        "has_folder",
        "tests",
        "duration",
    ]

    assert sorted(columns) == sorted(declared + summary)
    assert set(declared) <= set(record("p", 1).to_json())


def test_a_store_refuses_to_be_used_from_another_thread(tmp_path: Path) -> None:
    errors: list[Exception] = []
    with Store(tmp_path / "state.db") as store:

        def use() -> None:
            try:
                store.runs()
            except RuntimeError as exc:
                errors.append(exc)

        worker = threading.Thread(target=use)
        worker.start()
        worker.join()

    assert [str(e) for e in errors] == [
        "a Store was used from a thread that did not open it; open one Store per thread"
    ]


def test_transactions_do_not_nest(tmp_path: Path) -> None:
    with (
        Store(tmp_path / "state.db") as store,
        store.transaction(),
        pytest.raises(RuntimeError, match="transactions do not nest"),
    ):
        store.save_run(record("p", 1))


def test_one_schedule_slot_holds_one_run(tmp_path: Path) -> None:
    slot = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    first, second, manual = record("nightly", 1), record("nightly", 2), record("nightly", 3)
    first.scheduled_for = second.scheduled_for = slot
    with Store(tmp_path / "state.db") as store:
        with store.transaction() as tx:
            tx.insert_run(RunRow.of(first))
            tx.insert_run(RunRow.of(manual))
        with pytest.raises(SlotTakenError), store.transaction() as tx:
            tx.insert_run(RunRow.of(second))

        assert [r.id for r in store.runs()] == [manual.id, first.id]


def test_a_rebuild_keeps_the_slots_recorded_without_a_folder(tmp_path: Path) -> None:
    missed = RunRow(
        id=RunId("nightly/2026-11-22_02-30-00-missed"),
        process="nightly",
        trigger=Trigger.SCHEDULE,
        status=RunStatus.SKIPPED,
        started=NOON,
        scheduled_for=NOON,
        error="missed",
        has_folder=False,
    )
    with Store(tmp_path / "state.db") as store:
        with store.transaction() as tx:
            tx.insert_run(missed)
        store.rebuild(tmp_path / "process")

        assert [(r.id, r.status, r.error) for r in store.runs()] == [(missed.id, RunStatus.SKIPPED, "missed")]


def test_runs_started_in_the_same_second_sort_by_their_number(tmp_path: Path) -> None:
    runs = [record("p", 1) for _ in range(11)]
    for number, run in enumerate(runs, start=1):
        run.id = RunId(f"p/2026-11-22_13-01-00-{number}" if number > 1 else "p/2026-11-22_13-01-00")
    with Store(tmp_path / "state.db") as store:
        store.save_many(runs)

        assert store.latest_id("p") == "p/2026-11-22_13-01-00-11"
        assert store.ids_with_prefix("p/2026-11-22_13-01-00")[:3] == [
            "p/2026-11-22_13-01-00",
            "p/2026-11-22_13-01-00-2",
            "p/2026-11-22_13-01-00-3",
        ]
        assert store.runs("p", limit=2)[1].id == "p/2026-11-22_13-01-00-10"


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


def test_finished_durations_since_a_moment_oldest_first(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_many(
            [
                record("p", 1),
                record("q", 2, RunStatus.FAILED),
                record("p", 3, RunStatus.RUNNING),
                record("p", 4),
            ]
        )

        assert store.finished_durations(NOON + timedelta(minutes=2)) == [
            ("q", "failed", 30.0),
            ("p", "succeeded", 30.0),
        ]


def test_active_runs_are_the_queued_and_running_ones(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_many([record("p", 1, RunStatus.RUNNING), record("p", 2, RunStatus.QUEUED), record("p", 3)])

        assert [r.id for r in store.active("p")] == ["p/2026-11-22_13-01-00", "p/2026-11-22_13-02-00"]


def test_the_active_runs_of_several_processes_are_read_together(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_many(
            [
                record("p", 1, RunStatus.RUNNING),
                record("q", 2, RunStatus.QUEUED),
                record("p", 3, RunStatus.QUEUED),
                record("r", 4, RunStatus.RUNNING),
                record("q", 5),
            ]
        )
        with store.transaction() as tx:
            together = tx.active_of(["p", "q", "idle"])

        assert together == {"p": store.active("p"), "q": store.active("q"), "idle": []}
        assert [r.id for r in together["p"]] == ["p/2026-11-22_13-01-00", "p/2026-11-22_13-03-00"]


def test_the_highest_numbers_of_a_second_are_read_together(tmp_path: Path) -> None:
    second = "2026-11-22_13-01-00"
    with Store(tmp_path / "state.db") as store:
        rows = [record("p", 1), record("q", 1), record("r", 1), record("p-x", 1)]
        for run, suffix in zip(rows[1:3], ("-2", "-12"), strict=True):
            run.id = RunId.of(run.process, second + suffix)
        store.save_many(rows)
        bases = [RunId.of(name, second) for name in ("p", "q", "r", "p-x", "none")]
        with store.transaction() as tx:
            together = tx.highest_numbers(bases)
            one_by_one = {base: tx.highest_number(base.process, second) for base in bases}

        assert together == one_by_one == dict(zip(bases, (1, 2, 12, 1, 0), strict=True))


def test_rebuild_recreates_the_index_from_run_folders_and_reports_bad_ones(tmp_path: Path) -> None:
    process_dir = tmp_path / "process"
    in_its_folder(record("nightly", 1, folder=process_dir))
    in_its_folder(record("nightly", 2, RunStatus.FAILED, folder=process_dir))
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


def in_its_folder(run: RunRecord) -> RunRecord:
    run.folder.mkdir(parents=True)
    write_run_json(run)
    return run


def test_a_deleted_index_is_rebuilt_when_opened(tmp_path: Path) -> None:
    run = in_its_folder(record("nightly", 1, folder=tmp_path / "process"))

    with open_index(Workspace(tmp_path)) as store:
        assert store.latest_id("nightly") == run.id


def test_a_state_db_deleted_under_a_long_lived_store_is_reopened_and_refilled(tmp_path: Path) -> None:
    old = in_its_folder(record("nightly", 1, folder=tmp_path / "process"))
    with open_index(Workspace(tmp_path)) as store:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store.path}{suffix}").unlink(missing_ok=True)

        store.save_run(record("nightly", 2))

    with Store(tmp_path / ".taskctl" / "state.db") as fresh:
        assert [r.id for r in fresh.runs()] == ["nightly/2026-11-22_13-02-00", old.id]


# -- a failing state DB: one sentence, never a traceback ------------------------------------------------


def test_a_corrupt_index_is_one_sentence_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, just garbage bytes" * 100)

    with pytest.raises(IndexCorruptError) as caught:
        Store(path, label=".taskctl/state.db")

    assert caught.value.message == (
        "the run index .taskctl/state.db is damaged (file is not a database); run 'taskctl history --rebuild' "
        "to move it aside and rebuild it from the run folders."
    )


def test_a_damaged_index_is_moved_aside_with_its_journal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"garbage")
    Path(f"{path}-wal").write_bytes(b"more garbage")

    moved = move_aside(path, "20261122-130000")

    assert moved == tmp_path / "state.db.corrupt-20261122-130000"
    assert moved.read_bytes() == b"garbage"
    assert Path(f"{moved}-wal").read_bytes() == b"more garbage"
    assert not path.exists()


def test_a_lock_held_past_the_busy_timeout_fails_writes_in_one_sentence_and_reads_go_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with Store(path) as store:
        store.save_run(record("p", 1))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with Store(path, busy_timeout=0.2, label="state.db") as store:
            assert [r.id for r in store.runs()] == ["p/2026-11-22_13-01-00"]
            with pytest.raises(IndexUnavailableError) as caught:
                store.save_run(record("p", 2))
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert caught.value.message == (
        "the run index state.db is locked by another process (database is locked); try again when it has "
        "finished."
    )


class _FullDisk(sqlite3.Connection):
    """A connection to a database on a disk that is full: every write fails as SQLite reports it."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "COMMIT"):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every state DB opened from now on sits on a full disk (in-memory ones excepted)."""
    real = store_module.connect

    def connect(path: Path | str, timeout: float, uri: bool = False) -> sqlite3.Connection:
        if str(path) == ":memory:":
            return real(path, timeout, uri)
        return sqlite3.connect(path, timeout=timeout, isolation_level=None, uri=uri, factory=_FullDisk)

    monkeypatch.setattr(store_module, "connect", connect)


def test_a_full_disk_fails_a_write_in_one_sentence_and_rolls_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    fill_the_disk(monkeypatch)
    with Store(path, label="state.db") as store:
        with pytest.raises(IndexUnavailableError) as caught:
            store.save_run(record("p", 1))
        assert store.runs() == []

    assert caught.value.message == (
        "cannot write the run index state.db: database or disk is full; free some disk space (run.json in each "
        "run folder keeps the record)."
    )


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


def test_run_ages_are_what_the_listing_says_newest_first(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        store.save_many([record("nightly", 1), record("nightly", 2, RunStatus.FAILED), record("hourly", 3)])

        ages = store.run_ages("nightly")

        assert ages == [(r.id, r.started, r.status) for r in store.runs("nightly")]
        assert [status for _, _, status in ages] == [RunStatus.FAILED, RunStatus.SUCCEEDED]
        assert ages[0][1].utcoffset() is not None


def test_a_group_writer_commits_the_rows_of_many_threads_before_each_save_returns(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    writer = GroupWriter(workspace)
    seen: dict[int, bool] = {}

    def save(minute: int) -> None:
        writer.save_run(record("p", minute, RunStatus.RUNNING))
        writer.save_run(record("p", minute))  # the end of the same run, after its start
        with open_index(workspace) as reader:  # committed: another connection reads it at once
            row = reader.get(f"p/2026-11-22_13-{minute:02d}-00")
            seen[minute] = row is not None and row.status is RunStatus.SUCCEEDED

    threads = [threading.Thread(target=save, args=(minute,)) for minute in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    writer.close()

    assert seen == {minute: True for minute in range(20)}
    with open_index(workspace) as reader:
        assert len(reader.runs(limit=None)) == 20
    with pytest.raises(IndexUnavailableError, match="stopped"):
        writer.save_run(record("p", 30))


def test_a_group_writer_reports_a_failed_commit_to_each_caller_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace(tmp_path)
    open_index(workspace).close()
    writer = GroupWriter(workspace)
    writer.save_run(record("p", 1))  # the writer's connection is open before the disk fills
    full = [True]

    def full_disk(self: Transaction, row: RunRow) -> None:
        if full[0]:
            raise sqlite3.OperationalError("database or disk is full")
        self.execute(store_module._SAVE_RUN, store_module._values(row))

    monkeypatch.setattr(Transaction, "save_row", full_disk)
    with pytest.raises(IndexUnavailableError, match="disk is full"):
        writer.save_run(record("p", 2))
    full[0] = False
    writer.save_run(record("p", 3))
    writer.close()

    with open_index(workspace) as reader:
        assert [row.id for row in reader.runs()] == ["p/2026-11-22_13-03-00", "p/2026-11-22_13-01-00"]
