"""The search text: every row's name and sku in lower case, kept apart from the table, so that a search for a
rare text reads ~60 bytes a row instead of the whole table and finds its few rows in tens of milliseconds.

Rows are kept in segments (table skus_text) of at most SEGMENT_ROWS consecutive ids. A segment's text holds,
for each of its rows in id order, `name` then `sku`, each followed by SEPARATOR except the last, the whole
lowered with Python's str.lower() and encoded as UTF-8. Lowering the joined text is lowering each value: the
separator is neither a cased nor a case-ignorable character, so no value's lower case depends on its
neighbours (the one letter that looks around, 'Σ', stops at it as at either end of a string). A separator
inside a value is written as a space, so the text always holds exactly 2 x rows - 1 of them and a position in
it names its row; a search text holding the separator does not use this index.

A segment found to contain the search text gives the rows where it occurs; they are candidates, checked
exactly against the table by the caller. Triggers drop a segment whenever one of its rows is added, removed
or has its name, sku or id changed, so a segment is never stale; rows outside every segment ("uncovered": new
rows, or those of a dropped segment) are searched in the table itself, and `cover` builds segments for them
once there are enough. An import into an empty table writes its segments as it reads the file (Segments).
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Sequence
from itertools import accumulate, chain, repeat
from typing import Any

from taskctl import fastfind

SEGMENT_ROWS = 1024
SEPARATOR = "\x1f"
_SEPARATOR_BYTE = SEPARATOR.encode()
# Writers leave at most this many rows uncovered before they build segments for them: a search reads them from
# the table (a few ms), and a single-row change does not rebuild a segment each time.
UNCOVERED_ROWS_MAX = 4096
# The estimate of how many rows match reads segments holding about this many rows, spread over the table.
SAMPLE_ROWS = 32 * 1024


def folded(skus: Sequence[str], names: Sequence[str]) -> bytes:
    """The text of a segment holding these rows (in id order)."""
    text = SEPARATOR.join(chain.from_iterable(zip(names, skus, strict=True)))
    if text.count(SEPARATOR) != 2 * len(skus) - 1:  # a value holds the separator: write it as a space
        text = SEPARATOR.join(
            value.replace(SEPARATOR, " ") for value in chain.from_iterable(zip(names, skus, strict=True))
        )
    return text.lower().encode()


def usable_for(needle: str) -> bool:
    """Whether this index can find `needle` (a lower-case search text)."""
    return bool(needle) and SEPARATOR not in needle


class Segments:
    """Writes the segments of rows appended to the table in id order, from `first_id` on (an import into an
    empty table: the rows get ids 1, 2, ... in the order they are written)."""

    def __init__(self, conn: sqlite3.Connection, first_id: int, table: str = "skus_text") -> None:
        self._conn = conn
        self._insert = f"INSERT INTO {table} (first_id, last_id, text) VALUES (?, ?, ?)"
        self.next_id = first_id
        self._skus: list[str] = []
        self._names: list[str] = []

    def add(self, skus: Sequence[str], names: Sequence[str]) -> None:
        """The next rows' skus and names (values as stored)."""
        self._skus += skus
        self._names += names
        if len(self._skus) >= SEGMENT_ROWS:
            self._write(len(self._skus) // SEGMENT_ROWS * SEGMENT_ROWS)

    def finish(self) -> None:
        """Write the rows still held (a last, shorter segment)."""
        self._write(len(self._skus))

    def _write(self, count: int) -> None:
        skus, names = self._skus, self._names
        self._conn.executemany(
            self._insert,
            (
                (
                    self.next_id + start,
                    self.next_id + min(start + SEGMENT_ROWS, count) - 1,
                    folded(skus[start : start + SEGMENT_ROWS], names[start : start + SEGMENT_ROWS]),
                )
                for start in range(0, count, SEGMENT_ROWS)
            ),
        )
        self.next_id += count
        self._skus, self._names = skus[count:], names[count:]

    def copy_from(self, table: str, rows: int) -> None:
        """Append the segments another writer made in `table` for the next `rows` rows, numbered from 0."""
        self.finish()
        self._conn.execute(
            "INSERT INTO skus_text (first_id, last_id, text) "
            f"SELECT first_id + ?1, last_id + ?1, text FROM {table} ORDER BY first_id",
            (self.next_id,),
        )
        self.next_id += rows


class TextIndex:
    """The search text of one skus.db connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def estimated_share(self, needle: str) -> float:
        """About what share of the rows contain `needle` (lower case; usable_for it), from a sample of
        segments spread over the table: each occurrence counts, so a row holding it twice counts twice."""
        segments = self._conn.execute(_SEGMENT_RANGES).fetchall()
        covered = sum(last - first + 1 for first, last in segments)
        if not covered:
            return 0.0
        step = max(1, covered // SAMPLE_ROWS)  # segments hold about equally many rows
        sample = ",".join(str(first) for first, _ in segments[::step])
        pattern = needle.encode("utf-8", "surrogatepass")
        found = rows = 0
        for first, last, text in self._conn.execute(
            f"SELECT first_id, last_id, text FROM skus_text WHERE first_id IN ({sample})"
        ):
            found += text.count(pattern)
            rows += last - first + 1
        return found / rows

    def candidates(self, needle: str, match: str, params: Sequence[Any]) -> list[int]:
        """The ids of the rows that may contain `needle` (lower case; usable_for it): those of the segments'
        rows where it occurs, and those of the uncovered rows for which the SQL condition `match` holds."""
        pattern = needle.encode("utf-8", "surrogatepass")  # a surrogate is in no stored text: found nowhere
        found: list[int] = []
        for first, ids, text in self._conn.execute("SELECT first_id, ids, text FROM skus_text"):
            rows = _rows_holding(text, pattern)
            if rows:
                if ids is None:
                    found += map(first.__add__, rows)
                else:
                    found += map(int, map(ids.split(",").__getitem__, rows))
        for low, high in self._uncovered():
            found += [
                row_id
                for (row_id,) in self._conn.execute(
                    f"SELECT id FROM skus WHERE id BETWEEN ? AND ? AND {match}", (low, high, *params)
                )
            ]
        return found

    def _uncovered(self) -> list[tuple[int, int]]:
        """The ranges of ids (low, high) that no segment covers, up to the table's largest id."""
        (top,) = self._conn.execute("SELECT ifnull(max(id), 0) FROM skus").fetchone()
        gaps = []
        low = 1
        for first, last in self._conn.execute(_SEGMENT_RANGES):
            if first > low:
                gaps.append((low, min(first - 1, top)))
            low = last + 1
            if low > top:
                return gaps
        if low <= top:
            gaps.append((low, top))
        return gaps

    def keep_covered(self) -> None:
        """What a writer calls after a change: build segments for the uncovered rows once there are more
        than UNCOVERED_ROWS_MAX of them."""
        self.cover(slack=UNCOVERED_ROWS_MAX)

    def cover(self, slack: int = 0) -> None:
        """Build segments for the uncovered rows if there are more than `slack` of them. A short segment just
        before an uncovered range is built again with it, so that adding a few rows at a time does not leave
        many small segments."""
        gaps = self._uncovered()
        uncovered = sum(
            self._conn.execute("SELECT count(*) FROM skus WHERE id BETWEEN ? AND ?", gap).fetchone()[0]
            for gap in gaps
        )
        if uncovered <= slack:
            return
        for low, high in gaps:
            previous = self._conn.execute(
                "SELECT first_id, last_id FROM skus_text WHERE first_id < ? ORDER BY first_id DESC LIMIT 1",
                (low,),
            ).fetchone()
            if (
                previous is not None
                and previous[1] == low - 1
                and previous[1] - previous[0] + 1 < SEGMENT_ROWS
            ):
                self._conn.execute("DELETE FROM skus_text WHERE first_id = ?", (previous[0],))
                low = previous[0]
            while low <= high:
                low = self._build(low, high) + 1

    def _build(self, low: int, high: int) -> int:
        """A segment for the next SEGMENT_ROWS rows (or fewer) from id `low` up to `high`, from the table;
        returns the last id it covers."""
        rows = self._conn.execute(
            "SELECT id, sku, name FROM skus WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?",
            (low, high, SEGMENT_ROWS),
        ).fetchall()
        if not rows:
            return high
        last = high if len(rows) < SEGMENT_ROWS else rows[-1][0]
        ids = None if len(rows) == last - low + 1 else ",".join(str(row[0]) for row in rows)
        self._conn.execute(
            "INSERT INTO skus_text (first_id, last_id, ids, text) VALUES (?, ?, ?, ?)",
            (low, last, ids, folded([row[1] for row in rows], [row[2] for row in rows])),
        )
        return last


_SEGMENT_RANGES = "SELECT first_id, last_id FROM skus_text ORDER BY last_id"  # its index holds both


def _rows_holding(text: bytes, pattern: bytes) -> list[int]:
    """The rows (0, 1, ... in the segment) whose name or sku holds `pattern`, each once, in order: the number
    of separators before an occurrence, halved.

    The first few occurrences are found with memmem. Past those, the rest of the text is cut at each
    occurrence (not at overlapping ones: a value that holds the pattern still has one, as the pattern holds no
    separator) and the separators counted piece by piece, in loops that run in C, for a pattern found in
    every row.
    """
    rows: list[int] = []
    separators = counted = 0
    for position in fastfind.find_all(text, pattern):
        separators += text.count(_SEPARATOR_BYTE, counted, position)
        counted = position
        rows.append(separators >> 1)
        if len(rows) == _FEW_OCCURRENCES:
            pieces = text[position + len(pattern) :].split(pattern)
            counts = accumulate(map(bytes.count, pieces[:-1], repeat(_SEPARATOR_BYTE)), initial=separators)
            rows += map(operator.rshift, counts, repeat(1))
            break
    return list(dict.fromkeys(rows))


_FEW_OCCURRENCES = 8
