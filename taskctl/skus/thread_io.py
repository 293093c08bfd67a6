"""The SKU table as a thread's input and output: selecting rows (with `stale`), and importing a results file
that has only some of the SKU columns.

Built on the table's public API only (`SkuTable.query`, `find`, `import_csv`): a results file is checked
here, line by line against its own line numbers, then merged with the rows it names (the columns it lacks
keep their values) and written through `import_csv`, so it is applied whole or not at all, with the same
rules and counts as `taskctl sku import`.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from taskctl.errors import TaskctlError
from taskctl.skus.csvio import ImportRejected, ImportSummary, OnConflict, write_csv
from taskctl.skus.csvread import MAX_SHOWN_PROBLEMS
from taskctl.skus.fields import COLUMNS, check_link, check_rating, check_review_count, trim
from taskctl.skus.model import Sku
from taskctl.skus.table import SkuQuery, SkuTable

PAGE = 10_000  # rows read per query while streaming a selection


def select_rows(table: SkuTable, query: SkuQuery, updated_before: datetime | None = None) -> Iterator[Sku]:
    """Every row `query` selects (its `limit` is the total, not a page size), streamed in pages.

    With `updated_before` (aware), only rows last updated at or before it, the stalest first; otherwise in
    the query's order.
    """
    remaining = query.limit
    page = replace(query, limit=PAGE, after=None)
    if updated_before is not None:
        page = replace(page, sort="updated_at", descending=False)
    while remaining is None or remaining > 0:
        found = table.query(page if remaining is None else replace(page, limit=min(PAGE, remaining)))
        for sku in found.skus:
            if updated_before is not None and sku.updated_at > updated_before:
                return
            yield sku
        if remaining is not None:
            remaining -= len(found.skus)
        if found.next_after is None:
            return
        page = replace(page, after=found.next_after)


def write_selection(
    table: SkuTable, query: SkuQuery, target: Path, updated_before: datetime | None = None
) -> int:
    """Write the selected rows as an SKU CSV (the six columns, as `sku export` writes them) to `target`,
    through a temporary file and a rename; returns how many rows it holds."""
    temp = target.with_name(f".{target.name}.{os.urandom(4).hex()}")
    try:
        with temp.open("w", encoding="utf-8", newline="") as out:
            count = write_csv(select_rows(table, query, updated_before), out)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return count


@dataclass(frozen=True)
class ColumnsImport:
    """What importing a file with some of the SKU columns did; `ignored` are its columns that are not SKU
    columns (in file order)."""

    summary: ImportSummary
    columns: tuple[str, ...]
    ignored: tuple[str, ...]


def import_columns(
    table: SkuTable,
    path: Path,
    on_conflict: OnConflict | str = OnConflict.UPDATE,
    source: str | None = None,
) -> ColumnsImport:
    """Import `path`, a CSV with a `sku` column and any of the other SKU columns, all or nothing.

    A row whose sku exists changes only the columns the file has (as `on_conflict` says); a new sku needs a
    `name`. Columns that are not SKU columns are ignored. Raises ImportRejected naming every bad line of
    `source` (default: the path) when any row is bad; then nothing is written.
    """
    on_conflict = OnConflict(on_conflict)
    source = source or str(path)
    checked = _check_file(table, path, source, on_conflict)
    merged = path.with_name(f".{path.name}.merged-{os.urandom(4).hex()}")
    try:
        with merged.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(row for row, _ in checked.rows)
        try:
            summary = table.import_csv(merged, on_conflict=on_conflict)
        except ImportRejected as rejected:  # a change to the table since the check (a sku added meanwhile)
            raise _in_source(rejected, str(merged), source, [line for _, line in checked.rows]) from None
    finally:
        merged.unlink(missing_ok=True)
    return ColumnsImport(summary, checked.columns, checked.ignored)


@dataclass
class _CheckedFile:
    columns: tuple[str, ...]
    ignored: tuple[str, ...]
    rows: list[tuple[list[str], int]]  # (the six columns merged with the table's row, line in the file)


class _Problems(list[str]):
    """Every problem of a file as `source:line: message` (ImportRejected shows the first few)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def add(self, line: int | None, message: str) -> None:
        self.append(f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}")

    def raise_if_any(self) -> None:
        if self:
            raise ImportRejected(self.source, self[:MAX_SHOWN_PROBLEMS], len(self))


def _check_file(table: SkuTable, path: Path, source: str, on_conflict: OnConflict) -> _CheckedFile:
    problems = _Problems(source)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise TaskctlError(f"{source} was not written (no such file in the run folder).") from None
    except OSError as exc:
        raise TaskctlError(f"{source}: cannot read the file ({exc.strerror}).") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                problems.add(None, "the file is empty (expected a header with 'sku' and SKU columns)")
                problems.raise_if_any()
            assert header is not None
            positions, ignored = _read_header(header, problems)
            problems.raise_if_any()
            rows = list(_checked_rows(reader, len(header), positions, table, on_conflict, problems))
        except UnicodeDecodeError:
            problems.add(None, "is not UTF-8 text (write the file as UTF-8)")
            rows = []
        except csv.Error as exc:
            problems.add(reader.line_num, f"is not valid CSV ({exc})")
            rows = []
    problems.raise_if_any()
    return _CheckedFile(tuple(positions), ignored, rows)


def _read_header(header: list[str], problems: _Problems) -> tuple[dict[str, int], tuple[str, ...]]:
    """Where each SKU column is, and the other columns' names."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if name in COLUMNS:
            if name in positions:
                problems.add(1, f"column '{name}' appears twice in the header")
            positions[name] = index
        elif raw.strip():
            ignored.append(raw.strip())
    if "sku" not in positions:
        problems.add(1, f"the header has no 'sku' column (it has: {', '.join(h.strip() for h in header)})")
    elif len(positions) == 1:
        columns = ", ".join(COLUMNS)
        problems.add(
            1, f"the header has no SKU column besides 'sku' (SKU columns: {columns}); nothing to import"
        )
    return positions, tuple(dict.fromkeys(ignored))


def _checked_rows(
    reader: Iterator[list[str]],
    width: int,
    positions: dict[str, int],
    table: SkuTable,
    on_conflict: OnConflict,
    problems: _Problems,
) -> Iterator[tuple[list[str], int]]:
    """Each good row merged with the table's row for its sku; problems are recorded, not raised."""
    first_line: dict[str, int] = {}
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num  # type: ignore[attr-defined]
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            problems.add(start, f"expected {width} fields, found {len(row)} (check the quoting)")
            continue
        given = {column: row[index] for column, index in positions.items()}
        sku = trim(given["sku"])
        if not sku:
            problems.add(start, "sku is empty (every row needs a sku)")
            continue
        first = first_line.setdefault(sku, start)
        if first != start:
            problems.add(start, f"sku '{sku}' appears twice (first on line {first})")
            continue
        row_problems = _value_problems(given)
        existing = table.find(sku)
        if existing is None and "name" not in given:
            row_problems.append(
                f"sku '{sku}' is not in the SKU table, and without a 'name' column a row cannot add it"
            )
        elif existing is not None and on_conflict is OnConflict.ERROR:
            row_problems.append(f"sku '{sku}' already exists (into_skus: error)")
        for message in row_problems:
            problems.add(start, message)
        if not row_problems:
            yield _merged(sku, given, existing), start


def _value_problems(given: dict[str, str]) -> list[str]:
    found = []
    if "name" in given and not trim(given["name"]):
        found.append("name is empty (every row needs a name)")
    checks = (("link", check_link), ("rating", check_rating), ("review_count", check_review_count))
    for column, check in checks:
        if column in given:
            problem = check(given[column])[1]
            if problem:
                found.append(problem)
    return found


def _merged(sku: str, given: dict[str, str], existing: Sku | None) -> list[str]:
    """The six columns: the file's values where it has the column, else the table's (or empty for a new
    sku, whose base_sku then defaults to the sku)."""
    current = existing.csv_row() if existing is not None else [sku, "", "", "", "", ""]
    return [trim(given[c]) if c in given else current[i] for i, c in enumerate(COLUMNS)]


def _in_source(rejected: ImportRejected, merged: str, source: str, lines: list[int]) -> ImportRejected:
    """The same problems, with the merged file's line numbers turned into the results file's."""
    pattern = re.compile(rf"^{re.escape(merged)}:(\d+): ")

    def located(problem: str) -> str:
        match = pattern.match(problem)
        if match is None:
            return problem.replace(merged, source)
        number = int(match.group(1))
        line = lines[number - 2] if 2 <= number < len(lines) + 2 else number
        return f"{source}:{line}: {problem[match.end() :]}"

    return ImportRejected(source, [located(p) for p in rejected.problems], rejected.total)
