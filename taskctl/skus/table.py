"""SkuTable: the one owner of a skus.db connection — schema, transactions, queries and changes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.errors import NotFoundError, TaskctlError, UsageError, not_found
from taskctl.skus import schema
from taskctl.skus.csvio import CsvImport, ImportSummary, OnConflict, Progress, write_csv, write_json
from taskctl.skus.fields import (
    InvalidSkuError,
    check_link,
    check_rating,
    check_review_count,
    require_text,
    require_valid,
    trim,
)
from taskctl.skus.model import SELECT_COLUMNS, Sku, SkuPage, SkuStats, to_stamp

SKU_DB_ENV = "TASKCTL_SKU_DB"
BUSY_TIMEOUT_SECONDS = 30.0
# SQLite errors that mean the file cannot be written now (read-only, locked, disk full), not a bug.
_CANNOT_WRITE = (
    "SQLITE_READONLY",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
)
# A ceiling, not an allocation: a million-row import keeps its pages in memory until commit.
_IMPORT_CACHE_KIB = 1024 * 1024


_INSERT_ONE = """
    INSERT INTO skus (sku, name, base_sku, link, rating, review_count, created_at, updated_at)
    VALUES (:sku, :name, :base_sku, :link, :rating, :review_count, :stamp, :stamp)"""


class _Keep:
    """Marks an update argument that was not given."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


class SkuExistsError(TaskctlError):
    """`add` of a sku that is already in the table."""


@dataclass(frozen=True, slots=True)
class SkuQuery:
    """What `list` shows: filters, sort and one page (keyset: `after` is the last sku seen)."""

    search: str | None = None
    base_sku: str | None = None
    min_rating: float | None = None
    unrated: bool = False
    sort: str = "sku"
    descending: bool = False
    limit: int | None = 50
    after: str | None = None


def connect(path: str | Path | None = None, clock: Clock = SYSTEM_CLOCK) -> SkuTable:
    """Open the SKU table at `path`, else at $TASKCTL_SKU_DB (set for every thread taskctl runs)."""
    if path is None:
        path = os.environ.get(SKU_DB_ENV) or None
        if path is None:
            raise UsageError(
                f"no SKU database given: pass a path, or set {SKU_DB_ENV} (taskctl sets it for every thread)."
            )
    return SkuTable.open(path, clock=clock)


def _contains(needle: str, name: str, sku: str) -> bool:
    return needle in name.lower() or needle in sku.lower()


def _search_match(needle: str) -> str | None:
    """An FTS5 query for the trigram index that every row containing `needle` matches; None if too short."""
    trigrams = sorted({needle[i : i + 3] for i in range(len(needle) - 2)})
    if not trigrams:
        return None
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


class SkuTable:
    """The SKU table in one skus.db. Open with `SkuTable.open(path)` or `connect()`; a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock

    @classmethod
    def open(cls, path: str | Path, clock: Clock = SYSTEM_CLOCK) -> SkuTable:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        path = Path(path)
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise TaskctlError(f"cannot open the SKU database '{path}': {exc}.") from None
        table = cls(conn, path, clock)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.create_function("sku_contains", 3, _contains, deterministic=True)
            table._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise TaskctlError(f"'{path}' is not a usable SKU database ({exc}).") from None
        except BaseException:
            conn.close()
            raise
        return table

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SkuTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, commit: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once so two writers queue instead of failing half-way; with
        commit=False (a dry run) it is rolled back at the end. A database that cannot be written is an
        expected failure, not a traceback."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLite has already rolled back after some errors
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT" if commit else "ROLLBACK")
        except sqlite3.OperationalError as exc:
            if not exc.sqlite_errorname.startswith(_CANNOT_WRITE):
                raise
            raise TaskctlError(
                f"cannot write the SKU database '{self.path}' ({exc}); nothing was changed."
            ) from None

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise TaskctlError(
                f"'{self.path}' has SKU schema version {version}, newer than this taskctl knows "
                f"({schema.SCHEMA_VERSION}); upgrade taskctl."
            )
        if version == schema.SCHEMA_VERSION:
            return
        with self._transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for statements in schema.MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

    def _now(self) -> int:
        return to_stamp(self._clock.now())

    # Reading

    def find(self, sku: str) -> Sku | None:
        """The row for `sku`, or None."""
        row = self._conn.execute(f"SELECT {SELECT_COLUMNS} FROM skus WHERE sku = ?", (sku,)).fetchone()
        return Sku.from_row(row) if row else None

    def get(self, sku: str) -> Sku:
        """The row for `sku`; NotFoundError (with a close match, if any) otherwise."""
        found = self.find(sku)
        if found is None:
            raise self._not_found(sku)
        return found

    def _not_found(self, sku: str) -> NotFoundError:
        neighbours = [
            row[0]
            for row in self._conn.execute(
                "SELECT sku FROM skus WHERE sku >= ?1 ORDER BY sku LIMIT 5",
                (sku[:-1] if len(sku) > 1 else sku,),
            )
        ]
        return not_found("sku", sku, neighbours, hint=f"look for it with 'taskctl sku list --search {sku}'.")

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM skus").fetchone()[0])

    def query(self, query: SkuQuery = SkuQuery()) -> SkuPage:
        """One page of rows matching `query`, in its sort order."""
        if query.sort not in schema.SORT_EXPRESSIONS:
            raise UsageError(
                f"cannot sort by '{query.sort}' (choose one of: {', '.join(schema.SORT_EXPRESSIONS)})."
            )
        if query.unrated and query.min_rating is not None:
            raise UsageError("--unrated and --min-rating exclude each other; pass one of them.")
        if query.limit is not None and query.limit < 1:
            raise UsageError(f"--limit {query.limit} must be at least 1.")
        key = schema.SORT_EXPRESSIONS[query.sort]
        where: list[str] = []
        params: list[Any] = []
        if query.search:
            needle = query.search.lower()
            match = _search_match(needle)
            # The trigram index narrows the rows to check (it cannot check a needle under 3 characters).
            # Walking the sort order instead would win for common words only when matches come early.
            if match:
                where.append("id IN (SELECT rowid FROM skus_search WHERE skus_search MATCH ?)")
                params.append(match)
            where.append("sku_contains(?, name, sku)")
            params.append(needle)
        if query.base_sku is not None:
            where.append("base_sku = ?")
            params.append(query.base_sku)
        if query.min_rating is not None:
            where.append("ifnull(rating, -1) >= ?")
            params.append(query.min_rating)
        if query.unrated:
            where.append("rating IS NULL")
        if query.after is not None:
            after = self._conn.execute(f"SELECT {key}, id FROM skus WHERE sku = ?", (query.after,)).fetchone()
            if after is None:
                raise NotFoundError(
                    f"no sku named '{query.after}' to continue after; it may have been removed "
                    "(list again without --after)."
                )
            beyond = "<" if query.descending else ">"
            if query.sort == "sku":
                where.append(f"sku {beyond} ?")
                params.append(query.after)
            else:  # (key, id) beyond the cursor, spelled so that SQLite seeks in the key's index
                where.append(f"{key} {beyond}= ? AND ({key} {beyond} ? OR id {beyond} ?)")
                params.extend([after[0], after[0], after[1]])
        direction = "DESC" if query.descending else "ASC"
        order = f"sku {direction}" if query.sort == "sku" else f"{key} {direction}, id {direction}"
        sql = f"SELECT {SELECT_COLUMNS} FROM skus"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit + 1)
        rows = [Sku.from_row(row) for row in self._conn.execute(sql, params)]
        if query.limit is not None and len(rows) > query.limit:
            rows = rows[: query.limit]
            return SkuPage(rows, rows[-1].sku)
        return SkuPage(rows, None)

    def iter_all(self) -> Iterator[Sku]:
        """Every row in sku order, streamed."""
        for row in self._conn.execute(f"SELECT {SELECT_COLUMNS} FROM skus ORDER BY sku"):
            yield Sku.from_row(row)

    def family_count(self, base_sku: str) -> int:
        """How many skus have this base_sku."""
        return int(
            self._conn.execute("SELECT count(*) FROM skus WHERE base_sku = ?", (base_sku,)).fetchone()[0]
        )

    def stats(self) -> SkuStats:
        """Row count, number of families, rated rows and their average rating."""
        count, rated, average = self._conn.execute(
            "SELECT count(*), count(rating), avg(rating) FROM skus"
        ).fetchone()
        families = self._conn.execute("SELECT count(*) FROM (SELECT DISTINCT base_sku FROM skus)").fetchone()[
            0
        ]
        return SkuStats(count, families, rated, average)

    # Changing

    def add(
        self,
        sku: str,
        name: str,
        base_sku: str = "",
        link: str = "",
        rating: float | str | None = None,
        review_count: int | str | None = None,
    ) -> Sku:
        """Add one row (base_sku defaults to the sku); SkuExistsError if the sku is taken."""
        sku = require_text("sku", sku)
        values = {
            "name": require_text("name", name),
            "base_sku": trim(base_sku) or sku,
            "link": _valid_link(link),
            "rating": _valid_rating(rating),
            "review_count": _valid_review_count(review_count),
        }
        stamp = self._now()
        with self._transaction() as conn:
            try:
                conn.execute(
                    _INSERT_ONE,
                    {**values, "sku": sku, "stamp": stamp},
                )
            except sqlite3.IntegrityError:
                raise SkuExistsError(
                    f"sku '{sku}' already exists; change it with 'taskctl sku edit {sku}'."
                ) from None
        return self.get(sku)

    def update(
        self,
        sku: str,
        *,
        name: str | _Keep = KEEP,
        base_sku: str | _Keep = KEEP,
        link: str | _Keep = KEEP,
        rating: float | str | _Keep | None = KEEP,
        review_count: int | str | _Keep | None = KEEP,
    ) -> Sku:
        """Change the given fields of one row ('' or None clears rating/review_count/link; '' base_sku means
        the sku itself). updated_at moves only if a value really changed."""
        changes: dict[str, Any] = {}
        if not isinstance(name, _Keep):
            changes["name"] = require_text("name", name)
        if not isinstance(base_sku, _Keep):
            changes["base_sku"] = trim(base_sku) or sku
        if not isinstance(link, _Keep):
            changes["link"] = _valid_link(link)
        if not isinstance(rating, _Keep):
            changes["rating"] = _valid_rating(rating)
        if not isinstance(review_count, _Keep):
            changes["review_count"] = _valid_review_count(review_count)
        with self._transaction() as conn:
            current = self.get(sku)
            changed = {
                column: value for column, value in changes.items() if getattr(current, column) != value
            }
            if changed:
                assignments = ", ".join(f"{column} = :{column}" for column in changed)
                conn.execute(
                    f"UPDATE skus SET {assignments}, updated_at = :stamp WHERE sku = :sku",
                    {**changed, "stamp": self._now(), "sku": sku},
                )
        return self.get(sku) if changed else current

    def remove(self, skus: Sequence[str]) -> int:
        """Remove these skus, all or none: NotFoundError names the first that does not exist."""
        with self._transaction() as conn:
            for sku in dict.fromkeys(skus):
                if conn.execute("DELETE FROM skus WHERE sku = ?", (sku,)).rowcount == 0:
                    raise self._not_found(sku)
        return len(dict.fromkeys(skus))

    def remove_family(self, base_sku: str) -> int:
        """Remove every sku whose base_sku is `base_sku`; NotFoundError if there is none."""
        with self._transaction() as conn:
            removed = conn.execute("DELETE FROM skus WHERE base_sku = ?", (base_sku,)).rowcount
            if removed == 0:
                raise NotFoundError(f"no skus have base_sku '{base_sku}'; nothing was removed.")
        return int(removed)

    def import_csv(
        self,
        path: str | Path,
        *,
        on_conflict: OnConflict | str = OnConflict.UPDATE,
        dry_run: bool = False,
        delimiter: str = ",",
        ignore_extra: bool = False,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import a CSV file whole or not at all (ImportRejected lists the problems with line numbers)."""
        on_conflict = OnConflict(on_conflict)
        job = CsvImport(
            self._conn,
            Path(path),
            source=str(path),
            delimiter=delimiter,
            ignore_extra=ignore_extra,
            stamp=self._now(),
            progress=progress,
        )
        (cache_size,) = self._conn.execute("PRAGMA cache_size").fetchone()
        self._conn.execute(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB}")
        try:
            with self._transaction(commit=not dry_run) as conn:
                try:
                    return job.run(on_conflict, dry_run)
                finally:  # a committed TEMP table would outlive the import on this connection
                    conn.execute("DROP TABLE IF EXISTS temp.sku_import")
        finally:
            self._conn.execute(f"PRAGMA cache_size = {cache_size}")

    def export(self, out: TextIO, format: str = "csv") -> int:
        """Write every row to `out` as csv (importable) or json; returns the number of rows."""
        if format == "json":
            return write_json(self.iter_all(), out)
        if format == "csv":
            return write_csv(self.iter_all(), out)
        raise UsageError(f"cannot export as '{format}' (choose csv or json).")


def _valid_link(link: str) -> str:
    value, problem = check_link(link)
    require_valid(problem)
    return value


def _valid_rating(rating: float | str | None) -> float | None:
    if rating is None or isinstance(rating, str):
        value, problem = check_rating(rating or "")
        require_valid(problem)
        return value
    if isinstance(rating, bool) or not 0 <= rating <= 5:
        raise InvalidSkuError(f"rating {rating!r} is out of range (use 0-5 or leave it empty).")
    return float(rating)


def _valid_review_count(count: int | str | None) -> int | None:
    if count is None or isinstance(count, str):
        value, problem = check_review_count(count or "")
        require_valid(problem)
        return value
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidSkuError(f"review_count {count!r} must be a whole number >= 0, or None.")
    return count
