"""CSV import (validate everything, then write in one transaction) and export.

The import first tries a quick pass with no Python code per row: blocks of lines are split with str.split
(the csv module takes over from the first quote), checked by one regex call per block and handed to SQLite,
which converts the values. Anything unusual sends it to the checked pass, which runs `check_row` on every
row, stores the values it returns and reports every problem with its line. The quick check only passes rows
that check_row accepts unchanged and whose numbers SQLite converts exactly as Python does (see fields.py),
so which pass a file takes never changes what is stored. Everything happens in one transaction that commits
only when the whole file is valid, so a bad file or an interruption leaves the table as it was.

Into an empty table the rows are appended with the indexes and search triggers dropped, and each index is
then built in one pass — several times faster than maintaining them row by row. Into a table that has rows,
they land in a TEMP table first and are merged with one UPDATE and one INSERT.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from itertools import chain, islice
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any, TextIO

from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.skus import schema
from taskctl.skus.fields import (
    COLUMNS,
    FIELD_END,
    ROW_END,
    SQL_VALUES,
    check_row,
    quick_batch_pattern,
    trim,
)
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


def _line_blocks(handle: TextIO, size: int = 1 << 22) -> Iterator[str]:
    """The rest of the file in blocks of whole lines (each ending in \n)."""
    rest = ""
    while block := handle.read(size):
        block = rest + block
        cut = block.rfind("\n") + 1
        rest = block[cut:]
        if cut:
            yield block[:cut]
    if rest:
        yield rest + "\n"


def _first_undecodable_line(path: Path) -> int:
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


_INSERT_TEMP = f"INSERT INTO temp.sku_import VALUES ({SQL_VALUES})"
_INSERT_NEW = f"""INSERT INTO skus (sku, name, base_sku, link, rating, review_count, created_at, updated_at)
    VALUES ({SQL_VALUES}, {{stamp}}, {{stamp}})"""
_DIFFERS = """(s.name IS NOT i.name OR s.base_sku IS NOT i.base_sku OR s.link IS NOT i.link
    OR s.rating IS NOT i.rating OR s.review_count IS NOT i.review_count)"""


_NOT_UTF8 = "is not UTF-8 text (save the file as UTF-8 and import again)"


@contextmanager
def _unlimited_csv_fields() -> Iterator[None]:
    """Lift the csv module's 128 KiB field limit: str.split in the quick pass has none, and a file must not
    import or fail depending on whether it holds a quote somewhere."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


class _Suspect(Exception):
    """A row the quick check does not pass: the checked pass will clean it or say what is wrong."""


class CsvImport:
    """One import of one file into an open skus.db connection (which the caller holds in a transaction).

    The quick pass (see the module docstring) is undone if it meets anything unusual: a bad or untrimmed
    value, a duplicate, a short row, a decoding error. The checked pass then cleans what can be cleaned
    and reports every problem with its line.
    """

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
        self._rows_checked = 0

    def run(self, on_conflict: OnConflict, dry_run: bool) -> ImportSummary:
        """Validate and write the whole file; ImportRejected (with every problem) if any row is bad."""
        with _unlimited_csv_fields():
            return self._run(on_conflict, dry_run)

    def _run(self, on_conflict: OnConflict, dry_run: bool) -> ImportSummary:
        if self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM skus)").fetchone()[0]:
            return self._fill_empty_table(dry_run)
        self.conn.execute(
            "CREATE TEMP TABLE sku_import "
            "(sku TEXT, name TEXT, base_sku TEXT, link TEXT, rating REAL, review_count INTEGER)"
        )
        rows = self._load(_INSERT_TEMP, "CREATE UNIQUE INDEX temp.sku_import_sku ON sku_import(sku)")
        return self._merge(rows, on_conflict, dry_run)

    def _load(self, insert: str, unique_index: str) -> int:
        """Load the whole file with `insert`, then build `unique_index` on the skus.
        Raises ImportRejected with every problem; returns the number of rows."""
        conn = self.conn
        conn.execute("SAVEPOINT sku_load")
        try:
            rows = self._quick_pass(insert)
            conn.execute(unique_index)
        except (_Suspect, csv.Error, UnicodeDecodeError, sqlite3.IntegrityError):
            conn.execute("ROLLBACK TO sku_load")
            rows = self._checked_pass(insert)
            conn.execute(unique_index)
        conn.execute("RELEASE sku_load")
        return rows

    @contextmanager
    def _rows(self) -> Iterator[tuple[Iterator[list[str]], list[str | None], TextIO]]:
        """The csv reader positioned after the header, the header's columns, and the open file."""
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
            except UnicodeDecodeError:
                first = []
                self.problems.add(_first_undecodable_line(self.path), _NOT_UTF8)
                self.problems.raise_if_any()
            if first is None:
                raise ImportRejected(
                    self.source,
                    [f"{self.source}: the file is empty (expected a header: {', '.join(COLUMNS)})"],
                    1,
                )
            yield reader, read_header(first, self.source, self.ignore_extra), handle

    def _quick_pass(self, insert: str) -> int:
        """Load the rows if every one passes the quick check (else raise _Suspect); duplicates are left
        to the unique index. Blocks without quotes or carriage returns are split with str.split, which is
        several times faster than the csv module; from the first block that has any, the csv module reads."""
        rows = 0
        with self._rows() as (_, header, handle):
            in_order = None
            if tuple(header) != COLUMNS:
                in_order = itemgetter(*(header.index(column) for column in COLUMNS))
            plain = quick_batch_pattern(header, self.delimiter, "\n").fullmatch
            split = methodcaller("split", self.delimiter)
            total = os.fstat(handle.fileno()).st_size
            blocks = _line_blocks(handle)
            for block in blocks:
                if '"' in block or "\r" in block:
                    rest = chain.from_iterable(io.StringIO(b, newline="") for b in chain([block], blocks))
                    reader = csv.reader(rest, delimiter=self.delimiter, strict=True)
                    return rows + self._quick_csv(reader, header, in_order, insert, handle, total)
                if not plain(block):
                    raise _Suspect
                lines = block.split("\n")
                lines.pop()  # the empty string after the last \n
                fields = map(split, lines)
                self.conn.executemany(insert, map(in_order, fields) if in_order else fields)
                rows += len(lines)
                self.progress("reading", handle.buffer.tell(), total)
        return rows

    def _quick_csv(
        self,
        reader: Iterator[list[str]],
        header: list[str | None],
        in_order: Callable[[list[str]], Any] | None,
        insert: str,
        handle: TextIO,
        total: int,
    ) -> int:
        rows = 0
        join = FIELD_END.join
        passes = quick_batch_pattern(header, FIELD_END, ROW_END).fullmatch
        width = len(header)
        while batch := list(islice(reader, _BATCH)):
            text = ROW_END.join(map(join, batch)) + ROW_END
            # Joining loses the row structure if a value itself holds FIELD_END or ROW_END (a short row
            # could then pass as a full one), so every row must have the header's width and the text
            # exactly the separators the join put in: width - 1 FIELD_ENDs and one ROW_END per row.
            if (
                set(map(len, batch)) != {width}
                or text.count(FIELD_END) + text.count(ROW_END) != width * len(batch)
                or not passes(text)
            ):
                raise _Suspect
            self.conn.executemany(insert, map(in_order, batch) if in_order else batch)
            rows += len(batch)
            self.progress("reading", handle.buffer.tell(), total)
        return rows

    def _checked_pass(self, insert: str) -> int:
        with self._rows() as (reader, header, handle):
            try:
                self.conn.executemany(insert, self._checked_rows(reader, header, handle))
            except UnicodeDecodeError:
                self.problems.add(_first_undecodable_line(self.path), _NOT_UTF8)
            except csv.Error as exc:
                self.problems.add(reader.line_num, f"is not valid CSV ({exc})")  # type: ignore[attr-defined]
        self.problems.raise_if_any()
        return self._rows_checked

    def _checked_rows(
        self, reader: Iterator[list[str]], header: list[str | None], handle: TextIO
    ) -> Iterator[Sequence[str | float | int | None]]:
        """Every row's values from check_row, in COLUMNS order. Problems are recorded, not raised, so
        that all are found; after the first one nothing more is inserted."""
        width = len(header)
        positions = [header.index(column) for column in COLUMNS]
        first_line: dict[str, int] = {}
        problems = self.problems
        total = os.fstat(handle.fileno()).st_size
        line = 1
        for count, row in enumerate(reader, start=1):
            start, line = line + 1, reader.line_num  # type: ignore[attr-defined]
            if count % _BATCH == 0:
                self.progress("reading", handle.buffer.tell(), total)
            if not row:
                continue  # a blank line
            if len(row) != width:
                problems.add(
                    start, f"expected {width} fields, found {len(row)} (check the delimiter and quoting)"
                )
                continue
            cleaned = check_row(*(row[position] for position in positions))
            if isinstance(cleaned, list):
                for message in cleaned:
                    problems.add(start, message)
                continue
            first = first_line.setdefault(cleaned.sku, start)
            if first != start:
                problems.add(start, f"sku '{cleaned.sku}' appears twice (first on line {first})")
            elif not problems.total:
                c = cleaned
                yield c.sku, c.name, c.base_sku, c.link, c.rating, c.review_count
        self._rows_checked = len(first_line)

    def _first_lines(self, skus: set[str]) -> dict[str, int]:
        """The line on which each of `skus` first appears in the file."""
        found: dict[str, int] = {}
        with self._rows() as (reader, header, _):
            at = header.index("sku")
            line = 1
            for row in reader:
                start, line = line + 1, reader.line_num  # type: ignore[attr-defined]
                if len(row) > at and trim(row[at]) in skus:
                    found.setdefault(trim(row[at]), start)
        return found

    def _reject_existing(self) -> None:
        """Reject the import if any of its skus already exists (on_conflict=error)."""
        found = {
            sku for (sku,) in self.conn.execute("SELECT i.sku FROM temp.sku_import i JOIN skus s USING (sku)")
        }
        lines = self._first_lines(found)
        for sku in sorted(found, key=lines.__getitem__):
            self.problems.add(
                lines[sku], f"sku '{sku}' already exists (use --on-conflict update or skip to import it)"
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
        """Append straight into the empty table without its indexes and search triggers, then build
        each in one pass: far faster than keeping them current row by row."""
        conn = self.conn
        for name in schema.INDEXES:
            conn.execute(f"DROP INDEX {name}")
        for name in schema.SEARCH_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        insert = _INSERT_NEW.format(stamp=int(self.stamp))
        unique, *others = schema.INDEXES.values()
        rows = self._load(insert, unique)
        if dry_run:
            return ImportSummary(rows, rows, 0, 0, 0, dry_run)  # the rollback restores indexes and triggers
        steps = 1 + len(others)
        self.progress("indexing", 0, steps)
        conn.execute("INSERT INTO skus_search(skus_search) VALUES ('delete-all')")
        conn.execute(
            "INSERT INTO skus_search(rowid, text) "
            f"SELECT id, {schema.SEARCH_TEXT.format(row='skus')} FROM skus"
        )
        for done, statement in enumerate(others, start=1):
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
