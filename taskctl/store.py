"""The state DB (`.taskctl/state.db`): one class owns the SQLite connection, the schema and transactions.

The run index here is a copy of the run folders' run.json files (rebuildable with `rebuild`). The daemon adds
its own tables (slot claims, schedule cursors) by appending to `MIGRATIONS`; a migration is never edited once
released, because `PRAGMA user_version` records how many have been applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from taskctl.runs import (
    RUN_JSON,
    RunJsonError,
    RunRecord,
    RunStatus,
    Trigger,
    parse_utc,
    read_run_json,
    utc_text,
)

MIGRATIONS: list[str] = [
    # 1: the run index. `started` is fixed-width UTC text, so text order is time order.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        process TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        scheduled_for TEXT,
        started TEXT NOT NULL,
        finished TEXT,
        duration REAL,
        failed_thread TEXT,
        current_thread TEXT,
        progress TEXT,
        pid INTEGER,
        pid_start INTEGER,
        child_pgid INTEGER,
        owner TEXT NOT NULL DEFAULT 'cli',
        user TEXT NOT NULL DEFAULT '',
        host TEXT NOT NULL DEFAULT '',
        config_revision TEXT NOT NULL DEFAULT '',
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_started ON runs (started);
    CREATE INDEX runs_by_process ON runs (process, started);
    CREATE INDEX runs_by_status ON runs (status, started);
    CREATE INDEX runs_by_process_status ON runs (process, status, started);
    -- counts by status without scanning a million rows, kept by triggers
    CREATE TABLE run_counts (
        process TEXT NOT NULL,
        status TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (process, status)
    ) WITHOUT ROWID;
    CREATE TRIGGER run_counts_insert AFTER INSERT ON runs BEGIN
        INSERT INTO run_counts VALUES (new.process, new.status, 1)
            ON CONFLICT (process, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER run_counts_update AFTER UPDATE OF status ON runs WHEN old.status IS NOT new.status BEGIN
        UPDATE run_counts SET n = n - 1 WHERE process = old.process AND status = old.status;
        INSERT INTO run_counts VALUES (new.process, new.status, 1)
            ON CONFLICT (process, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER run_counts_delete AFTER DELETE ON runs BEGIN
        UPDATE run_counts SET n = n - 1 WHERE process = old.process AND status = old.status;
    END;
    """,
]

_COLUMNS = [
    "id", "process", "trigger", "status", "scheduled_for", "started", "finished", "duration",
    "failed_thread", "current_thread", "progress", "pid", "pid_start", "child_pgid", "owner",
    "user", "host", "config_revision", "error", "cancel_requested",
]  # fmt: skip
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM runs"
_SAVED = [c for c in _COLUMNS if c != "cancel_requested"]  # a save never clears a cancel request
# built once: save_run is called at every state change of every run
_SAVE_RUN = (
    f"INSERT INTO runs ({', '.join(_SAVED)}) VALUES ({', '.join('?' for _ in _SAVED)}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in _SAVED if n != 'id')}"
)


@dataclass(frozen=True)
class RunRow:
    """One run as the index knows it."""

    id: str
    process: str
    trigger: Trigger
    status: RunStatus
    scheduled_for: datetime | None
    started: datetime
    finished: datetime | None
    duration: float | None
    failed_thread: str | None
    current_thread: str | None
    progress: str | None
    pid: int | None
    pid_start: int | None
    child_pgid: int | None
    owner: str
    user: str
    host: str
    config_revision: str
    error: str | None
    cancel_requested: bool

    def to_json(self) -> dict[str, Any]:
        """The row for `--json` listings: snake_case keys, UTC instants, seconds."""
        return {
            "id": self.id,
            "process": self.process,
            "trigger": str(self.trigger),
            "status": str(self.status),
            "scheduled_for": utc_text(self.scheduled_for),
            "started": utc_text(self.started),
            "finished": utc_text(self.finished),
            "duration": self.duration,
            "failed_thread": self.failed_thread,
            "current_thread": self.current_thread,
            "progress": self.progress,
            "user": self.user,
            "host": self.host,
            "config_revision": self.config_revision,
            "error": self.error,
        }


@dataclass
class RebuildReport:
    """What `rebuild` found: how many runs were indexed and which run folders could not be read."""

    runs: int = 0
    problems: list[str] = field(default_factory=list)


class Store:
    """The state DB of one workspace. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path, busy_timeout: float = 10.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.created = not path.exists() or path.stat().st_size == 0
        self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for modules that own their own tables (the daemon's)."""
        return self._db

    def _migrate(self) -> None:
        with self.transaction():
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE, so check-then-insert is atomic across processes)."""
        if self._db.in_transaction:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing -------------------------------------------------------------------------------------

    def save_run(self, record: RunRecord) -> None:
        """Insert or update the index row of `record` (called at every state change of a run)."""
        current = record.current
        values = {
            "id": record.id,
            "process": record.process,
            "trigger": str(record.trigger),
            "status": str(record.status),
            "scheduled_for": utc_text(record.scheduled_for),
            "started": utc_text(record.started),
            "finished": utc_text(record.finished),
            "duration": record.duration,
            "failed_thread": record.failed_thread,
            "current_thread": current.name if current else None,
            "progress": current.progress.text() if current and current.progress else None,
            "pid": record.pid,
            "pid_start": record.pid_start,
            "child_pgid": record.child_pgid,
            "owner": record.owner,
            "user": record.user,
            "host": record.host,
            "config_revision": record.config_revision,
            "error": record.error,
        }
        with self.transaction() as db:
            db.execute(_SAVE_RUN, [values[name] for name in _SAVED])

    def save_many(self, records: Sequence[RunRecord]) -> None:
        """Index many runs in one transaction."""
        with self.transaction():
            for record in records:
                self.save_run(record)

    def set_status(
        self, run_id: str, status: RunStatus, finished: datetime | None, error: str | None
    ) -> None:
        """Change a run's status in the index alone (for runs whose runner is gone)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished = ?, current_thread = NULL, progress = NULL, "
                "child_pgid = NULL, error = COALESCE(?, error), "
                "duration = ROUND((julianday(?) - julianday(started)) * 86400, 3) WHERE id = ?",
                (str(status), utc_text(finished), error, _sqlite_time(finished), run_id),
            )

    def request_cancel(self, run_id: str) -> None:
        """Mark a run as asked to stop (the daemon watches this for runs it owns)."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Remove these runs from the index in one transaction (their folders are the caller's business);
        returns how many rows there were."""
        with self.transaction() as db:
            return db.executemany("DELETE FROM runs WHERE id = ?", [(run_id,) for run_id in run_ids]).rowcount

    def rebuild(self, process_dir: Path) -> RebuildReport:
        """Recreate the run index from the run.json files under `process_dir`; reports unreadable ones."""
        report = RebuildReport()
        records: list[RunRecord] = []
        for run_json in sorted(process_dir.glob(f"*/*/{RUN_JSON}")) if process_dir.is_dir() else []:
            folder = run_json.parent
            try:
                record = read_run_json(folder)
            except RunJsonError as exc:
                report.problems.append(str(exc))
                continue
            expected = f"{folder.parent.name}/{folder.name}"
            if record.id != expected:
                report.problems.append(
                    f"{run_json} says its id is '{record.id}', expected '{expected}'; skipped"
                )
                continue
            records.append(record)
        for folder in sorted(process_dir.glob("*/*")) if process_dir.is_dir() else []:
            if folder.is_dir() and not (folder / RUN_JSON).exists():
                report.problems.append(f"{folder / RUN_JSON} is missing")
        with self.transaction() as db:
            db.execute("DELETE FROM runs")
            db.execute("DELETE FROM run_counts")
            self.save_many(records)
        report.runs = len(records)
        return report

    # -- reading -------------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRow | None:
        """The run with exactly this id, or None."""
        row = self._db.execute(f"{_SELECT} WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _row(row)

    def runs(
        self,
        process: str | None = None,
        statuses: Sequence[RunStatus] = (),
        since: datetime | None = None,
        limit: int | None = 50,
    ) -> list[RunRow]:
        """The newest runs first, filtered by process, statuses and start time."""
        where: list[str] = []
        params: list[Any] = []
        if process is not None:
            where.append("process = ?")
            params.append(process)
        if len(statuses) == 1:
            where.append("status = ?")
            params.append(str(statuses[0]))
        elif statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(str(s) for s in statuses)
        if since is not None:
            where.append("started >= ?")
            params.append(utc_text(since))
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row(r) for r in self._db.execute(sql, params)]

    def active(self, process: str | None = None) -> list[RunRow]:
        """Runs that are queued or running (oldest first), of one process or all."""
        rows = self.runs(process, (RunStatus.QUEUED, RunStatus.RUNNING), limit=None)
        return rows[::-1]

    def ids_with_prefix(self, prefix: str, limit: int = 20) -> list[str]:
        """Run ids starting with `prefix` (an index range scan, not LIKE)."""
        rows = self._db.execute(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [r[0] for r in rows]

    def latest_id(self, process: str) -> str | None:
        """The id of the newest run of `process`, or None."""
        row = self._db.execute(
            "SELECT id FROM runs WHERE process = ? ORDER BY started DESC, id DESC LIMIT 1", (process,)
        ).fetchone()
        return None if row is None else str(row[0])

    def processes(self) -> list[str]:
        """Every process that has runs in the index."""
        rows = self._db.execute("SELECT DISTINCT process FROM run_counts WHERE n > 0 ORDER BY process")
        return [r[0] for r in rows]

    def counts_by_status(self, process: str | None = None, since: datetime | None = None) -> dict[str, int]:
        """How many runs have each status (all time from the counters, or since a moment from the index)."""
        if since is None:
            sql = "SELECT status, SUM(n) FROM run_counts"
            params: list[Any] = []
            if process is not None:
                sql += " WHERE process = ?"
                params.append(process)
            rows = self._db.execute(sql + " GROUP BY status", params)
        else:
            # the planner would rather walk the status index to group; a time range is far smaller
            if process is None:
                sql = "SELECT status, COUNT(*) FROM runs INDEXED BY runs_by_started WHERE started >= ?"
                params = [utc_text(since)]
            else:
                sql = (
                    "SELECT status, COUNT(*) FROM runs INDEXED BY runs_by_process "
                    "WHERE process = ? AND started >= ?"
                )
                params = [process, utc_text(since)]
            rows = self._db.execute(sql + " GROUP BY status", params)
        return {str(status): int(n) for status, n in rows if n}


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement keeps trigger bodies whole)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not pending.strip():
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _sqlite_time(moment: datetime | None) -> str | None:
    text = utc_text(moment)
    return None if text is None else text.rstrip("Z")


def _row(row: Sequence[Any]) -> RunRow:
    data = dict(zip(_COLUMNS, row, strict=True))
    started = parse_utc(data["started"])
    assert started is not None
    return RunRow(
        id=data["id"],
        process=data["process"],
        trigger=Trigger(data["trigger"]),
        status=RunStatus(data["status"]),
        scheduled_for=parse_utc(data["scheduled_for"]),
        started=started,
        finished=parse_utc(data["finished"]),
        duration=data["duration"],
        failed_thread=data["failed_thread"],
        current_thread=data["current_thread"],
        progress=data["progress"],
        pid=data["pid"],
        pid_start=data["pid_start"],
        child_pgid=data["child_pgid"],
        owner=data["owner"],
        user=data["user"],
        host=data["host"],
        config_revision=data["config_revision"],
        error=data["error"],
        cancel_requested=bool(data["cancel_requested"]),
    )


def open_index(state_db: Path, process_dir: Path) -> Store:
    """The state DB of a workspace; a new (or deleted) DB is filled from the run folders at once."""
    store = Store(state_db)
    if store.created and process_dir.is_dir():
        store.rebuild(process_dir)
    return store
