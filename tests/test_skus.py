"""The SKU table library: validation messages, atomic imports, conflict modes, queries and paging."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
import sqlite3
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskctl.skus
import taskctl.skus.csvread
import taskctl.skus.schema
import taskctl.skus.search
import taskctl.skus.table
import taskctl.skus.textindex
from taskctl.clock import FakeClock
from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.skus import (
    KEEP,
    ImportRejected,
    InvalidSkuError,
    SkuExistsError,
    SkuQuery,
    SkuTable,
    connect,
)
from taskctl.skus.fields import COLUMNS, QUICK_RATING_DECIMALS, SQL_VALUES, check_row, trim
from taskctl.skus.quickcsv import FIELD_END, check_columns, split_block
from tests.conftest import write

HEADER = "sku,name,base_sku,link,rating,review_count\n"
T0 = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
DIGITS_ONLY = "(write digits only, like 1234, or leave it empty)"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def table(tmp_path: Path, clock: FakeClock) -> SkuTable:
    opened = SkuTable.open(tmp_path / "skus.db", clock=clock)
    yield opened  # type: ignore[misc]
    opened.close()


def csv_file(tmp_path: Path, body: str, header: str = HEADER, name: str = "products.csv") -> Path:
    return write(tmp_path / name, header + body)


def rejected(table: SkuTable, path: Path, **options: object) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        table.import_csv(path, **options)  # type: ignore[arg-type]
    return caught.value.lines


def all_rows(table: SkuTable) -> list[list[str]]:
    return [sku.csv_row() for sku in table.iter_all()]


SHIRTS = (
    "B07-RED-M,Shirt red M,B07,https://shop.example/b07-red-m,4.5,120\n"
    "B07-BLU-L,Shirt blue L,B07,,3,\n"
    "K12-BLK,Kettle black,,https://shop.example/k12,,7\n"
)


# Import: the header


def test_a_missing_column_is_named_with_the_expected_ones(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "B07,Shirt,B07,,4,\n", header="sku,name,base_sku,link,rating\n")
    assert rejected(table, path)[0] == (
        f"{path}: missing column 'review_count' (expected: sku, name, base_sku, link, rating, review_count)"
    )


def test_an_unknown_column_is_an_error_unless_extra_columns_are_ignored(
    table: SkuTable, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "B07,Shirt,B07,,4,,19.99\n", header=HEADER.strip() + ",price\n")
    assert rejected(table, path)[0] == (
        f"{path}: unknown column 'price' (expected: sku, name, base_sku, link, rating, review_count; "
        "--ignore-extra skips extra columns)"
    )
    assert table.import_csv(path, ignore_extra=True).new == 1
    assert table.get("B07").rating == 4.0


def test_header_is_any_order_any_case_with_spaces_and_a_bom(table: SkuTable, tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_bytes(
        "\ufeff Review_Count , RATING,Link,Base_SKU,Name,sku\n7,4.5,,,Shirt red M,B07-RED-M\n".encode()
    )
    table.import_csv(path)
    assert all_rows(table) == [["B07-RED-M", "Shirt red M", "B07-RED-M", "", "4.5", "7"]]


def test_a_column_twice_and_an_empty_file_are_rejected(table: SkuTable, tmp_path: Path) -> None:
    twice = csv_file(tmp_path, "", header="sku,name,base_sku,link,rating,review_count,SKU\n")
    assert rejected(table, twice)[0] == f"{twice}:1: column 'sku' appears twice in the header (keep one)"
    empty = write(tmp_path / "empty.csv", "")
    assert rejected(table, empty)[0] == (
        f"{empty}: the file is empty (expected a header: sku, name, base_sku, link, rating, review_count)"
    )


# Import: the rows


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_written(
    table: SkuTable, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        "B01,One,,,4,1\n"  # line 2
        ",No sku,,,,\n"  # 3
        "B03,,,,,\n"  # 4
        "B04,Four,,shop.example/b04,,\n"  # 5
        "B05,Five,,,good,\n"  # 6
        "B06,Six,,,6,\n"  # 7
        "B07,Seven,,,-1,\n"  # 8
        'B08,Eight,,,,"1,234"\n'  # 9
        "B09,Nine,,,,1234.0\n"  # 10
        "B10,Ten,,,,-3\n"  # 11
        "B01,One again,,,,\n"  # 12
        "B13,Thirteen,,\n",  # 13
    )
    assert rejected(table, path) == [
        f"{path}:3: sku is empty (every row needs a sku)",
        f"{path}:4: name is empty (every row needs a name)",
        f"{path}:5: link 'shop.example/b04' is not an http(s) URL (start it with https:// or leave it empty)",
        f"{path}:6: rating 'good' is not a number (use 0-5, like 4.5, or leave it empty)",
        f"{path}:7: rating '6' is out of range (use 0-5 or leave it empty)",
        f"{path}:8: rating '-1' is out of range (use 0-5 or leave it empty)",
        f"{path}:9: review_count '1,234' is not a whole number {DIGITS_ONLY}",
        f"{path}:10: review_count '1234.0' is not a whole number {DIGITS_ONLY}",
        f"{path}:11: review_count '-3' is negative (use 0 or more, or leave it empty)",
        f"{path}:12: sku 'B01' appears twice (first on line 2)",
        f"{path}:13: expected 6 fields, found 4 (check the delimiter and quoting)",
        f"{path}: 11 errors; nothing was imported.",
    ]
    assert table.count() == 0


def test_after_twenty_errors_the_rest_are_counted(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "".join(f"S{n},Name,,,9,\n" for n in range(55)))
    lines = rejected(table, path)
    assert len(lines) == 21
    assert lines[19] == f"{path}:21: rating '9' is out of range (use 0-5 or leave it empty)"
    assert lines[20] == "... and 35 more errors; nothing was imported."


def test_a_file_whose_last_row_is_bad_leaves_the_table_as_it_was(table: SkuTable, tmp_path: Path) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    before = all_rows(table)
    path = csv_file(tmp_path, "B07-RED-M,Changed,,,1,\nNEW-1,New,,,,\nNEW-2,New,,,7,\n", name="next.csv")
    assert rejected(table, path)[0] == f"{path}:4: rating '7' is out of range (use 0-5 or leave it empty)"
    assert all_rows(table) == before


def test_an_interrupted_import_leaves_the_table_as_it_was(table: SkuTable, tmp_path: Path) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    before = all_rows(table)
    many = csv_file(tmp_path, "".join(f"N{n:06d},Name {n},,,,\n" for n in range(70_000)), name="many.csv")

    def interrupt(phase: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        table.import_csv(many, progress=interrupt)
    assert all_rows(table) == before
    with pytest.raises(KeyboardInterrupt):  # into an empty table the indexes are dropped first: back too
        SkuTable.open(tmp_path / "other.db").import_csv(many, progress=interrupt)
    other = SkuTable.open(tmp_path / "other.db")
    assert other.count() == 0
    assert other.import_csv(many).new == 70_000
    assert other.query(SkuQuery(search="name 69999")).skus[0].sku == "N069999"


def test_a_first_import_syncs_its_pages_while_it_runs_and_stops_after(
    table: SkuTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = threading.Event()
    database = os.stat(tmp_path / "skus.db").st_ino
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.fstat(fd).st_ino == database:
            synced.set()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(taskctl.skus.table, "_SYNC_EVERY_SECONDS", 0.001)

    def wait_for_a_sync(phase: str, done: int, total: int) -> None:
        assert synced.wait(30), "the import did not sync the database file while it ran"

    assert table.import_csv(csv_file(tmp_path, SHIRTS), progress=wait_for_a_sync).new == 3
    assert "taskctl-sku-import-sync" not in {thread.name for thread in threading.enumerate()}
    assert len(all_rows(table)) == 3


def test_indexes_sorted_in_many_runs_agree_with_the_table_and_find_a_late_duplicate(
    table: SkuTable, tmp_path: Path
) -> None:
    # 40,000 rows hold several MB of index keys: each index build sorts them in runs on threads of SQLite's.
    count = 40_000
    order = [n * 7919 % count for n in range(count)]  # keys in no order at all
    body = "".join(
        f"S{k:05d},Product {k % 997:03d} {'x' * 30},F{k % 50},,{k % 51 / 10},{k % 7}\n" for k in order
    )
    assert table.import_csv(csv_file(tmp_path, body)).new == count
    conn = sqlite3.connect(tmp_path / "skus.db")
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]  # every index entry matches its row
    for sort, key in (
        ("sku", lambda k: f"S{k:05d}"),
        ("name", lambda k: k % 997),
        ("rating", lambda k: k % 51),
    ):
        expected = sorted(range(count), key=lambda position: (key(order[position]), position))[:100]
        assert skus(table, sort=sort, limit=100) == [f"S{order[position]:05d}" for position in expected]
    assert table._conn.execute("PRAGMA threads").fetchone()[0] == 0  # as it was before the import
    other = SkuTable.open(tmp_path / "other.db")
    late = csv_file(tmp_path, body + f"S{order[5]:05d},Again,,,,\n", name="late.csv")
    assert (
        rejected(other, late)[0]
        == f"{late}:{count + 2}: sku 'S{order[5]:05d}' appears twice (first on line 7)"
    )
    assert other.count() == 0
    other.close()


def test_not_utf8_names_the_line_and_the_byte(table: SkuTable, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "B07,Shirt,,,,\nK12,Kr\u00fcg,,,,\n").encode("latin-1"))
    assert rejected(table, path)[0] == (
        f"{path}:3: the line is not UTF-8 text: byte 0xFC in 'K12,Kr\\xfcg,,,,' "
        "(save the file as UTF-8 and import again)"
    )


def test_a_line_that_is_not_csv_says_how_to_quote(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, 'B07,Shirt,,,,\nB08,"Shirt" red,,,,\n')
    assert rejected(table, path)[0] == (
        f"{path}:3: the line is not valid CSV (',' expected after '\"'; quote a value holding the delimiter, "
        "a quote or a line break, and double the quotes inside it)"
    )


def test_each_problem_keeps_its_line_column_and_value(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "B01,One,,,9,x\nB02,Two,,\n")
    with pytest.raises(ImportRejected) as caught:
        table.import_csv(path)

    assert caught.value.as_dict() == {
        "ok": False,
        "file": str(path),
        "error_count": 3,
        "errors": [
            {
                "line": 2,
                "column": "rating",
                "value": "9",
                "message": "rating '9' is out of range (use 0-5 or leave it empty)",
            },
            {
                "line": 2,
                "column": "review_count",
                "value": "x",
                "message": f"review_count 'x' is not a whole number {DIGITS_ONLY}",
            },
            {
                "line": 3,
                "column": None,
                "value": None,
                "message": "expected 6 fields, found 4 (check the delimiter and quoting)",
            },
        ],
    }


def test_every_problem_is_kept_when_asked_for_all(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "".join(f"S{n},Name,,,9,\n" for n in range(55)))
    with pytest.raises(ImportRejected) as caught:
        table.import_csv(path, all_problems=True)

    assert len(caught.value.lines) == 21  # what a terminal shows stays short
    assert [error["line"] for error in caught.value.as_dict()["errors"]] == list(range(2, 57))
    assert caught.value.counted() == f"{path}: 55 errors; nothing was imported."


def test_values_are_trimmed_and_quoted_fields_follow_rfc_4180(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        ' B07 ,"Shirt, red ""classic""",  , HTTPS://shop.example/b07 , 4.50 , 0012\n'
        '"K12","Kettle\nblack",,,,\n'
        "K13,Kettle,,,x,\n",
    )
    assert (
        rejected(table, path)[0]
        == f"{path}:5: rating 'x' is not a number (use 0-5, like 4.5, or leave it empty)"
    )
    write(path, HEADER + ' B07 ,"Shirt, red ""classic""",  , HTTPS://shop.example/b07 , 4.50 , 0012\n')
    table.import_csv(path)
    assert all_rows(table) == [
        ["B07", 'Shirt, red "classic"', "B07", "HTTPS://shop.example/b07", "4.5", "12"]
    ]


@pytest.mark.parametrize("delimiter", [";", "\t"])
@pytest.mark.parametrize("given", [True, False], ids=["given", "detected"])
def test_semicolon_and_tab_files_import_with_a_delimiter_given_or_detected(
    table: SkuTable, tmp_path: Path, delimiter: str, given: bool
) -> None:
    path = csv_file(
        tmp_path, "B07;Shirt, red;;;4.5;3\n".replace(";", delimiter), header=HEADER.replace(",", delimiter)
    )
    table.import_csv(path, delimiter=delimiter if given else None)
    assert table.get("B07").name == "Shirt, red"


def test_a_detected_delimiter_reads_the_rows_of_a_big_file_in_both_processes(
    table: SkuTable, tmp_path: Path, small_blocks: None
) -> None:
    path = csv_file(tmp_path, odd_rows(3000).replace(",", ";"), header=HEADER.replace(",", ";"))
    assert table.import_csv(path).new == 3000


def test_a_wrong_delimiter_names_the_one_the_header_uses(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "B07;Shirt;;;4.5;3\n", header=HEADER.replace(",", ";"))
    assert rejected(table, path, delimiter=",")[0] == (
        f"{path}:1: the header is not separated by commas; it looks separated by semicolons "
        "(pass --delimiter ';')"
    )


def test_a_header_two_delimiters_read_equally_well_is_refused(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "B07;Shirt,4\n", header="sku;name,rating\n")
    assert rejected(table, path)[0] == (
        f"{path}:1: the header could be separated by commas or by semicolons "
        "(pass --delimiter ',' or --delimiter ';')"
    )


def test_a_header_without_a_known_delimiter_is_read_with_commas(table: SkuTable, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "B07\n", header="sku\n")
    assert rejected(table, path)[0] == (
        f"{path}: missing columns 'name', 'base_sku', 'link', 'rating', 'review_count' "
        "(expected: sku, name, base_sku, link, rating, review_count)"
    )


def test_a_stream_is_imported_under_the_name_given(
    table: SkuTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    good = io.BytesIO((HEADER + SHIRTS).encode())
    assert table.import_csv(good, source="stdin").new == 3
    bad = io.BytesIO((HEADER + "B09,Nine,,,9,\n").encode())
    with pytest.raises(ImportRejected) as caught:
        table.import_csv(bad, source="stdin")
    assert caught.value.lines[0] == "stdin:2: rating '9' is out of range (use 0-5 or leave it empty)"
    assert not list(spool.iterdir())


def test_unicode_names_import_and_are_found_in_any_case(table: SkuTable, tmp_path: Path) -> None:
    table.import_csv(
        csv_file(
            tmp_path,
            "\u00c4P-1,\u00c4pfel gr\u00fcn \u2014 Bio,,,,\nTEE-\u6f22,\u7da0\u8336 \u6f22\u5b57,,,,\n",
        )
    )
    assert [s.sku for s in table.query(SkuQuery(search="\u00e4pfel GR\u00dcN")).skus] == ["\u00c4P-1"]
    assert [s.sku for s in table.query(SkuQuery(search="\u6f22")).skus] == ["TEE-\u6f22"]
    assert table.get("TEE-\u6f22").name == "\u7da0\u8336 \u6f22\u5b57"


# Import: what an existing sku does


def test_on_conflict_update_counts_new_updated_and_unchanged(
    table: SkuTable, tmp_path: Path, clock: FakeClock
) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    clock.advance(3600)
    changed = csv_file(
        tmp_path,
        "B07-RED-M,Shirt red M,B07,https://shop.example/b07-red-m,4.6,131\n"
        "B07-BLU-L,Shirt blue L,B07,,3,\n"
        "NEW-1,New,,,,\n",
        name="changed.csv",
    )
    summary = table.import_csv(changed)
    assert (summary.rows, summary.new, summary.updated, summary.unchanged, summary.skipped) == (3, 1, 1, 1, 0)
    assert summary.sentence() == "imported 3 rows: 1 new, 1 updated, 1 unchanged"
    red, blue = table.get("B07-RED-M"), table.get("B07-BLU-L")
    assert (red.rating, red.review_count, red.created_at, red.updated_at) == (
        4.6,
        131,
        T0,
        datetime(2026, 5, 1, 7, tzinfo=UTC),
    )
    assert blue.updated_at == T0


def test_on_conflict_skip_keeps_existing_rows(table: SkuTable, tmp_path: Path) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    path = csv_file(
        tmp_path, "B07-RED-M,Changed,,,,\nB07-BLU-L,Shirt blue L,B07,,3,\nNEW-1,New,,,,\n", name="b.csv"
    )
    summary = table.import_csv(path, on_conflict="skip")
    assert (summary.new, summary.updated, summary.unchanged, summary.skipped) == (1, 0, 1, 1)
    assert table.get("B07-RED-M").name == "Shirt red M"


def test_on_conflict_error_names_each_existing_sku_and_writes_nothing(
    table: SkuTable, tmp_path: Path
) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    path = csv_file(tmp_path, "NEW-1,New,,,,\nK12-BLK,Kettle black,,,,\nB07-RED-M,Shirt,,,,\n", name="b.csv")
    assert rejected(table, path, on_conflict="error") == [
        f"{path}:3: sku 'K12-BLK' already exists (use --on-conflict update or skip to import it)",
        f"{path}:4: sku 'B07-RED-M' already exists (use --on-conflict update or skip to import it)",
        f"{path}: 2 errors; nothing was imported.",
    ]
    assert table.find("NEW-1") is None


def test_a_dry_run_reports_but_writes_nothing(table: SkuTable, tmp_path: Path) -> None:
    summary = table.import_csv(csv_file(tmp_path, SHIRTS), dry_run=True)
    assert summary.sentence() == "would import 3 rows: 3 new (dry run: nothing was written)"
    assert table.count() == 0
    table.import_csv(csv_file(tmp_path, SHIRTS))
    assert table.query(SkuQuery(search="kettle")).skus[0].sku == "K12-BLK"  # indexes came back


def test_export_then_import_changes_nothing(table: SkuTable, tmp_path: Path, clock: FakeClock) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS + '"Q-1","Quote "" and, comma",,,0.00001,0\n'))
    exported = tmp_path / "out.csv"
    with exported.open("w", encoding="utf-8", newline="") as out:
        assert table.export(out) == 4
    clock.advance(60)
    summary = table.import_csv(exported)
    assert (summary.new, summary.updated, summary.unchanged) == (0, 0, 4)
    again = tmp_path / "again.csv"
    with again.open("w", encoding="utf-8", newline="") as out:
        table.export(out)
    assert again.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")
    assert 'Q-1,"Quote "" and, comma",Q-1,,0.00001,0' in exported.read_text(encoding="utf-8")


def test_an_export_reports_its_progress(
    table: SkuTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(taskctl.skus.table, "_REPORT_EVERY", 2)
    table.import_csv(csv_file(tmp_path, SHIRTS))
    seen: list[tuple[str, int, int]] = []

    count = table.export(io.StringIO(), "json", lambda *step: seen.append(step))

    assert count == 3
    assert seen == [("writing", 0, 3), ("writing", 2, 3), ("writing", 3, 3)]


def test_a_database_that_does_not_exist_reads_as_empty_without_being_made(tmp_path: Path) -> None:
    with SkuTable.open(tmp_path / "skus.db", create=False) as table:
        assert (table.count(), table.query(SkuQuery()).skus, table.stats().count) == (0, [], 0)
    assert not (tmp_path / "skus.db").exists()


def test_a_hundred_thousand_rows_import_and_reimport(table: SkuTable, tmp_path: Path) -> None:
    body = "".join(
        f"P{n:06d}-{n % 6},Product {n} {'zanzibar' if n == 77_777 else 'plain'},P{n // 6:06d},"
        f"https://shop.example/{n},{n % 51 / 10},{n % 1000}\n"
        for n in range(99_999)
    )
    path = csv_file(tmp_path, body + '"Q-1","Quoted, past the first 4 MiB",,,,\n')
    assert table.import_csv(path).sentence() == "imported 100,000 rows: 100,000 new"
    assert table.import_csv(path).sentence() == "imported 100,000 rows: 100,000 unchanged"
    assert [s.sku for s in table.query(SkuQuery(search="ZANZIBAR")).skus] == ["P077777-5"]
    assert table.get("Q-1").name == "Quoted, past the first 4 MiB"
    assert table.stats().families == 16_667 + 1


def test_a_long_rating_is_stored_as_python_reads_it(table: SkuTable, tmp_path: Path) -> None:
    table.import_csv(csv_file(tmp_path, "B07,Shirt,,,1.65884704226104584567,\n"))
    assert table.get("B07").rating == 1.65884704226104584567
    table.import_csv(csv_file(tmp_path, '"K12",Kettle,,,0.002877,\n'))
    assert table.get("K12").rating == 0.002877


def test_windows_line_endings_and_a_missing_last_newline(table: SkuTable, tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_bytes(HEADER.replace("\n", "\r\n").encode() + b"B07,Shirt,,,4,\r\nK12,Kettle,,,,7")
    assert table.import_csv(path).new == 2
    assert all_rows(table) == [["B07", "Shirt", "B07", "", "4.0", ""], ["K12", "Kettle", "K12", "", "", "7"]]
    write(path, HEADER + "B07,Shirt,,,4,\nK12,Kettle,,,,8")
    assert table.import_csv(path).updated == 1


def test_a_field_over_the_csv_modules_limit_imports_quoted_or_not(table: SkuTable, tmp_path: Path) -> None:
    name = "x" * 200_000
    plain = csv_file(tmp_path, f"B07,{name},,,,\n")
    quoted = csv_file(tmp_path, f'"K12","{name}",,,,\n', name="quoted.csv")
    assert (table.import_csv(plain).new, table.import_csv(quoted).new) == (1, 1)
    assert table.get("K12").name == name


def test_a_value_holding_the_quick_checks_separators_is_still_checked_row_by_row(
    table: SkuTable, tmp_path: Path
) -> None:
    short = csv_file(tmp_path, f'"B07",Shirt,,,,\nK12,Ket{FIELD_END}tle,,,\n')
    assert rejected(table, short)[0] == (
        f"{short}:3: expected 6 fields, found 5 (check the delimiter and quoting)"
    )
    full = csv_file(tmp_path, f'"B07",Shirt,,,,\nK12,Ket{FIELD_END}tle,,,,\n', name="full.csv")
    assert table.import_csv(full).new == 2
    assert table.get("K12").name == f"Ket{FIELD_END}tle"


# Import: big files, read in blocks and by two processes


def stored_in_file_order(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, sku, name, base_sku, link, rating, review_count FROM skus ORDER BY id")
    return rows.fetchall()


def odd_rows(count: int) -> str:
    """Rows of every kind the quick pass leaves to the csv module, among plain and quoted ones."""
    kinds = [
        "P{n:05d},Plain {n},F{f},https://shop.example/{n},4.{d},{n}\n",
        'P{n:05d},"Quoted, with a comma {n}",F{f},,{d},\n',
        'P{n:05d},"A ""doubled"" quote {n}",F{f},,,\n',
        "P{n:05d},Windows line {n},F{f},,,7\r\n",
        'P{n:05d},"Two\nlines {n}",F{f},HTTPS://shop.example/{n},,\n',
        "P{n:05d}, Untrimmed {n} ,F{f},,4.12345,\n",
        "P{n:05d},\u00c4pfel gr\u00fcn {n},F{f},,,\n",
    ]
    return "".join(kinds[n % 7 if n % 50 else n % 3].format(n=n, f=n // 5, d=n % 6) for n in range(count))


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 KiB, and a helper process for any file: a small file exercises what a big one does."""
    monkeypatch.setattr(taskctl.skus.csvread, "_BLOCK_BYTES", 2048)
    monkeypatch.setattr(taskctl.skus.csvread, "HELPER_FROM_BYTES", 0)


def test_a_file_read_in_blocks_by_two_processes_stores_what_one_pass_of_the_csv_module_does(
    tmp_path: Path, small_blocks: None
) -> None:
    path = csv_file(tmp_path, odd_rows(3000))
    assert SkuTable.open(tmp_path / "two.db").import_csv(path).new == 3000
    expected = []
    with path.open(newline="", encoding="utf-8") as handle:
        for index, row in enumerate(list(csv.reader(handle))[1:], start=1):
            cleaned = check_row(*row)
            assert not isinstance(cleaned, list)
            expected.append((index, *dataclasses.astuple(cleaned)))
    assert stored_in_file_order(tmp_path / "two.db") == expected
    assert sqlite3.connect(tmp_path / "two.db").execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_problems_found_by_both_processes_are_reported_in_line_order(
    table: SkuTable, tmp_path: Path, small_blocks: None
) -> None:
    body = "".join(f"S{n:04d},Name {n},,,{'9' if n in (10, 2900) else ''},\n" for n in range(3000))
    path = csv_file(tmp_path, body + "S0020,Again,,,,\n" + "S2990,Bad,,,,x\n")
    assert rejected(table, path) == [
        f"{path}:12: rating '9' is out of range (use 0-5 or leave it empty)",
        f"{path}:2902: rating '9' is out of range (use 0-5 or leave it empty)",
        f"{path}:3002: sku 'S0020' appears twice (first on line 22)",
        f"{path}:3003: review_count 'x' is not a whole number {DIGITS_ONLY}",
        f"{path}: 4 errors; nothing was imported.",
    ]
    assert table.count() == 0


def test_a_stray_quote_before_the_middle_does_not_split_a_quoted_value(
    tmp_path: Path, small_blocks: None
) -> None:
    # The quote in '12" screen' is text (it does not open a value), but counting quotes says it does; a
    # quoted value with a newline then straddles where the file is cut in two.
    rows = [f"M{n:04d},Monitor {n},,,," for n in range(600)]
    rows[10] = 'M0010,Monitor 12" screen,,,,'
    rows[300] = 'M0300,"Monitor\n' + "x" * 3000 + '\nend",,,,'
    path = csv_file(tmp_path, "\n".join(rows) + "\n")
    assert SkuTable.open(tmp_path / "skus.db").import_csv(path).new == 600
    stored = dict((sku, name) for _, sku, name, *_ in stored_in_file_order(tmp_path / "skus.db"))
    assert stored["M0010"] == 'Monitor 12" screen'
    assert stored["M0300"] == "Monitor\n" + "x" * 3000 + "\nend"


def test_without_a_helper_process_the_import_reads_the_whole_file_itself(
    tmp_path: Path, small_blocks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    path = csv_file(tmp_path, odd_rows(500))
    assert SkuTable.open(tmp_path / "skus.db").import_csv(path).new == 500


def test_an_interrupted_import_leaves_no_helper_files(
    tmp_path: Path, small_blocks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = csv_file(tmp_path, odd_rows(3000))

    def interrupt(phase: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    table = SkuTable.open(tmp_path / "skus.db")
    with pytest.raises(KeyboardInterrupt):
        table.import_csv(path, progress=interrupt)
    assert not list(tmp_path.glob("taskctl-sku-import-*"))
    assert table.import_csv(path).new == 3000  # and the connection is fit for the next import
    assert not list(tmp_path.glob("taskctl-sku-import-*"))


# The rules in Python and in SQL agree


_field = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "4",
            "4.5",
            "5",
            "5.0",
            "05",
            "5.01",
            "6",
            "-1",
            "1,234",
            "1234.0",
            "0012",
            "x",
            "https://a/b",
            "HTTP://x",
            "http://",
            "https://",
            "ftp://x",
            "https://a b",
            "https://a\u00a0b",
            " B07",
            "B07\u3000",
            "\u00c4pfel",
            "0.",
            ".5",
            "4..5",
            "1e3",
            "\u0663",
            "9" * 19,
            "0" * 30 + "7",
            "0.002877",
            "1.65884704226104584567",
            "4.125",
        ]
    ),
    st.text(alphabet=" \t\n\x1e\x1f;\u00a0\u3000htps:/.0123456789aB,-", max_size=8),
)


def stored(row: list[str]) -> tuple[object, ...]:
    """What SQL_VALUES stores for `row`."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (sku, name, base_sku, link, rating REAL, review_count INTEGER)")
    conn.execute(f"INSERT INTO t VALUES ({SQL_VALUES})", row)
    return tuple(conn.execute("SELECT * FROM t").fetchone())


def csv_text(rows: list[list[str]], quoting: int = csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=quoting).writerows(rows)
    return out.getvalue()


@given(st.lists(_field, min_size=6, max_size=6))
def test_the_quick_check_passes_only_clean_valid_rows_and_sqlite_converts_like_python(row: list[str]) -> None:
    cleaned = check_row(*row)
    values = split_block(csv_text([row]), ",", 6)
    passes = values is not None and check_columns(values, COLUMNS)
    if isinstance(cleaned, list):
        assert not passes  # the quick pass never lets through a row check_row refuses
        return
    expected = (
        cleaned.sku,
        cleaned.name,
        cleaned.base_sku,
        cleaned.link,
        cleaned.rating,
        cleaned.review_count,
    )
    if passes:
        assert [trim(value) for value in row] == row  # nor one it would change
        assert stored(row) == expected  # and SQLite converts what it passes as check_row does
    assert stored(list(expected)) == expected  # the checked way stores check_row's values unchanged


_csv_char = st.sampled_from(list('ab ,;"\n\r\t\x1e\x1f\x00\u00e4'))


@given(
    st.lists(st.lists(st.text(_csv_char, max_size=4), min_size=1, max_size=4), min_size=1, max_size=4),
    st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, None]),
    st.sampled_from([",", ";"]),
)
def test_a_block_is_split_as_the_csv_module_reads_it_or_left_to_it(
    rows: list[list[str]], quoting: int | None, delimiter: str
) -> None:
    # None: the rows joined as they are, quotes and all, which makes plenty of malformed CSV
    if quoting is None:
        text = "".join(delimiter.join(row) + "\n" for row in rows)
    else:
        text = csv_text(rows, quoting).replace(",", delimiter) if delimiter == "," else ""
        if not text:
            out = io.StringIO()
            csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=quoting).writerows(rows)
            text = out.getvalue()
    width = len(rows[0])
    values = split_block(text, delimiter, width)
    if values is None:
        return
    read = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    assert all(len(row) == width for row in read)
    assert values == [value for row in read for value in row]


def test_sqlite_reads_every_rating_the_quick_check_passes_as_python_does() -> None:
    ratings = ["5", "5.0", "5.000000"] + [
        f"{whole}.{fraction:0{decimals}d}"
        for whole in range(5)
        for decimals in range(1, QUICK_RATING_DECIMALS + 1)
        for fraction in range(10**decimals)
    ]

    def passes(column: list[str]) -> bool:
        return check_columns(
            [value for rating in column for value in ("S", "N", "", "", rating, "")], COLUMNS
        )

    assert passes(ratings)
    assert not passes(["4.1234"])  # more decimals: check_row and Python's float
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (text TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(rating,) for rating in ratings])
    read = [value for (value,) in conn.execute("SELECT CAST(text AS REAL) FROM t ORDER BY rowid")]
    assert read == [float(rating) for rating in ratings]


# Add, edit, remove


def test_add_checks_fields_like_an_import(table: SkuTable) -> None:
    added = table.add(
        "B07-RED-M", "Shirt red M", link="https://shop.example/x", rating="4.5", review_count=120
    )
    assert (added.base_sku, added.rating, added.review_count, added.created_at) == ("B07-RED-M", 4.5, 120, T0)
    with pytest.raises(
        SkuExistsError,
        match=re.escape("sku 'B07-RED-M' already exists; change it with 'taskctl sku edit B07-RED-M'."),
    ):
        table.add("B07-RED-M", "Again")
    with pytest.raises(
        InvalidSkuError, match=r"^rating '6' is out of range \(use 0-5 or leave it empty\)\.$"
    ):
        table.add("X", "X", rating="6")
    with pytest.raises(InvalidSkuError, match=r"^name must not be empty\.$"):
        table.add("X", " ")
    assert table.count() == 1


def test_update_changes_only_what_is_given_and_moves_updated_at_only_on_change(
    table: SkuTable, clock: FakeClock
) -> None:
    table.add("B07", "Shirt", rating=4.5, review_count=120)
    clock.advance(60)
    assert table.update("B07", rating=4.5).updated_at == T0
    changed = table.update("B07", rating="", review_count=131, name="Shirt red", base_sku="B")
    assert (changed.name, changed.base_sku, changed.rating, changed.review_count) == (
        "Shirt red",
        "B",
        None,
        131,
    )
    assert changed.updated_at == datetime(2026, 5, 1, 6, 1, tzinfo=UTC)
    assert table.query(SkuQuery(search="shirt red")).skus == [changed]
    assert table.query(SkuQuery(search="Shirt", base_sku="B")).skus == [changed]
    with pytest.raises(NotFoundError, match=re.escape("no sku named 'B7'; did you mean 'B07'?")):
        table.update("B7", rating=KEEP)


def test_a_renamed_sku_keeps_its_fields_and_family_and_is_found_by_its_new_code(
    table: SkuTable, tmp_path: Path, clock: FakeClock
) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    clock.advance(60)

    renamed = table.update("B07-RED-M", new_sku="B07-RED-MEDIUM")

    assert (renamed.sku, renamed.name, renamed.base_sku, renamed.rating) == (
        "B07-RED-MEDIUM",
        "Shirt red M",
        "B07",
        4.5,
    )
    assert renamed.updated_at == datetime(2026, 5, 1, 6, 1, tzinfo=UTC)
    assert [s.sku for s in table.query(SkuQuery(search="red-medium")).skus] == ["B07-RED-MEDIUM"]
    assert table.find("B07-RED-M") is None
    own = table.update("K12-BLK", new_sku="K12-BLACK")  # a family of its own stays one
    assert own.base_sku == "K12-BLACK"
    assert table.update("K12-BLACK", new_sku=" K12-BLACK ") == own  # the same sku: nothing changes
    table.add("B07", "Shirt", base_sku="B07")  # the head of family B07 leaves its name to the family
    assert table.update("B07", new_sku="B07-X").base_sku == "B07"
    assert table.update("B07-X", new_sku="B08", base_sku="").base_sku == "B08"  # '': its own family


def test_a_rename_onto_an_existing_sku_is_refused_and_changes_nothing(
    table: SkuTable, tmp_path: Path
) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    before = all_rows(table)

    with pytest.raises(SkuExistsError) as caught:
        table.update("B07-RED-M", new_sku="K12-BLK", rating=1)
    with pytest.raises(InvalidSkuError, match="sku must not be empty"):
        table.update("B07-RED-M", new_sku=" ")

    assert str(caught.value) == (
        "cannot rename 'B07-RED-M' to 'K12-BLK': sku 'K12-BLK' already exists "
        "(choose another --new-sku, or remove 'K12-BLK' first)."
    )
    assert all_rows(table) == before


def test_remove_is_all_or_nothing_and_families_go_together(table: SkuTable, tmp_path: Path) -> None:
    table.import_csv(csv_file(tmp_path, SHIRTS))
    with pytest.raises(NotFoundError, match="no sku named 'NOPE'"):
        table.remove(["B07-RED-M", "NOPE"])
    assert table.count() == 3
    assert table.remove(["K12-BLK"]) == 1
    assert table.query(SkuQuery(search="kettle")).skus == []
    assert table.family_count("B07") == 2
    assert table.remove_family("B07") == 2
    with pytest.raises(NotFoundError, match=re.escape("no skus have base_sku 'B07'; nothing was removed.")):
        table.remove_family("B07")


# Queries


@pytest.fixture
def shop(table: SkuTable, tmp_path: Path) -> SkuTable:
    rows = [
        ("A1", "Alpha shirt", "A", "4.5", "10"),
        ("A2", "Alpha SHIRT large", "A", "", "3"),
        ("B1", "Beta kettle", "B", "4.5", ""),
        ("B2", "Beta mug", "B", "2", "10"),
        ("C1", "Gamma shirt", "C", "5", "0"),
        ("C2", "Gamma lamp", "C", "", ""),
        ("C3", "Gamma lamp XL", "C", "0", "7"),
    ]
    table.import_csv(csv_file(tmp_path, "".join(f"{s},{n},{b},,{r},{c}\n" for s, n, b, r, c in rows)))
    return table


def skus(table: SkuTable, **query: object) -> list[str]:
    return [sku.sku for sku in table.query(SkuQuery(**query)).skus]  # type: ignore[arg-type]


def test_search_is_a_substring_of_name_or_sku_in_any_case(shop: SkuTable) -> None:
    assert skus(shop, search="SHIRT") == ["A1", "A2", "C1"]
    assert skus(shop, search="ma") == ["C1", "C2", "C3"]  # shorter than a trigram: scanned
    assert skus(shop, search="c3") == ["C3"]
    assert skus(shop, search="shirt l") == ["A2"]
    assert skus(shop, search='"%_') == []


def test_filters_and_sorts(shop: SkuTable) -> None:
    assert skus(shop, base_sku="C") == ["C1", "C2", "C3"]
    assert skus(shop, min_rating=4.5) == ["A1", "B1", "C1"]
    assert skus(shop, unrated=True) == ["A2", "C2"]
    assert skus(shop, sort="rating", descending=True) == ["C1", "B1", "A1", "B2", "C3", "C2", "A2"]
    assert skus(shop, sort="review_count") == ["B1", "C2", "C1", "A2", "C3", "A1", "B2"]  # ties: file order
    assert skus(shop, search="shirt", sort="name", descending=True, limit=2) == ["C1", "A1"]


@pytest.mark.parametrize("sort", taskctl.skus.SORT_COLUMNS)
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_add_up_to_the_whole_listing(shop: SkuTable, sort: str, descending: bool) -> None:
    whole = skus(shop, sort=sort, descending=descending, limit=None)
    seen: list[str] = []
    after = None
    while True:
        page = shop.query(SkuQuery(sort=sort, descending=descending, limit=2, after=after))
        seen += [sku.sku for sku in page.skus]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == whole
    assert len(whole) == 7


def test_bad_queries_say_what_would_work(shop: SkuTable) -> None:
    with pytest.raises(
        UsageError, match=r"cannot sort by 'price' \(choose one of: sku, name, base_sku, rating"
    ):
        shop.query(SkuQuery(sort="price"))
    with pytest.raises(UsageError, match="--unrated and --min-rating exclude each other"):
        shop.query(SkuQuery(unrated=True, min_rating=1))
    with pytest.raises(NotFoundError, match="no sku named 'Z9' to continue after"):
        shop.query(SkuQuery(after="Z9"))


def test_stats(shop: SkuTable) -> None:
    assert shop.stats().as_dict() == {"count": 7, "families": 3, "rated": 5, "average_rating": 3.2}


def reference_search(table: SkuTable, query: SkuQuery) -> list[str]:
    """Every sku a listing with `query.search` must return, in order, worked out in Python from every row."""
    needle = (query.search or "").lower()
    rows = [
        sku
        for sku in table.iter_all()
        if needle in sku.name.lower() or needle in sku.sku.lower()
        if query.base_sku is None or sku.base_sku == query.base_sku
    ]
    key = {
        "sku": lambda s: (s.sku,),
        "name": lambda s: (s.name, ids[s.sku]),
        "base_sku": lambda s: (s.base_sku, ids[s.sku]),
        "rating": lambda s: (-1 if s.rating is None else s.rating, ids[s.sku]),
        "review_count": lambda s: (-1 if s.review_count is None else s.review_count, ids[s.sku]),
        "updated_at": lambda s: (s.updated_at, ids[s.sku]),
    }[query.sort]
    ids = {sku.sku: index for index, sku in enumerate(table.iter_all())}  # rows were added in sku order
    ordered = sorted(rows, key=key, reverse=query.descending)
    return [sku.sku for sku in ordered]


@pytest.fixture(
    params=[
        ("uncovered", "walks"),
        ("in segments", "reads the search text"),
        ("partly in segments", "walks"),
        ("partly in segments", "reads the search text"),
    ],
    ids=lambda param: " ".join(param),
)
def catalogue(
    table: SkuTable, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> SkuTable:
    """300 rows: a word in 20% of them, others in few, letters that LIKE does not fold, LIKE's wildcards;
    their search text in no segment, in segments of 16 rows, or in segments some of which were dropped; a
    search first walks the sort order (which, stopping after 3 rows per result, often fails and takes the
    other way), or reads the search text at once."""
    state, way = request.param
    monkeypatch.setattr(taskctl.skus.table, "_WALK_ROWS_PER_RESULT", 3)
    monkeypatch.setattr(taskctl.skus.table, "_dense_share", lambda limit: 0.0 if way == "walks" else 2.0)
    monkeypatch.setattr(taskctl.skus.textindex, "SEGMENT_ROWS", 16)
    monkeypatch.setattr(taskctl.skus.textindex, "SAMPLE_ROWS", 100)
    names = [
        "Steel kettle",
        "Cotton shirt",
        "Glass mug",
        "Oak table",
        "Wool sock",
        "\u00c4pfel gr\u00fcn",
        "\u212aelvin scale",  # KELVIN SIGN: lower() gives 'k'
        "\u0130stanbul tile",  # 'İ': lower() gives 'i' + a combining dot
        "100% cotton_blend",
        "back\\slash",
    ]
    for n in range(300):
        clock.advance(n % 7)
        table.add(
            f"K{n:03d}",
            f"{names[n % 10] if n % 5 else names[0]} {n}",
            base_sku=f"F{n // 5}",
            rating=None if n % 4 == 0 else (n * 7) % 51 / 10,
            review_count=None if n % 6 == 0 else n * 13 % 40,
        )
    if state != "uncovered":
        conn = sqlite3.connect(table.path)
        taskctl.skus.textindex.TextIndex(conn).cover()
        if state == "partly in segments":  # some segments dropped, the last rows in none
            conn.execute("UPDATE skus SET name = name || ' renamed' WHERE id IN (20, 150, 299)")
        conn.commit()
        conn.close()
    return table


@pytest.mark.parametrize(
    "text",
    ["steel", "STEEL", "k0", "kelvin", "scale", "\u00e4pfel", "GR\u00dcN", "i\u0307stanbul", "istanbul",
     "ul til", "%", "_", "\\", "0% c", "nothing like it", "1"],
)  # fmt: skip
def test_search_finds_exactly_the_rows_containing_the_text_in_every_order(
    catalogue: SkuTable, text: str
) -> None:
    for sort in taskctl.skus.SORT_COLUMNS:
        for descending in (False, True):
            expected = reference_search(catalogue, SkuQuery(search=text, sort=sort, descending=descending))
            for limit in (1, 7, len(expected) or 1, None):
                page = catalogue.query(SkuQuery(search=text, sort=sort, descending=descending, limit=limit))
                more = limit is not None and len(expected) > limit
                assert ([sku.sku for sku in page.skus], page.next_after) == (
                    expected[:limit],
                    expected[limit - 1] if more else None,  # type: ignore[operator]
                )
    family = SkuQuery(search=text, base_sku="F3", limit=None)
    assert skus(catalogue, **dataclasses.asdict(family)) == reference_search(catalogue, family)


def test_searched_pages_add_up_to_the_whole_result(catalogue: SkuTable) -> None:
    for sort in taskctl.skus.SORT_COLUMNS:
        whole = skus(catalogue, search="t", sort=sort, descending=True, limit=None)
        seen: list[str] = []
        after = None
        while True:
            page = catalogue.query(SkuQuery(search="t", sort=sort, descending=True, limit=9, after=after))
            seen += [sku.sku for sku in page.skus]
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == whole


def test_a_rare_text_is_found_without_reading_the_table(tmp_path: Path) -> None:
    # SQLite's progress handler counts the instructions a query runs: a search that read every row would run
    # several per row. (Timing it instead would make a test that depends on the machine.)
    body = "".join(f"B0{n:08d},Product number {n},F{n // 5},,,\n" for n in range(20_000))
    with SkuTable.open(tmp_path / "skus.db") as table:
        table.import_csv(csv_file(tmp_path, body))
    conn = sqlite3.connect(tmp_path / "skus.db", isolation_level=None)
    instructions = 0

    def count() -> int:
        nonlocal instructions
        instructions += 1000
        return 0

    conn.set_progress_handler(count, 1000)
    table = SkuTable(conn, tmp_path / "skus.db")
    for text, expected in (("b000012345", ["B000012345"]), ("number 4321", ["B000004321"]), ("zanzibar", [])):
        for sort in taskctl.skus.SORT_COLUMNS:
            instructions = 0
            assert skus(table, search=text, sort=sort, descending=True) == expected
            assert instructions <= 20_000, (text, sort)  # fewer than one per row


def test_only_two_non_ascii_letters_lower_to_ascii_ones() -> None:
    # search.FOLDS_TO_ASCII lists the rows LIKE cannot match: checked against this Python's Unicode tables
    found = {
        letter: character
        for character in map(chr, range(0x80, 0x110000))
        for letter in character.lower()
        if letter.isascii()
    }
    assert found == taskctl.skus.search.FOLDS_TO_ASCII


def test_a_version_1_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "skus.db")
    for statement in taskctl.skus.schema.MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO skus (sku, name, base_sku, created_at, updated_at) VALUES ('B07', 'Shirt', 'B07', 0, 0)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SkuTable.open(tmp_path / "skus.db") as table:
        assert [sku.sku for sku in table.query(SkuQuery(search="shir", sort="name")).skus] == ["B07"]
        table.add("B08", "Shirt too")
    conn = sqlite3.connect(tmp_path / "skus.db")
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "skus_search" not in names
    assert {"skus_name", "skus_review_count", "skus_updated_at"} <= names


# Opening


def test_threads_connect_through_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKCTL_SKU_DB", raising=False)
    with pytest.raises(UsageError, match="no SKU database given: pass a path, or set TASKCTL_SKU_DB"):
        connect()
    monkeypatch.setenv("TASKCTL_SKU_DB", str(tmp_path / "skus.db"))
    with connect() as table:
        table.add("B07", "Shirt")
    with SkuTable.open(tmp_path / "skus.db") as table:
        assert table.get("B07").name == "Shirt"


def test_a_database_that_cannot_be_written_is_a_sentence_not_a_traceback(
    table: SkuTable, tmp_path: Path
) -> None:
    path = tmp_path / "skus.db"
    read_only = SkuTable(sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None), path)
    message = (
        f"cannot write the SKU database '{path}' (attempt to write a readonly database); nothing was changed."
    )
    with pytest.raises(TaskctlError, match=re.escape(message)):
        read_only.add("B07", "Shirt")
    with pytest.raises(TaskctlError, match=re.escape(message)):
        read_only.import_csv(csv_file(tmp_path, SHIRTS))
    read_only.close()


def test_the_schema_is_versioned_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    SkuTable.open(tmp_path / "skus.db").close()
    conn = sqlite3.connect(tmp_path / "skus.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    with pytest.raises(TaskctlError, match=r"has SKU schema version 9, newer than this taskctl knows \(3\)"):
        SkuTable.open(tmp_path / "skus.db")
