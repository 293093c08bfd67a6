"""The state DB (`.taskctl/state.db`): one class owns the SQLite connection, the schema and transactions.

The run index here is a cache of the run folders' run.json files: `rebuild` recreates it, and a reader that
finds it behind a run.json brings it up to date. A module that owns tables of its own (the daemon's slot
cursors) appends a migration to `MIGRATIONS` and works in `Store.transaction()`; a migration is never edited
once released, because `PRAGMA user_version` records how many have been applied.

A `Store` belongs to the thread that opened it (SQLite connections must not be shared across threads): open
one per thread. Write transactions are short: nothing sleeps, waits for a process or writes a file inside one.
"""

from __future__ import annotations

import operator
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, Protocol

from taskctl.errors import TaskctlError
from taskctl.runs import (
    ACTIVE_STATUSES,
    RUN_JSON,
    RunFields,
    RunId,
    RunJsonError,
    RunRecord,
    RunStatus,
    TestCounts,
    field_codecs,
    read_run_json,
    same,
    utc_text,
)
from taskctl.workspace import Workspace

BUSY_TIMEOUT = 10.0  # seconds a write waits for another writer before giving up

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
    # 2: one schedule slot, one run: the daemon claims a slot by inserting its run. A slot recorded as missed
    # is a row without a run folder.
    """
    ALTER TABLE runs ADD COLUMN has_folder INTEGER NOT NULL DEFAULT 1;
    CREATE UNIQUE INDEX runs_by_slot ON runs (process, scheduled_for) WHERE scheduled_for IS NOT NULL;
    """,
    # 3: the test counts of a run's test threads, for `history --json`
    """
    ALTER TABLE runs ADD COLUMN tests TEXT;
    """,
    # 4: the daemon's schedule state. A cursor says every slot of one schedule at or before it has been
    # handled (run, skipped or recorded missed); a fired one-shot never fires again. A missed-slot row that
    # stands for several slots has its count in `missed_counts` (none: the row is one slot), which follows
    # the row when retention removes it.
    """
    CREATE TABLE schedule_cursors (
        process TEXT NOT NULL,
        schedule TEXT NOT NULL,
        cursor TEXT NOT NULL,
        PRIMARY KEY (process, schedule)
    ) WITHOUT ROWID;
    CREATE TABLE fired_one_shots (
        process TEXT NOT NULL,
        schedule TEXT NOT NULL,
        fired_for TEXT NOT NULL,
        PRIMARY KEY (process, schedule)
    ) WITHOUT ROWID;
    CREATE TABLE missed_counts (
        id TEXT PRIMARY KEY,
        count INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TRIGGER missed_counts_delete AFTER DELETE ON runs WHEN old.has_folder = 0 BEGIN
        DELETE FROM missed_counts WHERE id = old.id;
    END;
    """,
]


# -- errors ------------------------------------------------------------------------------------------


class IndexUnavailableError(TaskctlError):
    """The run index cannot be read or written now (locked, full disk, I/O error)."""


class IndexCorruptError(IndexUnavailableError):
    """The run index file is damaged; `taskctl history --rebuild` moves it aside and rebuilds it."""


class SlotTakenError(TaskctlError):
    """A run for this schedule slot already exists: one slot, one run."""


def _problem(exc: sqlite3.Error, label: str) -> IndexUnavailableError:
    """The one sentence a user reads for an SQLite failure of the run index."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    text = str(exc)
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "malformed" in text
        or "not a database" in text
    ):
        return IndexCorruptError(
            f"the run index {label} is damaged ({text}); run 'taskctl history --rebuild' to move it aside "
            "and rebuild it from the run folders."
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return IndexUnavailableError(
            f"the run index {label} is locked by another process ({text}); try again when it has finished."
        )
    if name == "SQLITE_FULL" or "full" in text:
        return IndexUnavailableError(
            f"cannot write the run index {label}: {text}; free some disk space (run.json in each run folder "
            "keeps the record)."
        )
    return IndexUnavailableError(f"cannot use the run index {label}: {text}.")


# -- the index row: RunFields plus what the index adds ---------------------------------------------------


@dataclass(kw_only=True)
class RunRow(RunFields):
    """One run as the index knows it: the declared run fields and a summary of its threads."""

    failed_thread: str | None = None
    current_thread: str | None = None
    progress: str | None = None
    cancel_requested: bool = False  # set by `taskctl cancel`; a runner's save never clears it
    has_folder: bool = True  # False for a schedule slot recorded as missed: an index row only
    tests: TestCounts | None = None  # its test threads' counts added up

    @classmethod
    def of(cls, record: RunRecord, has_folder: bool = True) -> RunRow:
        current = record.current
        values = {name: getattr(record, name) for name in _RUN_FIELD_NAMES}
        return cls(
            **values,
            failed_thread=record.failed_thread,
            current_thread=current.name if current else None,
            progress=current.progress.text() if current and current.progress else None,
            has_folder=has_folder,
            tests=record.tests,
        )

    def to_json(self) -> dict[str, Any]:
        """The row for `--json` listings: snake_case keys, UTC instants, seconds."""
        values = {name: codec.encode(getattr(self, name)) for name, codec in _ROW_CODECS.items()}
        shown = {name: value for name, value in values.items() if name not in _PRIVATE}
        tests = None if self.tests is None else self.tests.to_json()
        return {**shown, "tests": tests, "duration": self.duration}


_RUN_FIELD_NAMES = list(field_codecs(RunFields))
_ROW_CODECS = field_codecs(RunRow)
_PRIVATE = {"pid", "pid_start", "child_pgid", "owner", "cancel_requested", "has_folder"}
_COLUMNS = list(_ROW_CODECS)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM runs"
_SAVED = [c for c in _COLUMNS if c != "cancel_requested"] + ["duration"]  # a save never clears a request
_INSERT_RUN = f"INSERT INTO runs ({', '.join(_SAVED)}) VALUES ({', '.join('?' for _ in _SAVED)})"
# What a save changes; the rest is fixed when the run is created, and leaving it out spares its indexes.
_FIXED = {
    "id",
    "process",
    "trigger",
    "started",
    "scheduled_for",
    "config_revision",
    "user",
    "host",
    "has_folder",
}
_SAVE_RUN = f"{_INSERT_RUN} ON CONFLICT (id) DO UPDATE SET " + ", ".join(
    f"{n} = excluded.{n}" for n in _SAVED if n not in _FIXED
)
_NEWEST_FIRST = "ORDER BY started DESC, length(id) DESC, id DESC"  # `-10` after `-9` in the same second


# The saved columns but `duration` (last), read in one call, and the encoder of each that needs one.
_GET_SAVED = operator.attrgetter(*_SAVED[:-1])
_ENCODE_SAVED = [
    None if _ROW_CODECS[name].encode is same else _ROW_CODECS[name].encode for name in _SAVED[:-1]
]


def _values(row: RunRow) -> list[Any]:
    values = [
        v if encode is None else encode(v) for v, encode in zip(_GET_SAVED(row), _ENCODE_SAVED, strict=True)
    ]
    values.append(row.duration)
    return values


def _row(values: Sequence[Any]) -> RunRow:
    data = dict(zip(_COLUMNS, values, strict=True))
    return RunRow(**{name: codec.decode(data[name]) for name, codec in _ROW_CODECS.items()})


@dataclass
class RebuildReport:
    """What `rebuild` found: how many runs were indexed and which run folders could not be read."""

    runs: int = 0
    problems: list[str] = field(default_factory=list)
    moved_aside: Path | None = None  # where a damaged index was moved before the rebuild


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: Path) -> threading.Lock:
    """The lock the threads of this process take in turn to write `path`. SQLite makes a writer that finds
    the database locked sleep and retry (1, 2, 5, 10... ms): with many threads writing at once (a daemon
    starting 200 runs in one second) those sleeps, not the writes, would be what takes time."""
    key = os.path.abspath(path)
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.Lock())


def connect(path: Path | str, timeout: float, uri: bool = False) -> sqlite3.Connection:
    """Open an SQLite connection (the one place that does; tests replace it to inject disk faults)."""
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, uri=uri)


class _Queries:
    """The reads of the run index, shared by `Store` and `Transaction`."""

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def get(self, run_id: str) -> RunRow | None:
        """The run with exactly this id, or None."""
        rows = self._rows(f"{_SELECT} WHERE id = ?", (run_id,))
        return _row(rows[0]) if rows else None

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
        sql += f" {_NEWEST_FIRST}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row(r) for r in self._rows(sql, params)]

    def run_ages(self, process: str) -> list[tuple[RunId, datetime, RunStatus]]:
        """(id, started, status) of every run of `process`, newest first: what retention chooses from, without
        decoding whole rows (a hundred thousand rows cost seconds that way)."""
        sql = f"SELECT id, started, status FROM runs WHERE process = ? {_NEWEST_FIRST}"
        rows = self._rows(sql, (process,))
        started_of = _ROW_CODECS["started"].decode
        return [(RunId(run_id), started_of(started), RunStatus(status)) for run_id, started, status in rows]

    def finished_durations(self, since: datetime) -> list[tuple[str, str, float]]:
        """(process, status, duration) of the runs that started at or after `since` and have finished with a
        folder, oldest first: what /metrics summarises, without decoding whole rows."""
        rows = self._rows(
            "SELECT process, status, duration FROM runs INDEXED BY runs_by_started "
            "WHERE started >= ? AND duration IS NOT NULL AND has_folder = 1 ORDER BY started",
            (utc_text(since),),
        )
        return [(str(process), str(status), float(duration)) for process, status, duration in rows]

    def active(self, process: str | None = None) -> list[RunRow]:
        """Runs that are queued or running (oldest first), of one process or all."""
        return self.runs(process, ACTIVE_STATUSES, limit=None)[::-1]

    def active_of(self, processes: Iterable[str]) -> dict[str, list[RunRow]]:
        """`active(process)` of each of `processes`, in one query."""
        found: dict[str, list[RunRow]] = {name: [] for name in processes}
        if found:
            statuses = [str(s) for s in ACTIVE_STATUSES]
            rows = self._rows(
                f"{_SELECT} WHERE status IN ({', '.join('?' for _ in statuses)}) "
                f"AND process IN ({', '.join('?' for _ in found)}) {_NEWEST_FIRST}",
                [*statuses, *found],
            )
            for values in reversed(rows):
                row = _row(values)
                found[row.process].append(row)
        return found

    def ids_with_prefix(self, prefix: str, limit: int | None = 20) -> list[RunId]:
        """Run ids starting with `prefix` (an index range scan, not LIKE), in run order."""
        rows = self._rows(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\U0010ffff", -1 if limit is None else limit),
        )
        return sorted((RunId(r[0]) for r in rows), key=RunId.sort_key)

    def highest_number(self, process: str, stamp: str) -> int:
        """The highest `-N` among the runs of `process` whose folder is `stamp` or `stamp-N` (1 for `stamp`
        alone, 0 for none)."""
        base = RunId.of(process, stamp)
        return self.highest_numbers([base])[base]

    def highest_numbers(self, bases: Iterable[RunId]) -> dict[RunId, int]:
        """`highest_number` of each run id `<process>/<stamp>` of `bases`, in one query."""
        found = dict.fromkeys(bases, 0)
        if found:
            rows = self._rows(
                f"WITH base (id) AS (VALUES {', '.join('(?)' for _ in found)}) "
                "SELECT base.id, MAX(CASE WHEN runs.id = base.id THEN 1 "
                "ELSE CAST(substr(runs.id, length(base.id) + 2) AS INTEGER) END) FROM base "
                "JOIN runs ON runs.id >= base.id AND runs.id < base.id || '.' "  # '.' sorts right after '-'
                "GROUP BY base.id",
                list(found),
            )
            for base, number in rows:
                found[RunId(base)] = int(number or 0)
        return found

    def latest_id(self, process: str) -> RunId | None:
        """The id of the newest run of `process`, or None."""
        rows = self._rows(f"SELECT id FROM runs WHERE process = ? {_NEWEST_FIRST} LIMIT 1", (process,))
        return RunId(rows[0][0]) if rows else None

    def processes(self) -> list[str]:
        """Every process that has runs in the index."""
        rows = self._rows("SELECT DISTINCT process FROM run_counts WHERE n > 0 ORDER BY process")
        return [r[0] for r in rows]

    def cancel_requested(self, run_ids: Iterable[str]) -> set[RunId]:
        """Which of `run_ids` someone asked to cancel (the daemon polls this for the runs it owns)."""
        wanted = list(run_ids)
        if not wanted:
            return set()
        marks = ", ".join("?" for _ in wanted)
        rows = self._rows(f"SELECT id FROM runs WHERE cancel_requested = 1 AND id IN ({marks})", wanted)
        return {RunId(r[0]) for r in rows}

    def counts_by_status(self, process: str | None = None, since: datetime | None = None) -> dict[str, int]:
        """How many runs have each status (all time from the counters, or since a moment from the index)."""
        if since is None:
            sql = "SELECT status, SUM(n) FROM run_counts"
            params: list[Any] = []
            if process is not None:
                sql += " WHERE process = ?"
                params.append(process)
            rows = self._rows(sql + " GROUP BY status", params)
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
            rows = self._rows(sql + " GROUP BY status", params)
        return {str(status): int(n) for status, n in rows if n}


class Transaction(_Queries):
    """One write transaction (BEGIN IMMEDIATE): what is read inside it cannot change before it commits.

    Modules that own tables use `execute` and `query`; the run index has typed methods. Keep it short: no
    sleeping, waiting or file writing while it is open.
    """

    def __init__(self, store: Store, db: sqlite3.Connection) -> None:
        self._store = store
        self._db = db
        self.open = True

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed. IntegrityError passes through."""
        self._check()
        try:
            return self._db.execute(sql, params).rowcount
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise _problem(exc, self._store.label) from None

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each of `rows` (a bulk insert)."""
        self._check()
        try:
            self._db.executemany(sql, rows)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise _problem(exc, self._store.label) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one SELECT."""
        return self._rows(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._check()
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _problem(exc, self._store.label) from None

    def _check(self) -> None:
        if not self.open:
            raise RuntimeError("this transaction has ended; open a new one with Store.transaction()")
        self._store.check_thread()

    def insert_run(self, row: RunRow) -> None:
        """Add a new run. Raises SlotTakenError if a run already fills its schedule slot."""
        try:
            self.execute(_INSERT_RUN, _values(row))
        except sqlite3.IntegrityError as exc:
            if row.scheduled_for is not None and "scheduled_for" in str(exc):
                raise SlotTakenError(
                    f"{row.process} already has a run for the slot {utc_text(row.scheduled_for)}."
                ) from None
            raise TaskctlError(f"the run index already has a run with id '{row.id}'.") from None

    def save_run(self, record: RunRecord) -> None:
        """Insert or update the index row of `record`."""
        self.save_row(RunRow.of(record))

    def save_row(self, row: RunRow) -> None:
        """Insert or update an index row."""
        self.execute(_SAVE_RUN, _values(row))

    def set_status(
        self, run_id: str, status: RunStatus, finished: datetime | None, error: str | None
    ) -> None:
        """Change a run's status in the index alone (for a run whose run.json cannot be written)."""
        self.execute(
            "UPDATE runs SET status = ?, finished = ?, current_thread = NULL, progress = NULL, "
            "child_pgid = NULL, error = COALESCE(?, error), "
            "duration = ROUND((julianday(?) - julianday(started)) * 86400, 3) WHERE id = ?",
            (str(status), utc_text(finished), error, _sqlite_time(finished), run_id),
        )

    def request_cancel(self, run_id: str) -> None:
        """Mark a run as asked to stop."""
        self.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Remove these runs from the index (their folders are the caller's business); returns how many."""
        removed = 0
        for run_id in run_ids:
            removed += self.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return removed


class Store(_Queries):
    """The state DB of one workspace, for the thread that opens it. Use as a context manager, or `close()`.

    `read_only_fallback` is for commands that only read: when the index cannot be opened for writing (a full
    disk, say) they still read it, or, failing that, an in-memory copy rebuilt from `process_dir`.
    """

    def __init__(
        self,
        path: Path,
        busy_timeout: float | None = None,
        label: str | None = None,
        process_dir: Path | None = None,
        read_only_fallback: bool = False,
    ) -> None:
        self.path = path
        self.label = label or str(path)
        self.process_dir = process_dir
        self.read_only = False
        self._thread = threading.get_ident()
        self._timeout = BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        self._in_transaction = False
        self._writer = _writer_lock(path)
        self._inode: int | None = None
        try:
            self._open()
        except IndexCorruptError:
            raise
        except IndexUnavailableError:
            if not read_only_fallback:
                raise
            self._open_read_only()

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.created = not self.path.exists() or self.path.stat().st_size == 0
        except OSError as exc:
            raise IndexUnavailableError(f"cannot use the run index {self.label}: {exc.strerror}.") from None
        try:
            self._db = connect(self.path, self._timeout)
        except sqlite3.Error as exc:
            raise _problem(exc, self.label) from None
        try:
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._inode = os.stat(self.path).st_ino
        except (sqlite3.Error, OSError) as exc:
            self._db.close()
            if isinstance(exc, OSError):
                raise IndexUnavailableError(f"cannot use the run index {self.label}: {exc}.") from None
            raise _problem(exc, self.label) from None
        if self.created and self.process_dir is not None:
            try:
                self.rebuild(self.process_dir)
            except IndexUnavailableError:
                self._db.close()
                raise

    def _open_read_only(self) -> None:
        """Read the index as it is on disk without writing a byte; else an in-memory index of the folders."""
        self.read_only = True
        if self.path.is_file() and self.path.stat().st_size > 0:
            db = connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", self._timeout, uri=True)
            try:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version >= len(MIGRATIONS):
                    self._db = db
                    self.created = False
                    return
            except sqlite3.Error:
                pass
            db.close()
        self._db = connect(":memory:", self._timeout)
        self._migrate()
        self.created = True
        if self.process_dir is not None:
            self._fill(self.process_dir, RebuildReport())

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def check_thread(self) -> None:
        """Raise if called from another thread than the one that opened this Store."""
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "a Store was used from a thread that did not open it; open one Store per thread"
            )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one SELECT, outside a transaction (for modules that own tables of their own)."""
        return self._rows(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.check_thread()
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _problem(exc, self.label) from None

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version >= len(MIGRATIONS):
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")
        except BaseException:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _reopen_if_replaced(self) -> None:
        """A state.db deleted or replaced under a long-lived Store (`rm .taskctl/state.db*`) is reopened, so
        writes do not go on into a file nobody reads."""
        try:
            inode: int | None = os.stat(self.path).st_ino
        except OSError:
            inode = None
        if inode != self._inode:
            self._db.close()
            self._open()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction. Transactions do not nest: opening one inside another is an error."""
        self.check_thread()
        if self._in_transaction:
            raise RuntimeError("a transaction is already open on this Store; transactions do not nest")
        if self.read_only:
            raise IndexUnavailableError(
                f"the run index {self.label} can only be read now (it could not be opened for writing)."
            )
        self._reopen_if_replaced()  # outside the writer lock: a reopen may rebuild, in transactions
        with self._writer:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _problem(exc, self.label) from None
            self._in_transaction = True
            tx = Transaction(self, self._db)
            try:
                yield tx
                self._db.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                    raise _problem(exc, self.label) from None
                raise
            finally:
                tx.open = False
                self._in_transaction = False

    # -- writing, one transaction each ----------------------------------------------------------------

    def save_run(self, record: RunRecord) -> None:
        """Insert or update the index row of `record`."""
        with self.transaction() as tx:
            tx.save_run(record)

    def save_many(self, records: Sequence[RunRecord]) -> None:
        """Index many runs in one transaction."""
        with self.transaction() as tx:
            for record in records:
                tx.save_run(record)

    def set_status(
        self, run_id: str, status: RunStatus, finished: datetime | None, error: str | None
    ) -> None:
        """Change a run's status in the index alone (for a run whose run.json cannot be written)."""
        with self.transaction() as tx:
            tx.set_status(run_id, status, finished, error)

    def request_cancel(self, run_id: str) -> None:
        """Mark a run as asked to stop (the daemon watches this for runs it owns)."""
        with self.transaction() as tx:
            tx.request_cancel(run_id)

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Remove these runs from the index in one transaction; returns how many rows there were."""
        with self.transaction() as tx:
            return tx.delete_runs(run_ids)

    def rebuild(self, process_dir: Path) -> RebuildReport:
        """Recreate the run index from the run.json files under `process_dir`; reports unreadable ones.

        Rows without a run folder (slots recorded as missed) are kept.
        """
        report = RebuildReport()
        records = _read_folders(process_dir, report)
        with self.transaction() as tx:
            tx.execute("DELETE FROM runs WHERE has_folder = 1")
            _insert_all(tx, records, report)
        return report

    def _fill(self, process_dir: Path, report: RebuildReport) -> None:
        """Fill an in-memory index (read-only mode) from the run folders."""
        self._db.execute("BEGIN")
        tx = Transaction(self, self._db)
        _insert_all(tx, _read_folders(process_dir, report), report)
        self._db.execute("COMMIT")


def _read_folders(process_dir: Path, report: RebuildReport) -> list[RunRecord]:
    records: list[RunRecord] = []
    for run_json in sorted(process_dir.glob(f"*/*/{RUN_JSON}")) if process_dir.is_dir() else []:
        folder = run_json.parent
        try:
            record = read_run_json(folder)
        except RunJsonError as exc:
            report.problems.append(str(exc))
            continue
        expected = f"{folder.parent.name}/{folder.name}"  # where it lies
        if record.id != expected:
            report.problems.append(f"{run_json} says its id is '{record.id}', expected '{expected}'; skipped")
            continue
        records.append(record)
    for folder in sorted(process_dir.glob("*/*")) if process_dir.is_dir() else []:
        if folder.is_dir() and not folder.name.startswith(".") and not (folder / RUN_JSON).exists():
            report.problems.append(f"{folder / RUN_JSON} is missing")
    return records


def _insert_all(tx: Transaction, records: Sequence[RunRecord], report: RebuildReport) -> None:
    for record in records:
        try:
            tx.save_run(record)
        except sqlite3.IntegrityError:
            report.problems.append(
                f"{record.folder / RUN_JSON} fills the same schedule slot as another run; skipped"
            )
            continue
        report.runs += 1


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


def open_index(workspace: Workspace, read_only_fallback: bool = False) -> Store:
    """The run index of `workspace`; a new (or deleted) one is filled from the run folders at once."""
    return Store(
        workspace.state_db,
        label=workspace.relative(workspace.state_db),
        process_dir=workspace.process_dir,
        read_only_fallback=read_only_fallback,
    )


class RunIndex(Protocol):
    """Where a running run records its changes in the index: a `Store`, or a `GroupWriter` shared by many
    threads."""

    def save_run(self, record: RunRecord) -> None: ...


class _PendingRow:
    """A row handed to the `GroupWriter`; `done` is held until it is committed (a bare lock: the cheapest
    thing for the caller to sleep on)."""

    __slots__ = ("done", "error", "row")

    def __init__(self, row: RunRow) -> None:
        self.row = row
        self.error: IndexUnavailableError | None = None
        self.done = threading.Lock()
        self.done.acquire()


class GroupWriter:
    """Index rows of many threads' runs, saved by one thread through one connection (a group commit).

    `save_run` returns once its row is committed, as `Store.save_run` would: the writer takes whatever rows
    are waiting when it is free and commits them in one transaction, so no row waits on purpose (alone, it is
    written at once), and a daemon ending 200 runs a second pays a few transactions instead of 200. Rows are
    committed in the order they were handed in. Raises IndexUnavailableError when the batch could not be
    committed (the caller's run.json stays the record, as with a Store).
    """

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._queue: SimpleQueue[_PendingRow | None] = SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="taskctl-index-writer", daemon=True)
        self._thread.start()

    def save_run(self, record: RunRecord) -> None:
        """Save the index row of `record` as it is now; returns once it is committed."""
        if self._closed:
            raise IndexUnavailableError("the daemon's index writer has stopped.")
        pending = _PendingRow(RunRow.of(record))
        self._queue.put(pending)
        pending.done.acquire()
        if pending.error is not None:
            raise pending.error

    def close(self, timeout: float = 10.0) -> None:
        """Commit what was handed in, then stop the writer thread."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        store: Store | None = None
        try:
            while True:
                batch = [self._queue.get()]
                with suppress(Empty):
                    while True:
                        batch.append(self._queue.get_nowait())
                rows = [pending for pending in batch if pending is not None]
                if rows:
                    store = self._commit(store, rows)
                if len(rows) < len(batch):
                    return
        finally:
            if store is not None:
                store.close()
            with suppress(Empty):  # rows handed in as it closed: their callers must not wait forever
                while True:
                    late = self._queue.get_nowait()
                    if late is not None:
                        late.error = IndexUnavailableError("the daemon's index writer has stopped.")
                        late.done.release()

    def _commit(self, store: Store | None, rows: list[_PendingRow]) -> Store | None:
        error: IndexUnavailableError | None = None
        try:
            store = store or open_index(self._workspace)
            with store.transaction() as tx:
                for pending in rows:
                    tx.save_row(pending.row)
        except IndexUnavailableError as exc:
            error = exc
        except TaskctlError as exc:
            error = IndexUnavailableError(exc.message)
        except Exception as exc:  # the callers must hear of it, whatever it was, or they would wait forever
            error = IndexUnavailableError(f"the run index could not be written: {exc}")
        for pending in rows:
            pending.error = error
            pending.done.release()
        return store


def move_aside(path: Path, stamp: str) -> Path:
    """Rename a damaged state DB (and its -wal/-shm) to `<name>.corrupt-<stamp>`; returns the new path."""
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, target.with_name(target.name + suffix))
    return target
