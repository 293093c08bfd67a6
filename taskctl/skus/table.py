"""SkuTable: the one owner of a skus.db connection — schema, transactions, queries and changes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, TextIO

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.errors import NotFoundError, TaskctlError, UsageError, not_found
from taskctl.skus import schema, search, textindex
from taskctl.skus.csvio import (
    CsvImport,
    ImportSummary,
    OnConflict,
    Progress,
    detach_helper,
    write_csv,
    write_json,
)
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
from taskctl.skus.textindex import TextIndex

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
# The page cache of an import (SQLite writes the rest out as it goes, and sorts an index in temporary files):
# a million rows import in about 100 MB of memory.
_IMPORT_CACHE_KIB = 32 * 1024


_INSERT_ONE = """
    INSERT INTO skus (sku, name, base_sku, link, rating, review_count, created_at, updated_at)
    VALUES (:sku, :name, :base_sku, :link, :rating, :review_count, :stamp, :stamp)"""


class _Keep:
    """Marks an update argument that was not given."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


class SkuExistsError(TaskctlError):
    """`add` of a sku that is already in the table, or `update` renaming a sku to one that is."""


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


# A search walks at most this many rows per row it returns (each read from the table at random) before it
# takes the rows the search text finds instead: enough where one row in 200 matches, in a few tens of ms.
_WALK_ROWS_PER_RESULT = 200
_WALK_ROWS_MAX = 50_000
# A search for every match (no limit) sorts the rows the search text finds while they are fewer than this
# share of the table; more are found as fast by reading the whole table.
_SORTED_SHARE_MAX = 0.05


def _dense_share(limit: int | None) -> float:
    """The share of rows matching from which walking the sort order is the way to find `limit` of them: the
    walk is then expected to find twice as many as it needs before its bound."""
    if limit is None:
        return _SORTED_SHARE_MAX
    return 2 * (limit + 1) / min(_WALK_ROWS_PER_RESULT * (limit + 1), _WALK_ROWS_MAX)


# Reads go through a memory map (no system call per page); an import turns it off to keep its memory small.
_MMAP_BYTES = 1 << 30


class _Listing:
    """The SQL of one listing: its filters, where its page starts (`after`) and its order.

    Searches add a match condition, and either an end to the walk (`upto`: at most that far in the order) or
    `scan`, which makes SQLite read the table and sort what matches instead of walking the sort index.
    """

    def __init__(self, query: SkuQuery, after: tuple[Any, int] | None) -> None:
        self.query = query
        self._by_sku = query.sort == "sku"
        self._key = schema.SORT_EXPRESSIONS[query.sort]
        self._forward = "<" if query.descending else ">"  # how a later row compares in this order
        direction = "DESC" if query.descending else "ASC"
        self._order = [f"{self._key} {direction}"] + ([] if self._by_sku else [f"id {direction}"])
        self._where: list[str] = []
        self._params: list[Any] = []
        if query.base_sku is not None:
            self._add("base_sku = ?", query.base_sku)
        if query.min_rating is not None:
            self._add("ifnull(rating, -1) >= ?", query.min_rating)
        if query.unrated:
            self._add("rating IS NULL")
        if after is not None:
            condition, params = self._beyond(self._forward, after)
            self._add(condition, *params)

    def _add(self, condition: str, *params: Any) -> None:
        self._where.append(condition)
        self._params.extend(params)

    def _beyond(self, compare: str, cursor: tuple[Any, int]) -> tuple[str, list[Any]]:
        """Rows past `cursor` in the direction `compare` (or at it, for '<=' and '>='), spelled so that
        SQLite seeks in the sort index: (key, id) compared as a pair."""
        key, row_id = cursor
        if self._by_sku:
            return f"sku {compare} ?", [key]
        strict = compare[0]
        return f"{self._key} {strict}= ? AND ({self._key} {strict} ? OR id {compare} ?)", [key, key, row_id]

    def select(
        self,
        match: str | None = None,
        match_params: Sequence[Any] = (),
        *,
        upto: tuple[Any, int] | None = None,
        scan: bool = False,
        among: list[int] | None = None,
    ) -> tuple[str, list[Any]]:
        """SELECT the page's rows (one more than the limit, to know whether another page follows); `among`
        keeps to the rows with these ids (looked up by id, then sorted)."""
        where, params = list(self._where), list(self._params)
        if among is not None:
            where.insert(0, "id IN (SELECT value FROM json_each(?))")
            params.insert(0, json.dumps(among))
            scan = True
        if upto is not None:
            condition, bound = self._beyond("<=" if self._forward == ">" else ">=", upto)
            where.append(condition)
            params += bound
        if match is not None:
            where.append(match)
            params += match_params
        # A unary + keeps SQLite from walking the sort index, which is slow when few rows match.
        first, *rest = self._order
        order = ", ".join([("+" if scan else "") + first, *rest])
        sql = f"SELECT {SELECT_COLUMNS} FROM skus{_where_clause(where)} ORDER BY {order}"
        if self.query.limit is not None:
            sql += " LIMIT ?"
            params.append(self.query.limit + 1)
        return sql, params

    def position(self, offset: int) -> tuple[str, list[Any]]:
        """SELECT the (sort key, id) of the row `offset` rows into the listing, reading only the index."""
        order = ", ".join(self._order)
        row = f"SELECT id FROM skus{_where_clause(self._where)} ORDER BY {order} LIMIT 1 OFFSET ?"
        return f"SELECT {self._key}, id FROM skus WHERE id = ({row})", [*self._params, offset]


def _where_clause(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


class SkuTable:
    """The SKU table in one skus.db. Open with `SkuTable.open(path)` or `connect()`; a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self._conn = conn
        search.register(conn)
        self.path = path
        self._clock = clock

    @classmethod
    def open(cls, path: str | Path, clock: Clock = SYSTEM_CLOCK, *, create: bool = True) -> SkuTable:
        """Open (creating if needed) the database at `path` and bring its schema up to date. With
        create=False, a database that does not exist is not made: the table reads as empty (for commands
        that only read)."""
        path = Path(path)
        where = path if create or path.exists() else ":memory:"
        try:
            conn = sqlite3.connect(where, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise TaskctlError(f"cannot open the SKU database '{path}': {exc}.") from None
        table = cls(conn, path, clock)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
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

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """A read transaction: the statements in the block see the database as it was at the first of them,
        whatever another connection commits meanwhile (a search reads the search text, then the rows)."""
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")

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
            if version < schema.TEXT_VERSION:
                TextIndex(conn).cover()
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
        with self._snapshot():
            listing = _Listing(query, self._after(query))
            if query.search:
                rows = self._search(listing, query.search)
            else:
                rows = self._conn.execute(*listing.select()).fetchall()
        skus = [Sku.from_row(row) for row in rows]
        if query.limit is not None and len(skus) > query.limit:
            skus = skus[: query.limit]
            return SkuPage(skus, skus[-1].sku)
        return SkuPage(skus, None)

    def _after(self, query: SkuQuery) -> tuple[Any, int] | None:
        """The (sort key, id) of the `after` sku, where the page continues."""
        if query.after is None:
            return None
        key = schema.SORT_EXPRESSIONS[query.sort]
        after = self._conn.execute(f"SELECT {key}, id FROM skus WHERE sku = ?", (query.after,)).fetchone()
        if after is None:
            raise NotFoundError(
                f"no sku named '{query.after}' to continue after; it may have been removed "
                "(list again without --after)."
            )
        return after[0], after[1]

    def _search(self, listing: _Listing, text: str) -> list[tuple[Any, ...]]:
        """The rows of `listing` whose name or sku contains `text`.

        Where matches are dense, walking the sort order finds `limit` of them after a short walk; where they
        are sparse, the search text (textindex.py) gives the few rows that can match, which are then sorted.
        Which is which is estimated from a sample of the search text. A walk fetches each row at random, so it
        stops after a bound and the search takes the other way. A family (--base-sku) is always walked: its
        index makes it small. Every row returned is checked exactly by `match` in SQL.
        """
        match, params = search.match_condition(text)
        query = listing.query
        needle = text.lower()
        index = TextIndex(self._conn) if query.base_sku is None and textindex.usable_for(needle) else None
        if index is not None and index.estimated_share(needle) < _dense_share(query.limit):
            return self._among(listing, match, params, index.candidates(needle, match, params))
        if query.sort in schema.COVERING_SORTS:  # the walk checks index entries, as fast as reading the table
            return self._conn.execute(*listing.select(match, params)).fetchall()
        if query.limit is not None:
            walk = min(_WALK_ROWS_PER_RESULT * (query.limit + 1), _WALK_ROWS_MAX)
            bound = self._conn.execute(*listing.position(walk - 1)).fetchone()
            rows = self._conn.execute(*listing.select(match, params, upto=bound)).fetchall()
            if bound is None or len(rows) > query.limit:
                return rows  # every row was walked, or enough matched before the bound
        if index is not None:
            return self._among(listing, match, params, index.candidates(needle, match, params))
        return self._conn.execute(*listing.select(match, params, scan=True)).fetchall()

    def _among(
        self, listing: _Listing, match: str, params: list[Any], ids: list[int]
    ) -> list[tuple[Any, ...]]:
        """The rows of `listing` among the rows `ids` that `match`, in its order."""
        if not ids:
            return []
        return self._conn.execute(*listing.select(match, params, among=ids)).fetchall()

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
            TextIndex(conn).keep_covered()
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
        new_sku: str | _Keep = KEEP,
    ) -> Sku:
        """Change the given fields of one row ('' or None clears rating/review_count/link; '' base_sku means
        the sku itself). `new_sku` renames the row (SkuExistsError if another row has that sku): a sku that
        was a family of its own stays one (its base_sku follows), one in a family with others stays in it.
        updated_at moves only if a value really changed."""
        changes: dict[str, Any] = {}
        renamed = sku if isinstance(new_sku, _Keep) else require_text("sku", new_sku)
        if renamed != sku:
            changes["sku"] = renamed
        if not isinstance(name, _Keep):
            changes["name"] = require_text("name", name)
        if not isinstance(base_sku, _Keep):
            changes["base_sku"] = trim(base_sku) or renamed
        if not isinstance(link, _Keep):
            changes["link"] = _valid_link(link)
        if not isinstance(rating, _Keep):
            changes["rating"] = _valid_rating(rating)
        if not isinstance(review_count, _Keep):
            changes["review_count"] = _valid_review_count(review_count)
        with self._transaction() as conn:
            current = self.get(sku)
            if renamed != sku and "base_sku" not in changes and current.base_sku == sku:
                others = conn.execute("SELECT 1 FROM skus WHERE base_sku = ? AND sku != ?", (sku, sku))
                if others.fetchone() is None:
                    changes["base_sku"] = renamed
            changed = {
                column: value for column, value in changes.items() if getattr(current, column) != value
            }
            if changed:
                assignments = ", ".join(f"{column} = :{column}" for column in changed)
                try:
                    conn.execute(
                        f"UPDATE skus SET {assignments}, updated_at = :stamp WHERE sku = :old_sku",
                        {**changed, "stamp": self._now(), "old_sku": sku},
                    )
                except sqlite3.IntegrityError:  # the unique sku: another row has the new one
                    raise SkuExistsError(
                        f"cannot rename '{sku}' to '{renamed}': sku '{renamed}' already exists "
                        f"(choose another --new-sku, or remove '{renamed}' first)."
                    ) from None
                if "name" in changed or "sku" in changed:
                    TextIndex(conn).keep_covered()
        return self.get(renamed) if changed else current

    def remove(self, skus: Sequence[str]) -> int:
        """Remove these skus, all or none: NotFoundError names the first that does not exist."""
        with self._transaction() as conn:
            for sku in dict.fromkeys(skus):
                if conn.execute("DELETE FROM skus WHERE sku = ?", (sku,)).rowcount == 0:
                    raise self._not_found(sku)
            TextIndex(conn).keep_covered()
        return len(dict.fromkeys(skus))

    def remove_family(self, base_sku: str) -> int:
        """Remove every sku whose base_sku is `base_sku`; NotFoundError if there is none."""
        with self._transaction() as conn:
            removed = conn.execute("DELETE FROM skus WHERE base_sku = ?", (base_sku,)).rowcount
            if removed == 0:
                raise NotFoundError(f"no skus have base_sku '{base_sku}'; nothing was removed.")
            TextIndex(conn).keep_covered()
        return int(removed)

    def import_csv(
        self,
        path: str | Path | BinaryIO,
        *,
        on_conflict: OnConflict | str = OnConflict.UPDATE,
        dry_run: bool = False,
        delimiter: str | None = None,
        ignore_extra: bool = False,
        progress: Progress | None = None,
        all_problems: bool = False,
        source: str | None = None,
    ) -> ImportSummary:
        """Import a CSV file (a path, or a binary stream such as stdin) whole or not at all: ImportRejected
        lists the problems with line numbers, the first MAX_SHOWN_PROBLEMS of them, or with `all_problems`
        every one in its `details`. `delimiter` None: the one the header is written with (',' ';' tab or '|').
        `source` names the file in messages (default: the path)."""
        on_conflict = OnConflict(on_conflict)
        with _readable(path) as (file, name):
            job = CsvImport(
                self._conn,
                file,
                source=source or name,
                delimiter=delimiter,
                ignore_extra=ignore_extra,
                stamp=self._now(),
                progress=progress,
                all_problems=all_problems,
            )
            empty = self._conn.execute("SELECT NOT EXISTS (SELECT 1 FROM skus)").fetchone()[0]
            try:
                with (
                    self._import_settings(fresh=empty and not dry_run),
                    self._transaction(commit=not dry_run) as conn,
                ):
                    try:
                        return job.run(on_conflict, dry_run)
                    finally:  # a committed TEMP table would outlive the import on this connection
                        conn.execute("DROP TABLE IF EXISTS temp.sku_import")
            finally:
                detach_helper(self._conn)

    @contextmanager
    def _import_settings(self, fresh: bool) -> Iterator[None]:
        """Memory kept small (a small page cache, no memory map, temporary files on disk), and for the first
        import into an empty table the rollback journal instead of the WAL: every page of a new table is then
        written once, straight into the database, where the WAL would write it twice (itself, then the
        checkpoint). The import stays atomic either way; readers wait while it commits. If another
        connection has the database open, SQLite keeps the WAL, and so does the import. Through the rollback
        journal, the pages SQLite writes are also sent to the disk while the import goes on (`_syncing`)."""
        conn = self._conn
        (cache_size,) = conn.execute("PRAGMA cache_size").fetchone()
        (mmap_size,) = conn.execute("PRAGMA mmap_size").fetchone()
        conn.execute(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB}")
        conn.execute("PRAGMA mmap_size = 0")
        conn.execute("PRAGMA temp_store = FILE")
        journal = None
        if fresh:
            with suppress(sqlite3.OperationalError):  # busy: another connection uses the WAL now
                (journal,) = conn.execute("PRAGMA journal_mode = DELETE").fetchone()
        try:
            if journal == "delete":
                with _syncing(self.path):
                    yield
            else:
                yield
        finally:
            if journal == "delete":
                with suppress(sqlite3.OperationalError):  # SkuTable.open sets WAL again in any case
                    conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute(f"PRAGMA mmap_size = {mmap_size}")
            conn.execute(f"PRAGMA cache_size = {cache_size}")

    def export(self, out: TextIO, format: str = "csv", progress: Progress | None = None) -> int:
        """Write every row to `out` as csv (importable) or json; returns the number of rows. `progress` is
        called as ('writing', rows written, rows in all) every few thousand rows."""
        if format not in ("csv", "json"):
            raise UsageError(f"cannot export as '{format}' (choose csv or json).")
        rows = self.iter_all()
        if progress is not None:
            total = self._conn.execute("SELECT count(*) FROM skus").fetchone()[0]
            rows = _reporting(rows, total, progress)
        return (write_json if format == "json" else write_csv)(rows, out)


# How often the pages an import has written so far are sent to the disk (see _syncing).
_SYNC_EVERY_SECONDS = 0.1


@contextmanager
def _syncing(path: Path) -> Iterator[None]:
    """While the block runs, a thread syncs the database file every _SYNC_EVERY_SECONDS: the disk then writes
    the pages of a big import as SQLite hands them over, while the CPU reads rows and builds indexes, instead
    of all of them in the commit's own sync at the end (~0.3 s of a 300,000-row import). An extra sync changes
    nothing SQLite relies on: it syncs its journal before it writes any page into the database file. The
    commit syncs as always; a sync that fails here is left for it to report."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield
        return
    done = threading.Event()

    def sync() -> None:
        with suppress(OSError):
            while not done.wait(_SYNC_EVERY_SECONDS):
                os.fsync(fd)

    thread = threading.Thread(target=sync, name="taskctl-sku-import-sync", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        os.close(fd)


def _reporting(skus: Iterator[Sku], total: int, progress: Progress) -> Iterator[Sku]:
    """`skus`, telling `progress` how many have gone by every _REPORT_EVERY of them and at the end."""
    done = 0
    progress("writing", 0, total)
    for sku in skus:
        yield sku
        done += 1
        if done % _REPORT_EVERY == 0:
            progress("writing", done, total)
    progress("writing", done, total)


_REPORT_EVERY = 10_000


@contextmanager
def _readable(path: str | Path | BinaryIO) -> Iterator[tuple[Path, str]]:
    """The file an import reads and its name in messages: a path itself, or a temporary copy of a stream,
    named 'stdin' (an import reads its file more than once, and in two processes)."""
    if isinstance(path, str | Path):
        yield Path(path), str(path)
        return
    fd, name = tempfile.mkstemp(prefix="taskctl-sku-import-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as copy:
            shutil.copyfileobj(path, copy, 1 << 20)
        yield Path(name), "stdin"
    finally:
        os.unlink(name)


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
