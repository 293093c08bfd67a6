"""What every command shares: tables and JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from tabulate import tabulate

from taskctl.cli.common import format_table, iso


@pytest.mark.parametrize(
    ("rows", "headers"),
    [
        ([["a", "bb", None], ["ccc", "d", "x"]], ["h1", "header2", "h3"]),
        ([[4.0, 0.1 + 0.2, 1e-07, 10**20, "", True]], ["a", "b", "c", "d", "e", "f"]),
        ([["  padded ", "x"], ["two\nlines", "y"]], ["name", "value"]),
        (
            [
                [
                    "product_pages",
                    "scraping",
                    "threads/product_pages/main.py",
                    "",
                    "yes",
                    "example",
                    "Read it.",
                ]
            ],
            ["name", "type", "runs", "schedules", "enabled", "tags", "description"],
        ),
    ],
)
def test_tables_read_as_tabulates_simple_format(rows: list[list[Any]], headers: list[str]) -> None:
    assert format_table(rows, headers) == tabulate(
        rows, headers=headers, tablefmt="simple", disable_numparse=True
    )


def test_instants_carry_their_offset_and_utc_ends_in_z() -> None:
    assert iso(datetime(2026, 11, 22, 1, 30, tzinfo=UTC)) == "2026-11-22T01:30:00Z"
    assert (
        iso(datetime(2026, 11, 22, 2, 30, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-22T02:30:00+01:00"
    )
