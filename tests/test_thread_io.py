"""The SKU table as a thread's input and output: selections with `stale`, and imports of some columns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from taskctl.clock import FakeClock
from taskctl.errors import TaskctlError
from taskctl.skus import ImportRejected, SkuQuery, SkuTable
from taskctl.skus.thread_io import import_columns, select_rows, write_selection
from tests.conftest import write

BERLIN = ZoneInfo("Europe/Berlin")
MAY_1 = datetime(2026, 5, 1, 8, 0, tzinfo=BERLIN)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MAY_1)


@pytest.fixture
def table(tmp_path: Path, clock: FakeClock) -> Iterator[SkuTable]:
    with SkuTable.open(tmp_path / "skus.db", clock=clock) as opened:
        yield opened


def shop(table: SkuTable) -> None:
    table.add("B07-RED-M", "Shirt red M", "B07", "https://shop.example/red", 4.0, 100)
    table.add("B07-BLU-L", "Shirt blue L", "B07", "https://shop.example/blue")
    table.add("K12-BLK", "Kettle black", "K12", "https://shop.example/kettle", 3.5, 7)


# -- selecting ----------------------------------------------------------------------------------------


def test_stale_selects_the_rows_not_updated_for_that_long_stalest_first(
    table: SkuTable, clock: FakeClock
) -> None:
    table.add("A-OLD", "updated 1 May")
    clock.advance(timedelta(days=2))
    table.add("B-MID", "updated 3 May")
    clock.advance(timedelta(days=3))
    table.add("C-NEW", "updated 6 May")
    clock.advance(timedelta(days=2))
    table.update("A-OLD", rating=4.0)  # 8 May: fresh again

    now = datetime(2026, 5, 10, 8, 0, tzinfo=BERLIN)
    assert [s.sku for s in select_rows(table, SkuQuery(limit=None), now - timedelta(days=5))] == ["B-MID"]
    assert [s.sku for s in select_rows(table, SkuQuery(limit=None), now - timedelta(days=1))] == [
        "B-MID",
        "C-NEW",
        "A-OLD",
    ]
    # a row updated exactly that long ago is stale
    assert [s.sku for s in select_rows(table, SkuQuery(limit=None), MAY_1 + timedelta(days=5))] == [
        "B-MID",
        "C-NEW",
    ]


def test_stale_combines_with_the_filters_of_sku_list_and_limit_takes_the_stalest(
    table: SkuTable, clock: FakeClock
) -> None:
    for number in range(1, 6):
        table.add(f"B07-{number}", f"Shirt {number}", "B07", rating=float(number))
        clock.advance(timedelta(hours=1))
    table.add("K12-1", "Kettle", "K12", rating=5.0)
    later = MAY_1 + timedelta(days=30)

    query = SkuQuery(base_sku="B07", min_rating=2, limit=2)
    assert [s.sku for s in select_rows(table, query, later)] == ["B07-2", "B07-3"]
    assert [s.sku for s in select_rows(table, SkuQuery(base_sku="B07", limit=None))] == [
        f"B07-{n}" for n in range(1, 6)
    ]


def test_a_selection_is_streamed_in_pages_and_limit_is_the_total(
    table: SkuTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("taskctl.skus.thread_io.PAGE", 2)
    for number in range(7):
        table.add(f"S{number}", f"Sku {number}")
    assert [s.sku for s in select_rows(table, SkuQuery(limit=None))] == [f"S{n}" for n in range(7)]
    assert [s.sku for s in select_rows(table, SkuQuery(limit=5))] == [f"S{n}" for n in range(5)]
    target = tmp_path / "input.csv"
    assert write_selection(table, SkuQuery(search="sku 3", limit=None), target) == 1
    assert target.read_text() == "sku,name,base_sku,link,rating,review_count\nS3,Sku 3,S3,,,\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- importing some columns ---------------------------------------------------------------------------


def test_a_results_file_updates_only_its_columns_and_ignores_the_others(
    table: SkuTable, tmp_path: Path, clock: FakeClock
) -> None:
    shop(table)
    clock.advance(timedelta(hours=1))
    results = write(
        tmp_path / "results.csv",
        "SKU,title,Rating,review_count,price\n"
        "B07-RED-M,Red shirt,4.5,120,19.99\n"
        "B07-BLU-L,Blue shirt,4.1,87,19.99\n"
        "K12-BLK,Kettle,3.5,7,34.50\n",
    )

    done = import_columns(table, results, "update", source="results.csv")

    assert (done.summary.rows, done.summary.updated, done.summary.unchanged, done.summary.new) == (3, 2, 1, 0)
    assert done.ignored == ("title", "price")
    red = table.get("B07-RED-M")
    assert (red.name, red.base_sku, red.link, red.rating, red.review_count) == (
        "Shirt red M",
        "B07",
        "https://shop.example/red",
        4.5,
        120,
    )
    assert red.updated_at == clock.now() and table.get("K12-BLK").updated_at == MAY_1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the merged file is gone


def test_one_bad_line_changes_nothing_and_is_named(table: SkuTable, tmp_path: Path) -> None:
    shop(table)
    results = write(
        tmp_path / "results.csv",
        "sku,rating,review_count\nB07-RED-M,4.5,120\nB07-BLU-L,4.1,many\nK12-BLK,3.9,8\n",
    )

    with pytest.raises(ImportRejected) as caught:
        import_columns(table, results, "update", source="results.csv")

    assert caught.value.lines == [
        "results.csv:3: review_count 'many' is not a whole number (write digits only, like 1234, or leave it "
        "empty)",
        "results.csv: 1 error; nothing was imported.",
    ]
    assert [(s.sku, s.rating) for s in table.iter_all()] == [
        ("B07-BLU-L", None),
        ("B07-RED-M", 4.0),
        ("K12-BLK", 3.5),
    ]


def test_a_new_sku_needs_a_name_and_existing_ones_follow_into_skus(table: SkuTable, tmp_path: Path) -> None:
    shop(table)
    no_name = write(tmp_path / "a.csv", "sku,rating\nB07-RED-M,4.8\nNEW-1,3.0\nB07-RED-M,1\n")
    with pytest.raises(ImportRejected) as caught:
        import_columns(table, no_name, "update", source="a.csv")
    assert caught.value.problems == [
        "a.csv:3: sku 'NEW-1' is not in the SKU table, and without a 'name' column a row cannot add it",
        "a.csv:4: sku 'B07-RED-M' appears twice (first on line 2)",
    ]

    named = write(tmp_path / "b.csv", "sku,name,rating\nB07-RED-M,Red,4.8\nNEW-1,New one,3.0\n")
    with pytest.raises(ImportRejected) as caught:
        import_columns(table, named, "error", source="b.csv")
    assert caught.value.problems == ["b.csv:2: sku 'B07-RED-M' already exists (into_skus: error)"]

    skipped = import_columns(table, named, "skip", source="b.csv").summary
    assert (skipped.new, skipped.skipped, skipped.updated) == (1, 1, 0)
    new = table.get("NEW-1")
    assert (new.name, new.base_sku, new.link, new.rating) == ("New one", "NEW-1", "", 3.0)
    assert table.get("B07-RED-M").rating == 4.0


def test_a_header_without_sku_or_sku_columns_is_refused(table: SkuTable, tmp_path: Path) -> None:
    for text, problem in [
        ("title,rating\nx,1\n", "x.csv:1: the header has no 'sku' column (it has: title, rating)"),
        (
            "sku,title\nA,x\n",
            "x.csv:1: the header has no SKU column besides 'sku' (SKU columns: sku, name, base_sku, link, "
            "rating, review_count); nothing to import",
        ),
        ("sku,rating,Rating\nA,1,2\n", "x.csv:1: column 'rating' appears twice in the header (keep one)"),
        ("", "x.csv: the file is empty (expected a header with 'sku' and SKU columns)"),
    ]:
        path = write(tmp_path / "x.csv", text)
        with pytest.raises(ImportRejected) as caught:
            import_columns(table, path, source="x.csv")
        assert caught.value.problems == [problem]
    with pytest.raises(
        TaskctlError, match=r"^missing\.csv was not written \(no such file in the run folder\)\.$"
    ):
        import_columns(table, tmp_path / "missing.csv", source="missing.csv")
