"""SkuTable: the one owner of a skus.db connection — schema, transactions, queries and changes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.errors import NotFoundError, TaskctlError, UsageError, not_found
from taskctl.skus import schema, search
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


# A search walks at most this many rows per row it returns (each read from the table at random) before it
# reads the whole table in order instead: enough where one row in 200 matches, in a few tens of ms.
_WALK_ROWS_PER_RESULT = 200
_WALK_ROWS_MAX = 50_000
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
    ) -> tuple[str, list[Any]]:
        """SELECT the page's rows (one more than the limit, to know whether another page follows)."""
        where, params = list(self._where), list(self._params)
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
        listing = _Listing(query, self._after(query))
        if query.search:
            rows = self._search(listing, *search.match_condition(query.search))
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

    def _search(self, listing: _Listing, match: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """The rows of `listing` that `match`: by walking the sort order when matches are dense, else by
        reading the whole table (a walk fetches each row at random, so a whole walk costs far more). An order
        whose index holds name and sku is always walked: it checks rows as fast as reading the table."""
        limit = listing.query.limit
        if listing.query.sort in schema.COVERING_SORTS:
            return self._conn.execute(*listing.select(match, params)).fetchall()
        if limit is not None:
            walk = min(_WALK_ROWS_PER_RESULT * (limit + 1), _WALK_ROWS_MAX)
            bound = self._conn.execute(*listing.position(walk - 1)).fetchone()
            rows = self._conn.execute(*listing.select(match, params, upto=bound)).fetchall()
            if bound is None or len(rows) > limit:
                return rows  # every row was walked, or enough matched before the bound
        return self._conn.execute(*listing.select(match, params, scan=True)).fetchall()

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
        connection has the database open, SQLite keeps the WAL, and so does the import."""
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
            yield
        finally:
            if journal == "delete":
                with suppress(sqlite3.OperationalError):  # SkuTable.open sets WAL again in any case
                    conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute(f"PRAGMA mmap_size = {mmap_size}")
            conn.execute(f"PRAGMA cache_size = {cache_size}")

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
