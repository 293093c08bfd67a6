"""The scheduler's state in the state DB: schedule cursors, fired one-shots, and claimed slots.

The tables are migration 3 of `taskctl.store.MIGRATIONS`. The slot-claim ledger is the run index itself: its
unique `(process, scheduled_for)` index makes one slot one run, and a missed slot is a row without a folder.
Instants are fixed-width UTC text (`taskctl.runs.utc_text`), so text order is time order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from taskctl.runs import parse_utc, utc_text

if TYPE_CHECKING:
    from taskctl.daemon.scheduler import CursorKey, OneShotKey
    from taskctl.store import Store, Transaction

# A cursor only moves forward: a save that lags behind another (two runs of one process created on two
# workers) never takes it back.
_SAVE_CURSOR = (
    "INSERT INTO schedule_cursors (process, schedule, cursor) VALUES (?, ?, ?) "
    "ON CONFLICT (process, schedule) DO UPDATE SET cursor = MAX(cursor, excluded.cursor)"
)


def save_cursors_in(tx: Transaction, cursors: Mapping[CursorKey, datetime]) -> None:
    """Move these cursors forward inside `tx` (the transaction that claims a slot, for one)."""
    tx.execute_many(_SAVE_CURSOR, [(process, key, utc_text(at)) for (process, key), at in cursors.items()])


def set_missed_count(tx: Transaction, process: str, scheduled_for: datetime, count: int, error: str) -> None:
    """Give the missed-slot row of `(process, scheduled_for)` its reason (`error`) and, when it stands for
    several slots, their `count` (inside the transaction that records it)."""
    slot = (process, utc_text(scheduled_for))
    tx.execute("UPDATE runs SET error = ? WHERE process = ? AND scheduled_for = ?", (error, *slot))
    if count > 1:
        tx.execute(
            "INSERT OR REPLACE INTO missed_counts (id, count) "
            "SELECT id, ? FROM runs WHERE process = ? AND scheduled_for = ?",
            (count, *slot),
        )


MISSED_BY_PROCESS = (
    "SELECT runs.process, SUM(COALESCE(missed_counts.count, 1)) FROM runs "
    "LEFT JOIN missed_counts ON missed_counts.id = runs.id "
    "WHERE runs.status = 'skipped' AND runs.has_folder = 0 AND runs.started >= ? "
    "GROUP BY runs.process ORDER BY runs.process"
)


class SqliteSchedulerState:
    """A `SchedulerState` in the state DB, for the thread that opened `store`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def load_cursors(self) -> dict[CursorKey, datetime]:
        rows = self._store.query("SELECT process, schedule, cursor FROM schedule_cursors")
        return {(process, key): _instant(at) for process, key, at in rows}

    def save_cursors(self, cursors: Mapping[CursorKey, datetime]) -> None:
        if cursors:
            with self._store.transaction() as tx:
                save_cursors_in(tx, cursors)

    def drop_cursors(self, keys: Collection[CursorKey]) -> None:
        if keys:
            with self._store.transaction() as tx:
                tx.execute_many("DELETE FROM schedule_cursors WHERE process = ? AND schedule = ?", list(keys))

    def load_fired_one_shots(self) -> set[OneShotKey]:
        rows = self._store.query("SELECT process, schedule FROM fired_one_shots")
        return {(process, text) for process, text in rows}

    def add_fired_one_shots(self, fired: Mapping[OneShotKey, datetime]) -> None:
        if fired:
            with self._store.transaction() as tx:
                tx.execute_many(
                    "INSERT OR IGNORE INTO fired_one_shots (process, schedule, fired_for) VALUES (?, ?, ?)",
                    [(process, text, utc_text(at)) for (process, text), at in fired.items()],
                )

    def claimed_slots(self, process: str, after: datetime, until: datetime) -> set[datetime]:
        rows = self._store.query(
            "SELECT scheduled_for FROM runs WHERE process = ? AND scheduled_for > ? AND scheduled_for <= ?",
            (process, utc_text(after), utc_text(until)),
        )
        return {_instant(at) for (at,) in rows}

    def latest_claim(self, process: str) -> datetime | None:
        rows = self._store.query(
            "SELECT MAX(scheduled_for) FROM runs WHERE process = ? AND scheduled_for IS NOT NULL", (process,)
        )
        return parse_utc(rows[0][0])


def _instant(text: str) -> datetime:
    at = parse_utc(text)
    assert at is not None
    return at
