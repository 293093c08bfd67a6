"""Durations, sizes and --since moments as users write them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from taskctl.units import format_duration, format_size, parse_duration, parse_since, parse_size

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def berlin() -> ZoneInfo:
    return BERLIN


def unused_zone() -> ZoneInfo:
    raise AssertionError("a duration or a moment with an offset needs no zone")


def test_durations_sizes_and_their_short_forms() -> None:
    assert (parse_duration("1h30m"), parse_duration("90"), parse_size("50MB")) == (5400.0, 90.0, 50 * 1024**2)
    assert (format_duration(185), format_size(3 * 1024)) == ("3m05s", "3.0 KB")


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("7d", datetime(2026, 11, 15, 12, 0, tzinfo=UTC)),
        ("12h", datetime(2026, 11, 22, 0, 0, tzinfo=UTC)),
        ("2026-11-20T14:00:30Z", datetime(2026, 11, 20, 14, 0, 30, tzinfo=UTC)),
        ("2026-11-20 14:00+05:00", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
    ],
)
def test_since_a_duration_or_an_instant_with_an_offset(text: str, moment: datetime) -> None:
    assert parse_since(text, NOW, unused_zone) == moment


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-20", datetime(2026, 11, 19, 23, 0, tzinfo=UTC)),  # midnight in Berlin (CET)
        ("2026-07-20", datetime(2026, 7, 19, 22, 0, tzinfo=UTC)),  # midnight in Berlin (CEST)
        ("2026-11-20 14:00", datetime(2026, 11, 20, 13, 0, tzinfo=UTC)),
        ("2026-11-20T14:00:30", datetime(2026, 11, 20, 13, 0, 30, tzinfo=UTC)),
    ],
)
def test_since_a_date_or_a_date_and_time_is_on_the_wall_clock_of_the_zone(
    text: str, moment: datetime
) -> None:
    assert parse_since(text, NOW, berlin) == moment


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-11-20 25:00", ""])
def test_since_something_else_says_what_would_be_valid(text: str) -> None:
    with pytest.raises(ValueError, match=r"is neither a duration \(12h, 7d, 2w\) nor a date \(2026-11-20\)"):
        parse_since(text, NOW, berlin)
