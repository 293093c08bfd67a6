"""The search text of the SKU table: what it holds after every kind of change, and what it finds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskctl.skus.schema
import taskctl.skus.textindex
from taskctl.skus import SkuTable
from taskctl.skus.search import match_condition, register
from taskctl.skus.textindex import SEPARATOR, TextIndex, folded
from tests.conftest import write

HEADER = "sku,name,base_sku,link,rating,review_count\n"


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments of 4 rows, rebuilt once 3 rows are uncovered: a few rows behave as a million do."""
    monkeypatch.setattr(taskctl.skus.textindex, "SEGMENT_ROWS", 4)
    monkeypatch.setattr(taskctl.skus.textindex, "UNCOVERED_ROWS_MAX", 3)


def held_rows(conn: sqlite3.Connection) -> Iterator[tuple[int, str, str]]:
    """(id, name, sku) for each row the segments hold, decoded from their text."""
    for first, last, ids, text in conn.execute(
        "SELECT first_id, last_id, ids, text FROM skus_text ORDER BY 1"
    ):
        values = text.decode().split(SEPARATOR)
        row_ids = range(first, last + 1) if ids is None else [int(i) for i in ids.split(",")]
        assert len(values) == 2 * len(row_ids)
        assert all(first <= row_id <= last for row_id in row_ids)
        yield from zip(row_ids, values[0::2], values[1::2], strict=True)


def check_search_text(path: Path) -> int:
    """Every row the segments hold is in the table with that name and sku in lower case, and every other row
    lies outside every segment; returns how many rows the segments hold."""
    conn = sqlite3.connect(path)
    ranges = conn.execute("SELECT first_id, last_id FROM skus_text ORDER BY first_id").fetchall()
    assert all(last < following for (_, last), (following, _) in pairwise(ranges))
    held = list(held_rows(conn))
    table = {row_id: (name, sku) for row_id, name, sku in conn.execute("SELECT id, name, sku FROM skus")}
    for row_id, name, sku in held:
        assert (name, sku) == tuple(value.replace(SEPARATOR, " ").lower() for value in table.pop(row_id))
    assert not [row_id for row_id in table if any(first <= row_id <= last for first, last in ranges)]
    conn.close()
    return len(held)


@given(st.lists(st.tuples(st.text(min_size=1), st.text(min_size=1)), min_size=1, max_size=8))
def test_the_text_of_a_segment_is_each_value_in_lower_case(rows: list[tuple[str, str]]) -> None:
    values = folded([sku for sku, _ in rows], [name for _, name in rows]).decode().split(SEPARATOR)
    assert values == [value.replace(SEPARATOR, " ").lower() for sku, name in rows for value in (name, sku)]


def test_final_sigma_and_letters_that_grow_lower_alone_as_beside_others() -> None:
    # (sku, name): a capital sigma (\u03a3) lowers to the final form (\u03c2) only after a letter, whatever
    # follows the value in the segment
    rows = [
        ("\u039f\u0394\u039f\u03a3", "\u03a3\u0391"),
        ("A\u03a3.", "\u03a3"),
        ("\u0130STANBUL", "\u212aELVIN"),
        (f"x{SEPARATOR}\u03a3", "\u00df"),
    ]
    expected = [
        *("\u03c3\u03b1", "\u03bf\u03b4\u03bf\u03c2"),
        *("\u03c3", "a\u03c2."),
        *("kelvin", "i\u0307stanbul"),
        *("\u00df", "x \u03c3"),
    ]
    assert folded([sku for sku, _ in rows], [name for _, name in rows]).decode().split(SEPARATOR) == expected


def import_rows(path: Path, count: int, start: int = 0) -> Path:
    rows = "".join(
        f"S{n:03d},Name {n}{' steel' if n % 3 == 0 else ''},F{n // 3},,,\n" for n in range(start, count)
    )
    return write(path, HEADER + rows)


def test_the_search_text_holds_every_row_whatever_changes_it(tmp_path: Path, small_segments: None) -> None:
    db = tmp_path / "skus.db"
    table = SkuTable.open(db)
    table.import_csv(import_rows(tmp_path / "first.csv", 10))
    assert check_search_text(db) == 10  # an import into an empty table writes its segments as it reads
    table.add("S100", "Added")
    table.add("S101", "Added too")
    assert check_search_text(db) == 10  # two rows may stay uncovered
    table.update("S004", name="Renamed")
    assert check_search_text(db) == 12  # more than three: segments for them all
    table.update("S005", rating=4.5)  # a change that does not touch the text
    table.remove(["S000", "S101"])
    table.remove_family("F2")
    assert table.count() - 3 <= check_search_text(db) <= table.count() == 7
    table.import_csv(import_rows(tmp_path / "more.csv", 20, start=5))  # updates some, adds others
    assert check_search_text(db) == table.count() == 20
    foreign = sqlite3.connect(db)  # another program: the triggers drop what its changes make stale
    foreign.execute("DELETE FROM skus WHERE id = (SELECT max(id) FROM skus)")
    foreign.execute(
        "INSERT INTO skus (sku, name, base_sku, created_at, updated_at) VALUES ('N', 'New', 'N', 0, 0)"
    )
    foreign.execute("UPDATE skus SET name = 'Moved', id = 1000 WHERE sku = 'S006'")
    foreign.execute("UPDATE skus SET sku = 'S007b' WHERE sku = 'S007'")
    foreign.commit()
    check_search_text(db)
    TextIndex(foreign).cover()
    foreign.commit()
    assert check_search_text(db) == table.count()


def test_rows_with_gaps_between_their_ids_list_them(tmp_path: Path, small_segments: None) -> None:
    db = tmp_path / "skus.db"
    with SkuTable.open(db) as table:
        for n in range(9):
            table.add(f"S{n}", f"Name {n}")
        table.remove(["S1", "S2", "S6"])
    conn = sqlite3.connect(db)
    TextIndex(conn).cover()
    assert [(first, last, ids) for first, last, ids, _ in conn.execute("SELECT * FROM skus_text")] == [
        (1, 6, "1,4,5,6"),  # four rows among the ids 1..6
        (7, 9, "8,9"),
    ]
    assert check_search_text(db) == 6


def test_a_value_holding_the_separator_is_held_with_a_space(tmp_path: Path, small_segments: None) -> None:
    db = tmp_path / "skus.db"
    with SkuTable.open(db) as table:
        table.import_csv(write(tmp_path / "p.csv", HEADER + f"A,One{SEPARATOR}Two,,,,\nB,Three,,,,\n"))
        assert [sku.sku for sku in table.query(taskctl.skus.SkuQuery(search="one")).skus] == ["A"]
        assert [sku.sku for sku in table.query(taskctl.skus.SkuQuery(search=f"e{SEPARATOR}t")).skus] == ["A"]
        assert [sku.sku for sku in table.query(taskctl.skus.SkuQuery(search="e t")).skus] == []
    assert check_search_text(db) == 2


def test_candidates_are_the_rows_holding_the_text_once_each_and_uncovered_rows_that_match(
    tmp_path: Path, small_segments: None
) -> None:
    db = tmp_path / "skus.db"
    with SkuTable.open(db) as table:
        table.import_csv(import_rows(tmp_path / "p.csv", 10))
        table.add("STEEL-1", "Steel steel")  # uncovered
        table.add("X", "Other")
    conn = sqlite3.connect(db)
    register(conn)
    index = TextIndex(conn)
    assert index.candidates("steel", *match_condition("steel")) == [1, 4, 7, 10, 11]
    assert index.candidates("s00", *match_condition("s00")) == list(range(1, 11))
    assert index.candidates("nothing", *match_condition("nothing")) == []
    assert index.estimated_share("steel") == 0.4  # 4 of the 10 rows in segments


def test_a_version_2_database_gets_the_search_text_of_its_rows(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "skus.db")
    for statements in taskctl.skus.schema.MIGRATIONS[:2]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO skus (sku, name, base_sku, created_at, updated_at) VALUES ('B07', 'Shirt', 'B07', 0, 0)"
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    SkuTable.open(tmp_path / "skus.db").close()
    assert check_search_text(tmp_path / "skus.db") == 1


@given(
    values=st.lists(
        st.tuples(st.text("abAB -", max_size=6), st.text("abAB-", min_size=1, max_size=4)),
        min_size=1,
        max_size=40,
    ),
    pattern=st.text("ab -", min_size=1, max_size=3),
    padding=st.integers(0, 3),
)
def test_the_rows_holding_a_text_are_those_whose_name_or_sku_holds_it(
    values: list[tuple[str, str]], pattern: str, padding: int
) -> None:
    # Long values put the matches far apart, in a text long enough for memmem.
    names = [name + "z" * 300 * padding if n % 2 else name for n, (name, _) in enumerate(values)]
    skus = [sku for _, sku in values]
    expected = [
        n
        for n, (name, sku) in enumerate(zip(names, skus, strict=True))
        if pattern in name.lower() or pattern in sku.lower()
    ]
    found = taskctl.skus.textindex._rows_holding(folded(skus, names), pattern.encode())
    assert found == expected
