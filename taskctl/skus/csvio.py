"""CSV import (validate everything, then write in one transaction) and export.

csvread.py reads and checks the rows. Everything happens in one transaction that commits only when the whole
file is valid, so a bad file or an interruption leaves the table as it was; duplicate skus are found by the
unique index, and only then is the file read again to name their lines.

Into an empty table the rows are appended with the indexes dropped, and each index is then built in one pass,
several times faster than keeping them current row by row. Into a table that has rows, they land in a TEMP
table first and are merged with one UPDATE and one INSERT.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from taskctl.skus import schema
from taskctl.skus.csvread import (
    CsvReader,
    ImportRejected,
    Problems,
    Progress,
    RowWriter,
    detach_helper,
    parse_delimiter,
)
from taskctl.skus.fields import COLUMNS
from taskctl.skus.model import Sku
from taskctl.skus.textindex import Segments, TextIndex

__all__ = [
    "CsvImport",
    "ImportRejected",
    "ImportSummary",
    "OnConflict",
    "Progress",
    "detach_helper",
    "parse_delimiter",
    "write_csv",
    "write_json",
]

_DIFFERS = """(s.name IS NOT i.name OR s.base_sku IS NOT i.base_sku OR s.link IS NOT i.link
    OR s.rating IS NOT i.rating OR s.review_count IS NOT i.review_count)"""


class OnConflict(StrEnum):
    """What an imported sku that already exists does."""

    UPDATE = "update"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did (or, with dry_run, would do)."""

    rows: int
    new: int
    updated: int
    unchanged: int
    skipped: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """'imported 1,000 rows: 990 new, 10 updated' (zero counts left out)."""
        parts = [
            f"{count:,} {label}"
            for count, label in (
                (self.new, "new"),
                (self.updated, "updated"),
                (self.unchanged, "unchanged"),
                (self.skipped, "skipped"),
            )
            if count
        ]
        verb = "would import" if self.dry_run else "imported"
        noun = "row" if self.rows == 1 else "rows"
        tail = f": {', '.join(parts)}" if parts else ""
        return f"{verb} {self.rows:,} {noun}{tail}" + (
            " (dry run: nothing was written)" if self.dry_run else ""
        )


@contextmanager
def _unlimited_csv_fields() -> Iterator[None]:
    """Lift the csv module's 128 KiB field limit: the quick pass has none, and a file must not import or
    fail depending on which way a block takes."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


# How an index build sorts: SQLite sorts runs of at most its page cache's size (250 pages at least) on up to
# _SORT_THREADS threads of its own while the statement's thread goes on reading the table, then merges them.
# With the import's 32 MB cache every index was one run, sorted on one thread after the whole table was read.
# Measured: the five index builds of 300,000 rows ~1.65 -> ~1.3 s; a million-row import 11.9 -> 9.7 s.
_SORT_RUN_KIB = 1024
_SORT_THREADS = 2


@contextmanager
def _sorting_in_small_runs(conn: sqlite3.Connection) -> Iterator[None]:
    """Index builds in the block sort in small runs on several threads (see _SORT_RUN_KIB); the page cache
    and thread limit are as they were after it."""
    (cache_size,) = conn.execute("PRAGMA cache_size").fetchone()
    (threads,) = conn.execute("PRAGMA threads").fetchone()
    conn.execute(f"PRAGMA cache_size = -{_SORT_RUN_KIB}")
    conn.execute(f"PRAGMA threads = {_SORT_THREADS}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA threads = {threads}")
        conn.execute(f"PRAGMA cache_size = {cache_size}")


class CsvImport:
    """One import of one file into an open skus.db connection (which the caller holds in a transaction;
    afterwards it calls detach_helper)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        source: str,
        delimiter: str | None,
        ignore_extra: bool,
        stamp: int,
        progress: Progress | None,
        all_problems: bool = False,
    ) -> None:
        self.conn = conn
        self.stamp = stamp
        self.progress = progress or (lambda phase, done, total: None)
        self.problems = Problems(source, keep_all=all_problems)
        self.reader = CsvReader(
            path,
            source=source,
            delimiter=delimiter,
            ignore_extra=ignore_extra,
            problems=self.problems,
            progress=self.progress,
        )

    def run(self, on_conflict: OnConflict, dry_run: bool) -> ImportSummary:
        """Validate and write the whole file; ImportRejected (with every problem) if any row is bad."""
        with _unlimited_csv_fields():
            if self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM skus)").fetchone()[0]:
                return self._fill_empty_table(dry_run)
            self.conn.execute(
                "CREATE TEMP TABLE sku_import "
                "(sku TEXT, name TEXT, base_sku TEXT, link TEXT, rating REAL, review_count INTEGER)"
            )
            unique = "CREATE UNIQUE INDEX temp.sku_import_sku ON sku_import(sku)"
            rows = self._load(RowWriter(self.conn, "temp.sku_import"), "temp.sku_import", unique)
            return self._merge(rows, on_conflict, dry_run)

    def _load(self, writer: RowWriter, table: str, unique_index: str) -> int:
        """Write every valid row of the file with `writer`, then build `unique_index` on the skus of `table`.
        Raises ImportRejected with every problem; returns the number of rows."""
        self.reader.load(writer, self.conn)
        if not self.problems.total:
            try:
                with _sorting_in_small_runs(self.conn):
                    self.conn.execute(unique_index)
                return self.reader.rows
            except sqlite3.IntegrityError:
                pass
        self._report_repeated(table)
        self.problems.raise_if_any()
        raise AssertionError(f"building the unique index of {table} failed, yet no sku appears twice")

    def _report_repeated(self, table: str) -> None:
        """A problem for each row whose sku an earlier row of the file already has."""
        repeated = f"SELECT sku FROM {table} GROUP BY sku HAVING count(*) > 1"
        skus = {sku for (sku,) in self.conn.execute(repeated)}
        if not skus:
            return
        first: dict[str, int] = {}
        for line, row in self.reader.valid_rows_with(skus):
            seen = first.setdefault(row.sku, line)
            if seen != line:
                self.problems.add(
                    line, f"sku '{row.sku}' appears twice (first on line {seen})", "sku", row.sku
                )

    def _reject_existing(self) -> None:
        """Reject the import if any of its skus already exists (on_conflict=error)."""
        existing = "SELECT i.sku FROM temp.sku_import i JOIN skus s USING (sku)"
        found = {sku for (sku,) in self.conn.execute(existing)}
        if not found:
            return
        lines: dict[str, int] = {}
        for line, row in self.reader.valid_rows_with(found):
            lines.setdefault(row.sku, line)
        for sku in sorted(found, key=lines.__getitem__):
            self.problems.add(
                lines[sku],
                f"sku '{sku}' already exists (use --on-conflict update or skip to import it)",
                "sku",
                sku,
            )
        self.problems.raise_if_any()

    def _merge(self, rows: int, on_conflict: OnConflict, dry_run: bool) -> ImportSummary:
        """Write temp.sku_import into a table that has rows; the counts of what changed."""
        conn = self.conn
        if on_conflict is OnConflict.ERROR:
            self._reject_existing()
        updated = skipped = 0
        self.progress("writing", 0, 2)
        if on_conflict is OnConflict.UPDATE:
            updated = conn.execute(
                f"""UPDATE skus AS s SET name = i.name, base_sku = i.base_sku, link = i.link,
                    rating = i.rating, review_count = i.review_count, updated_at = ?1
                    FROM temp.sku_import AS i WHERE s.sku = i.sku AND {_DIFFERS}""",
                (self.stamp,),
            ).rowcount
        elif on_conflict is OnConflict.SKIP:
            skipped = conn.execute(
                f"SELECT count(*) FROM temp.sku_import i JOIN skus s ON s.sku = i.sku WHERE {_DIFFERS}"
            ).fetchone()[0]
        self.progress("writing", 1, 2)
        new = conn.execute(
            """INSERT INTO skus (sku, name, base_sku, link, rating, review_count, created_at, updated_at)
               SELECT sku, name, base_sku, link, rating, review_count, ?1, ?1 FROM temp.sku_import AS i
               WHERE NOT EXISTS (SELECT 1 FROM skus s WHERE s.sku = i.sku) ORDER BY sku""",
            (self.stamp,),
        ).rowcount
        if not dry_run:
            TextIndex(conn).cover()
        self.progress("writing", 2, 2)
        return ImportSummary(rows, new, updated, rows - new - updated - skipped, skipped, dry_run)

    def _fill_empty_table(self, dry_run: bool) -> ImportSummary:
        """Append straight into the empty table without its indexes, then build each in one pass: far
        faster than keeping them current row by row. (An index whose keys rise with the rows as they are
        appended is kept: it only grows at its end.) The search text is written as the rows are read (the
        rows get ids 1, 2, ... in the order they are written), without the triggers that would drop it."""
        conn = self.conn
        rebuilt = {name: sql for name, sql in schema.INDEXES.items() if name not in schema.INDEXES_RISING}
        for name in rebuilt:
            conn.execute(f"DROP INDEX {name}")
        for name in schema.TEXT_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        (first_id,) = conn.execute("SELECT ifnull(max(id), 0) + 1 FROM skus").fetchone()
        segments = Segments(conn, first_id)
        unique, *others = rebuilt.values()
        rows = self._load(RowWriter(conn, "skus", self.stamp, segments), "skus", unique)
        if dry_run:
            return ImportSummary(rows, rows, 0, 0, 0, dry_run)  # the rollback restores indexes and triggers
        segments.finish()
        (last_id,) = conn.execute("SELECT max(id) FROM skus").fetchone()
        if segments.next_id != last_id + 1 or last_id != first_id + rows - 1:
            raise AssertionError(
                f"{rows} rows got ids {first_id}..{last_id}, their search text {segments.next_id}"
            )
        for statement in schema.TEXT_TRIGGERS.values():
            conn.execute(statement)
        with _sorting_in_small_runs(conn):
            for done, statement in enumerate(others):
                self.progress("indexing", done, len(others))
                conn.execute(statement)
        self.progress("indexing", len(others), len(others))
        return ImportSummary(rows, rows, 0, 0, 0, dry_run)


def write_csv(skus: Iterable[Sku], out: TextIO) -> int:
    """The six columns with a header, as `import` reads them; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for sku in skus:
        writer.writerow(sku.csv_row())
        count += 1
    return count


def write_json(skus: Iterable[Sku], out: TextIO) -> int:
    """A JSON array of SKU objects, streamed; returns the number of rows."""
    count = 0
    out.write("[")
    for sku in skus:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(sku.as_dict(), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
