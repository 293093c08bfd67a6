"""Reading a CSV file of SKUs for an import: every row checked, every problem kept with its line.

The file is read in blocks of whole rows. A plain block goes through the quick pass (quickcsv.py: a few calls
over the whole block, no Python code per row) and SQLite converts its values; any other block is read by the
csv module and each row cleaned by `check_row`. The quick check only passes rows that check_row accepts
unchanged and whose numbers SQLite converts exactly as Python does, so which way a block takes never changes
what is stored. Rows go to SQLite a hundred per statement.

A big file is read by two processes: the second half by a helper (`python -m taskctl.skus.csvread`) into a
staging database of its own, which the import then copies in, after the first half, in one statement.
Reading and checking a row costs far more in Python than copying it in SQLite, and the second core is idle.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple

from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.skus import quickcsv
from taskctl.skus.fields import COLUMNS, CleanRow, check_row, sql_values, trim

MAX_SHOWN_PROBLEMS = 20
_BLOCK_BYTES = 1 << 20  # small enough that a block's values stay a few MB in memory
_ROWS_PER_STATEMENT = 100  # 600 parameters: under SQLite's old limit of 999
# From this size the second half of a file is read by a helper process (starting one costs ~0.1 s).
HELPER_FROM_BYTES = 16 << 20
HELPER_DATABASE = "sku_import_helper"
_NOT_UTF8 = "is not UTF-8 text (save the file as UTF-8 and import again)"

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): phase 'reading' counts bytes; 'writing' and 'indexing' count steps."""


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


class Problems:
    """Collects problems: counts them all and keeps the MAX_SHOWN_PROBLEMS earliest by line, whatever order
    they are found in (two processes read a big file; duplicates are found in a second pass)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.total = 0
        self._latest_first: list[tuple[int, int, str]] = []  # a heap of (-line, -order, message)

    def add(self, line: int | None, message: str) -> None:
        self.total += 1
        entry = (-(line or 0), -self.total, message)
        if len(self._latest_first) < MAX_SHOWN_PROBLEMS:
            heapq.heappush(self._latest_first, entry)
        elif entry > self._latest_first[0]:
            heapq.heapreplace(self._latest_first, entry)

    def earliest(self) -> list[tuple[int, str]]:
        """The kept problems as (line, message), in line order (line 0: the file as a whole)."""
        return [(-line, message) for line, _, message in sorted(self._latest_first, reverse=True)]

    def add_all(self, earliest: list[tuple[int, str]], total: int) -> None:
        """Take over the problems another collector found."""
        for line, message in earliest:
            self.add(line, message)
        self.total += total - len(earliest)

    def raise_if_any(self) -> None:
        if self.total:
            shown = [
                f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}"
                for line, message in self.earliest()
            ]
            raise ImportRejected(self.source, shown, self.total)


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


class RowWriter:
    """Inserts rows through sql_values (so CSV text and cleaned values alike), many rows per statement: each
    statement costs SQLite and Python far more than each row does."""

    def __init__(self, conn: sqlite3.Connection, table: str, stamp: int | None = None) -> None:
        """Rows go into `table`: skus (with `stamp` as created_at and updated_at) or one that has exactly
        the six columns."""
        self._conn = conn
        self._into = f"INSERT INTO {table}"
        self._stamps = ""
        if stamp is not None:
            self._into += f" ({', '.join(COLUMNS)}, created_at, updated_at)"
            self._stamps = f", {int(stamp)}, {int(stamp)}"
        values = f"{self._into} VALUES "
        self._one = values + self._row(1)
        self._many = values + ", ".join(self._row(1 + 6 * n) for n in range(_ROWS_PER_STATEMENT))

    def _row(self, first: int) -> str:
        return f"({sql_values(first)}{self._stamps})"

    def write_values(self, values: list[str]) -> None:
        """Rows of six CSV values (COLUMNS order), one after another in `values`."""
        step = 6 * _ROWS_PER_STATEMENT
        whole = len(values) // step * step
        self._conn.executemany(self._many, (values[start : start + step] for start in range(0, whole, step)))
        rest = range(whole, len(values), 6)
        self._conn.executemany(self._one, (values[start : start + 6] for start in rest))

    def write_row(self, row: CleanRow) -> None:
        values = (row.sku, row.name, row.base_sku, row.link, row.rating, row.review_count)
        self._conn.execute(self._one, values)

    def copy_from(self, database: str) -> None:
        """Append the rows a helper stored in the table `rows` of the attached `database`, in their order."""
        self._conn.execute(
            f"{self._into} SELECT {', '.join(COLUMNS)}{self._stamps} FROM {database}.rows ORDER BY rowid"
        )


class _Part(NamedTuple):
    """A stretch of the file: whole rows from byte `start`, which is on line `first_line`, up to byte `end`
    (None: the end of the file)."""

    start: int
    end: int | None
    first_line: int


class _Block(NamedTuple):
    """Whole rows of the file, as read."""

    data: bytes
    start: int  # where in the file
    first_line: int


def _line_count(data: bytes) -> int:
    """Lines as the csv module counts them: a lone carriage return also ends one."""
    lines = data.count(b"\n")
    if b"\r" in data:
        lines += data.count(b"\r") - data.count(b"\r\n")
    return lines


def _blocks(raw: BinaryIO, part: _Part) -> Iterator[_Block]:
    """The part in blocks of whole lines, each cut after a newline that has an even number of quotes before
    it (in a well-formed file: not inside a quoted value). A last line without a newline gets one."""
    raw.seek(part.start)
    left = sys.maxsize if part.end is None else part.end - part.start
    start, line, rest = part.start, part.first_line, b""
    while left and (chunk := raw.read(min(_BLOCK_BYTES, left))):
        left -= len(chunk)
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        quotes = data.count(b'"', 0, cut)
        while quotes % 2:
            previous = data.rfind(b"\n", 0, cut - 1) + 1
            quotes -= data.count(b'"', previous, cut)
            cut = previous
        block, rest = data[:cut], data[cut:]
        if block:
            yield _Block(block, start, line)
            start += len(block)
            line += _line_count(block)
    if rest:
        yield _Block(rest + b"\n", start, line)


class _Rows(NamedTuple):
    """The rows of one block: the quick pass's values, or else each row as the csv module reads it."""

    block: _Block
    text: str
    values: list[str] | None  # every value of every row, in the file's column order
    parsed: list[tuple[int, list[str]]]  # when `values` is None: (line the row starts on, its values)

    def numbered(self, width: int, delimiter: str) -> Iterator[tuple[int, list[str]]]:
        """Each row with the line it starts on."""
        if self.values is None:
            yield from self.parsed
        elif self.text.count("\n") * width == len(self.values):  # no newline inside a value
            for index in range(0, len(self.values), width):
                yield self.block.first_line + index // width, self.values[index : index + width]
        else:
            yield from _csv_rows(self.text, self.block.first_line, delimiter)


def _csv_rows(text: str, first_line: int, delimiter: str) -> list[tuple[int, list[str]]]:
    """The rows of `text` as the csv module reads them, each with the line it starts on. A csv.Error gets
    the attribute `line`: where reading stopped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = first_line
    try:
        for row in reader:
            rows.append((start, row))
            start = first_line + reader.line_num
    except csv.Error as exc:
        exc.line = first_line - 1 + reader.line_num  # type: ignore[attr-defined]
        raise
    return rows


class _Unfinished(Exception):
    """A part ends inside a quoted value (its cut was made by counting quotes, which a stray quote upsets):
    the rest of the file must be read from `rest` on, in this process."""

    def __init__(self, rest: _Part) -> None:
        self.rest = rest


class CsvReader:
    """Reads one CSV file of SKUs: its header, then every row, checked, into a RowWriter."""

    def __init__(
        self,
        path: Path,
        *,
        source: str,
        delimiter: str,
        ignore_extra: bool,
        problems: Problems,
        progress: Progress | None = None,
    ) -> None:
        self.path = path
        self.source = source
        self.delimiter = delimiter
        self.ignore_extra = ignore_extra
        self.problems = problems
        self.progress = progress or (lambda phase, done, total: None)
        self.rows = 0

    @contextlib.contextmanager
    def open(self) -> Iterator[tuple[BinaryIO, list[str | None]]]:
        """The file, positioned after the header, and the header's columns."""
        try:
            raw = self.path.open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"{self.source}: no such file.") from None
        except OSError as exc:
            raise TaskctlError(f"{self.source}: cannot read the file ({exc.strerror}).") from None
        with raw:
            first = raw.readline()
            if not first:
                raise ImportRejected(
                    self.source,
                    [f"{self.source}: the file is empty (expected a header: {', '.join(COLUMNS)})"],
                    1,
                )
            problems = Problems(self.source)
            names: list[str] = []
            try:
                text = first.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
                names = next(csv.reader([text], delimiter=self.delimiter, strict=True), [])
            except UnicodeDecodeError:
                problems.add(1, _NOT_UTF8)
            except csv.Error as exc:
                problems.add(1, f"is not valid CSV ({exc})")
            problems.raise_if_any()
            yield raw, read_header(names, self.source, self.ignore_extra)

    def load(self, writer: RowWriter, conn: sqlite3.Connection) -> None:
        """Write every valid row with `writer` (on `conn`), a big file's second half read by a helper
        process; problems go to `self.problems` and the count of rows written to `self.rows`."""
        with self.open() as (raw, header):
            total = os.fstat(raw.fileno()).st_size
            whole = _Part(raw.tell(), None, 2)
            first, second = (whole, None) if total - whole.start < HELPER_FROM_BYTES else _halves(raw, whole)
            with _Helper.start(self, second) as helper:
                try:
                    complete = self._load_part(raw, header, writer, first, total)
                except _Unfinished as unfinished:  # the second half does not start at a row
                    helper, complete = None, self._load_part(raw, header, writer, unfinished.rest, total)
                if helper is not None and complete and not helper.finish(self, writer, conn, total):
                    assert second is not None  # the helper failed to run: read its half here
                    self._load_part(raw, header, writer, second, total)

    def _load_part(
        self, raw: BinaryIO, header: list[str | None], writer: RowWriter, part: _Part, total: int
    ) -> bool:
        """Write the valid rows of `part`; False if reading stopped at text that is not UTF-8 or not CSV."""
        positions = [header.index(column) for column in COLUMNS]
        for read in self._read(raw, header, self.problems, part):
            if read is None:
                return False
            if read.values is not None:
                writer.write_values(quickcsv.in_column_order(read.values, header))
                self.rows += len(read.values) // len(header)
            else:
                for line, row in read.parsed:
                    cleaned = self._check_row(line, row, len(header), positions)
                    if cleaned is not None:
                        writer.write_row(cleaned)
                        self.rows += 1
            self.progress("reading", read.block.start + len(read.block.data), total)
        return True

    def _read(
        self, raw: BinaryIO, header: list[str | None], problems: Problems, part: _Part
    ) -> Iterator[_Rows | None]:
        """The rows of `part`, block by block; None (and a problem) where text that is not UTF-8 or not CSV
        ends the reading: what follows cannot be told apart into rows."""
        blocks = _blocks(raw, part)
        block = next(blocks, None)
        while block is not None:
            following = next(blocks, None)
            try:
                text = block.data.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.add(block.first_line + _line_count(block.data[: exc.start]), _NOT_UTF8)
                yield None
                return
            values = quickcsv.split_block(text, self.delimiter, len(header))
            if values is not None and quickcsv.check_columns(values, header):
                yield _Rows(block, text, values, [])
                block = following
                continue
            try:
                parsed = _csv_rows(text, block.first_line, self.delimiter)
            except csv.Error as exc:
                line: int = exc.line  # type: ignore[attr-defined]
                if line >= block.first_line + _line_count(block.data) - 1:  # it ends inside a quoted value
                    if following is not None:
                        block = _Block(block.data + following.data, block.start, block.first_line)
                        continue
                    if part.end is not None:
                        raise _Unfinished(_Part(block.start, None, block.first_line)) from None
                problems.add(line, f"is not valid CSV ({exc})")
                yield None
                return
            yield _Rows(block, text, None, parsed)
            block = following

    def _check_row(self, line: int, row: list[str], width: int, positions: list[int]) -> CleanRow | None:
        """The row as check_row cleans it, or None: a blank line, or a row whose problems were recorded."""
        if not row:
            return None
        if len(row) != width:
            self.problems.add(
                line, f"expected {width} fields, found {len(row)} (check the delimiter and quoting)"
            )
            return None
        cleaned = check_row(*(row[position] for position in positions))
        if isinstance(cleaned, list):
            for message in cleaned:
                self.problems.add(line, message)
            return None
        return cleaned

    def valid_rows_with(self, skus: set[str]) -> Iterator[tuple[int, CleanRow]]:
        """Each row of the file that check_row accepts and whose sku is one of `skus`, with its line."""
        with self.open() as (raw, header):
            width = len(header)
            at = header.index("sku")
            positions = [header.index(column) for column in COLUMNS]
            for read in self._read(raw, header, Problems(self.source), _Part(raw.tell(), None, 2)):
                if read is None:
                    return
                for line, row in read.numbered(width, self.delimiter):
                    if len(row) == width and trim(row[at]) in skus:
                        cleaned = check_row(*(row[position] for position in positions))
                        if isinstance(cleaned, CleanRow):
                            yield line, cleaned


def _halves(raw: BinaryIO, whole: _Part) -> tuple[_Part, _Part | None]:
    """`whole` cut in two near its middle, after a newline with an even number of quotes before it (no
    second part if no row ends near the middle)."""
    end = os.fstat(raw.fileno()).st_size
    middle = whole.start + (end - whole.start) // 2
    raw.seek(whole.start)
    quotes = lines = 0
    previous = b""  # the last byte of the chunk before: a carriage return there pairs with a newline here
    for _ in range(whole.start, middle, _BLOCK_BYTES):
        chunk = raw.read(min(_BLOCK_BYTES, middle - raw.tell()))
        quotes += chunk.count(b'"')
        lines += _line_count(chunk) - (previous == b"\r" and chunk[:1] == b"\n")
        previous = chunk[-1:]
    tail = raw.read(_BLOCK_BYTES)
    cut = 0
    while True:
        cut = tail.find(b"\n", cut) + 1
        if not cut:
            return whole, None
        if (quotes + tail.count(b'"', 0, cut)) % 2 == 0:
            break
    lines += _line_count(tail[:cut]) - (previous == b"\r" and tail[:1] == b"\n")
    split = middle + cut
    return _Part(whole.start, split, whole.first_line), _Part(split, None, whole.first_line + lines)


class _Helper:
    """The helper process reading a file's second half into a staging database of its own."""

    def __init__(self, process: subprocess.Popen[str], folder: Path, part: _Part) -> None:
        self.process = process
        self.folder = folder
        self.part = part

    @classmethod
    @contextlib.contextmanager
    def start(cls, reader: CsvReader, part: _Part | None) -> Iterator[_Helper | None]:
        """Run the helper on `part` (None: no helper); when the block ends it is stopped, whatever happens,
        and its files removed. (If this process is killed, the helper notices when it next reports its
        progress, and removes them itself.)"""
        if part is None:
            yield None
            return
        folder = Path(tempfile.mkdtemp(prefix="taskctl-sku-import-"))
        try:
            spec = {
                "path": str(reader.path),
                "source": reader.source,
                "delimiter": reader.delimiter,
                "ignore_extra": reader.ignore_extra,
                "part": list(part),
                "staging": str(folder / "rows.db"),
            }
            package_root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
            process = subprocess.Popen(
                [sys.executable, "-m", "taskctl.skus.csvread"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": path},
            )
            try:
                assert process.stdin is not None
                # A helper that ends before reading its task (it could not start) closes the pipe: `finish`
                # then sees it failed, and this process reads the whole file itself.
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.write(json.dumps(spec) + "\n")
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
                yield cls(process, folder, part)
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
                for stream in (process.stdout, process.stderr):
                    if stream is not None:
                        stream.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def finish(self, reader: CsvReader, writer: RowWriter, conn: sqlite3.Connection, total: int) -> bool:
        """Wait for the helper (passing on its progress), then append its rows after this process's and
        take over its problems; False if the helper failed (then nothing was taken)."""
        assert self.process.stdout is not None
        result: dict[str, Any] = {}
        for line in self.process.stdout:
            message = json.loads(line)
            if "read" in message:
                reader.progress("reading", self.part.start + message["read"], total)
            else:
                result = message
        if self.process.wait() != 0 or not result:
            return False
        reader.problems.add_all([(line, message) for line, message in result["problems"]], result["total"])
        reader.rows += result["rows"]
        if result["rows"]:
            conn.execute(f"ATTACH DATABASE ? AS {HELPER_DATABASE}", (str(self.folder / "rows.db"),))
            writer.copy_from(HELPER_DATABASE)
        return True


def detach_helper(conn: sqlite3.Connection) -> None:
    """Let go of the helper's staging database, once the import's transaction has ended (SQLite refuses
    before)."""
    if any(row[1] == HELPER_DATABASE for row in conn.execute("PRAGMA database_list")):
        conn.execute(f"DETACH DATABASE {HELPER_DATABASE}")


def _help(spec: dict[str, Any], out: IO[str]) -> None:
    """The helper's work: read the part `spec` names into a staging database; report progress and the
    result as JSON lines on `out`. If the import has gone (`out` is a broken pipe), remove the staging
    folder and stop."""
    try:
        _read_part(spec, out)
    except BrokenPipeError:
        shutil.rmtree(Path(spec["staging"]).parent, ignore_errors=True)
        os._exit(1)  # without flushing `out` again


def _read_part(spec: dict[str, Any], out: IO[str]) -> None:
    conn = sqlite3.connect(spec["staging"], isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")  # a scratch file: nobody else reads it until it is done
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("CREATE TABLE rows (sku, name, base_sku, link, rating, review_count)")
    problems = Problems(spec["source"])
    part = _Part(*spec["part"])
    reader = CsvReader(
        Path(spec["path"]),
        source=spec["source"],
        delimiter=spec["delimiter"],
        ignore_extra=spec["ignore_extra"],
        problems=problems,
        progress=lambda phase, done, total: print(
            json.dumps({"read": done - part.start}), file=out, flush=True
        ),
    )
    conn.execute("BEGIN")
    with reader.open() as (raw, header):
        total = os.fstat(raw.fileno()).st_size
        reader._load_part(raw, header, RowWriter(conn, "rows"), part, total)
    conn.execute("COMMIT")
    conn.close()
    result = {"rows": reader.rows, "problems": problems.earliest(), "total": problems.total}
    print(json.dumps(result), file=out, flush=True)


if __name__ == "__main__":
    csv.field_size_limit(sys.maxsize)
    _help(json.loads(sys.stdin.readline()), sys.stdout)
