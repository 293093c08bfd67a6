"""CSV import (validate everything, then write in one transaction) and export.

The import streams the file once: a precompiled regex accepts clean rows in a tight loop, anything else goes
through `check_row` for a cleaned value or a message. Rows land in a TEMP table; only when the whole file is
valid are they merged into `skus` — all inside one transaction, so a bad file or an interruption leaves the
table as it was. Into an empty table the merge drops the secondary indexes and the search triggers, inserts
in sku order and builds them again, which is several times faster than maintaining them row by row.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.skus import schema
from taskctl.skus.fields import COLUMNS, FAST_SEPARATOR, check_row, fast_row_pattern
from taskctl.skus.model import Sku

MAX_SHOWN_PROBLEMS = 20
_BATCH = 65536

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): phase 'reading' counts bytes; 'writing' and 'indexing' count steps."""


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


class ImportRejected(TaskctlError):
    """The file is not importable; `problems` holds the first messages, `total` how many there were."""

    def __init__(self, source: str, problems: list[str], total: int) -> None:
        self.problems = problems
        self.total = total
        if total > len(problems):
            tail = f"... and {total - len(problems):,} more errors; nothing was imported."
        else:
            tail = f"{source}: {total:,} {'error' if total == 1 else 'errors'}; nothing was imported."
        self.lines = [*problems, tail]
        super().__init__("\n".join(self.lines))


class _Problems:
    """Collects row problems: keeps the first few messages, counts all."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.shown: list[str] = []
        self.total = 0

    def add(self, line: int | None, message: str) -> None:
        self.total += 1
        if len(self.shown) < MAX_SHOWN_PROBLEMS:
            where = f"{self.source}:{line}" if line else self.source
            self.shown.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.total:
            raise ImportRejected(self.source, self.shown, self.total)


def parse_delimiter(text: str) -> str:
    """',' ';' '|' or a tab (written 'tab' or '\\t'); UsageError otherwise."""
    if text.lower() in ("tab", "\\t"):
        return "\t"
    if len(text) != 1 or text in ('"', "\n", "\r"):
        raise UsageError(f"--delimiter '{text}' must be one character, like ',' or ';' (or 'tab').")
    return text


def read_header(row: Sequence[str], source: str, ignore_extra: bool) -> list[str | None]:
    """Column names of the header in file order (None for an ignored extra column)."""
    expected = ", ".join(COLUMNS)
    names = [name.strip().lower() for name in row]
    header: list[str | None] = []
    for name in names:
        if name in COLUMNS:
            if name in header:
                raise ImportRejected(source, [f"{source}:1: column '{name}' appears twice in the header"], 1)
            header.append(name)
        elif ignore_extra:
            header.append(None)
        else:
            shown = name or "(empty)"
            raise ImportRejected(
                source,
                [
                    f"{source}: unknown column '{shown}' (expected: {expected}; "
                    "--ignore-extra skips extra columns)"
                ],
                1,
            )
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        listed = ", ".join(f"'{column}'" for column in missing)
        noun = "column" if len(missing) == 1 else "columns"
        raise ImportRejected(source, [f"{source}: missing {noun} {listed} (expected: {expected})"], 1)
    return header


def _first_undecodable_line(path: Path) -> int:
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


# The converting INSERT: CSV text (or values check_row cleaned) -> typed columns.
_VALUES = """(?1, ?2, coalesce(nullif(?3, ''), ?1), ?4,
    CAST(nullif(?5, '') AS REAL), CAST(nullif(?6, '') AS INTEGER)"""
_INSERT_NEW = f"""INSERT INTO skus (sku, name, base_sku, link, rating, review_count, created_at, updated_at)
    VALUES {_VALUES}, ?7, ?7)"""
_INSERT_TEMP = f"INSERT INTO temp.sku_import VALUES {_VALUES})"
_DIFFERS = """(s.name IS NOT i.name OR s.base_sku IS NOT i.base_sku OR s.link IS NOT i.link
    OR s.rating IS NOT i.rating OR s.review_count IS NOT i.review_count)"""


class CsvImport:
    """One import of one file into an open skus.db connection (which the caller holds in a transaction)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        source: str,
        delimiter: str,
        ignore_extra: bool,
        stamp: int,
        progress: Progress | None,
    ) -> None:
        self.conn = conn
        self.path = path
        self.source = source
        self.delimiter = delimiter
        self.ignore_extra = ignore_extra
        self.stamp = stamp
        self.progress = progress or (lambda phase, done, total: None)
        self.problems = _Problems(source)
        self.first_line: dict[str, int] = {}

    def run(self, on_conflict: OnConflict, dry_run: bool) -> ImportSummary:
        """Validate and write the whole file; ImportRejected (with every problem) if any row is bad."""
        if self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM skus)").fetchone()[0]:
            return self._fill_empty_table(dry_run)
        self.conn.execute(
            "CREATE TEMP TABLE sku_import "
            "(sku TEXT, name TEXT, base_sku TEXT, link TEXT, rating REAL, review_count INTEGER)"
        )
        rows = self._load(_INSERT_TEMP, ())
        return self._merge(rows, on_conflict, dry_run)

    def _load(self, insert: str, extra: tuple[Any, ...]) -> int:
        """Validate the whole file, inserting its rows with `insert` (each row's values + `extra`);
        raise ImportRejected with every problem. Returns the number of rows."""
        try:
            handle = self.path.open(encoding="utf-8-sig", newline="")
        except FileNotFoundError:
            raise NotFoundError(f"{self.source}: no such file.") from None
        except OSError as exc:
            raise TaskctlError(f"{self.source}: cannot read the file ({exc.strerror}).") from None
        with handle:
            reader = csv.reader(handle, delimiter=self.delimiter, strict=True)
            try:
                first = next(reader, None)
                if first is None:
                    raise ImportRejected(
                        self.source,
                        [f"{self.source}: the file is empty (expected a header: {', '.join(COLUMNS)})"],
                        1,
                    )
                header = read_header(first, self.source, self.ignore_extra)
                self.conn.executemany(insert, self._valid_rows(reader, header, handle, extra))
            except UnicodeDecodeError:
                line = _first_undecodable_line(self.path)
                self.problems.add(line, "is not UTF-8 text (save the file as UTF-8 and import again)")
            except csv.Error as exc:
                self.problems.add(reader.line_num, f"is not valid CSV ({exc})")
        self.problems.raise_if_any()
        return len(self.first_line)

    def _valid_rows(
        self, reader: Iterator[list[str]], header: list[str | None], handle: TextIO, extra: tuple[Any, ...]
    ) -> Iterator[Sequence[Any]]:
        """The rows to insert, in COLUMNS order followed by `extra`; problems are recorded, not raised, so
        that all are found. After the first problem nothing more is inserted, but every row is checked."""
        width = len(header)
        fast = fast_row_pattern(header).match
        join = FAST_SEPARATOR.join
        in_order: Callable[[list[str]], tuple[str, ...]] | None = None
        if tuple(header) != COLUMNS:
            in_order = itemgetter(*(header.index(column) for column in COLUMNS))
        sku_at = header.index("sku")
        first_line = self.first_line
        problems = self.problems
        total = os.fstat(handle.fileno()).st_size
        line = 1
        while True:
            before = line
            for row in islice(reader, _BATCH):
                start = line + 1
                line = reader.line_num  # type: ignore[attr-defined]
                if len(row) == width and fast(join(row)):
                    sku = row[sku_at]
                    if in_order:
                        values: Sequence[Any] = in_order(row) + extra
                    else:
                        row += extra
                        values = row
                else:
                    if not row:
                        continue  # a blank line
                    if len(row) != width:
                        problems.add(
                            start,
                            f"expected {width} fields, found {len(row)} (check the delimiter and quoting)",
                        )
                        continue
                    cleaned = check_row(*(row[header.index(column)] for column in COLUMNS))
                    if isinstance(cleaned, list):
                        for message in cleaned:
                            problems.add(start, message)
                        continue
                    sku = cleaned.sku
                    values = (
                        cleaned.sku,
                        cleaned.name,
                        cleaned.base_sku,
                        cleaned.link,
                        cleaned.rating,
                        cleaned.review_count,
                        *extra,
                    )
                first = first_line.setdefault(sku, start)
                if first != start:
                    problems.add(start, f"sku '{sku}' appears twice (first on line {first})")
                    continue
                if not problems.total:
                    yield values
            if line == before:
                break
            self.progress("reading", handle.buffer.tell(), total)

    def _reject_existing(self) -> None:
        """Reject the import if any of its skus already exists (on_conflict=error)."""
        found = [
            sku
            for (sku,) in self.conn.execute(
                "SELECT i.sku FROM temp.sku_import i JOIN skus s ON s.sku = i.sku"
            )
        ]
        for sku in sorted(found, key=self.first_line.__getitem__):
            self.problems.add(
                self.first_line[sku],
                f"sku '{sku}' already exists (use --on-conflict update or skip to import it)",
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
        self.progress("writing", 2, 2)
        return ImportSummary(rows, new, updated, rows - new - updated - skipped, skipped, dry_run)

    def _fill_empty_table(self, dry_run: bool) -> ImportSummary:
        """Insert straight into the empty table without its secondary indexes and search triggers, then
        build those in one pass each: far faster than keeping them current row by row."""
        conn = self.conn
        for name in schema.SECONDARY_INDEXES:
            conn.execute(f"DROP INDEX {name}")
        for name in schema.SEARCH_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        rows = self._load(_INSERT_NEW, (self.stamp,))
        if dry_run:
            return ImportSummary(rows, rows, 0, 0, 0, dry_run)  # the rollback restores indexes and triggers
        steps = 1 + len(schema.SECONDARY_INDEXES)
        self.progress("indexing", 0, steps)
        conn.execute("INSERT INTO skus_search(skus_search) VALUES ('delete-all')")
        conn.execute(
            "INSERT INTO skus_search(rowid, text) "
            f"SELECT id, {schema.SEARCH_TEXT.format(row='skus')} FROM skus"
        )
        for done, statement in enumerate(schema.SECONDARY_INDEXES.values(), start=1):
            self.progress("indexing", done, steps)
            conn.execute(statement)
        for statement in schema.SEARCH_TRIGGERS.values():
            conn.execute(statement)
        self.progress("indexing", steps, steps)
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
