"""Schedules: every written form, every error message, and golden DST stories in four zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from taskctl.schedule import (
    DstNote,
    Fire,
    Schedule,
    ScheduleError,
    check_in_zone,
    count_fires_between,
    fires,
    fires_between,
    last_fires_between,
    latest_fire_at_or_before,
    next_fire_after,
    parse_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HAVANA = ZoneInfo("America/Havana")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def first(spec: str, zone: ZoneInfo, after: datetime, count: int) -> list[Fire]:
    return list(islice(fires(parse_schedule(spec), zone, after), count))


def error_of(spec: object) -> str:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(spec)  # type: ignore[arg-type]
    return str(caught.value)


def zone_error_of(spec: str, zone: ZoneInfo) -> str:
    with pytest.raises(ScheduleError) as caught:
        check_in_zone(parse_schedule(spec), zone)
    return str(caught.value)


# --- parsing: every form, its canonical text and kind --------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text", "kind"),
    [
        ("30 2 * * *", "30 2 * * *", "cron"),
        ("  30   2 * *  *  ", "30 2 * * *", "cron"),
        ("0 9-17/2 1,15 JAN-Jun MON-FRI", "0 9-17/2 1,15 jan-jun mon-fri", "cron"),
        ("@hourly", "@hourly", "cron"),
        ("@DAILY", "@daily", "cron"),
        ("@midnight", "@midnight", "cron"),
        ("@weekly", "@weekly", "cron"),
        ("@monthly", "@monthly", "cron"),
        ("@yearly", "@yearly", "cron"),
        ("@annually", "@annually", "cron"),
        ("hourly", "hourly", "cron"),
        ("Daily", "daily", "cron"),
        ("daily at 10:30", "daily at 10:30", "cron"),
        ("daily at 9:05", "daily at 09:05", "cron"),
        ("weekdays at 08:00", "weekdays at 08:00", "cron"),
        ("weekends at 11:00", "weekends at 11:00", "cron"),
        ("monday at 09:00", "monday at 09:00", "cron"),
        ("Mondays  at 09:00", "monday at 09:00", "cron"),
        ("sun at 23:59", "sunday at 23:59", "cron"),
        ("every 6 hours", "every 6 hours", "every"),
        ("every 1 hour", "every hour", "every"),
        ("every minute", "every minute", "every"),
        ("every hour", "every hour", "every"),
        ("every day", "every day", "every"),
        ("every 2 days", "every 2 days", "every"),
        ("every 30 seconds", "every 30 seconds", "every"),
        ("every 1 second", "every second", "every"),
        ("EVERY 5 Minutes", "every 5 minutes", "every"),
        ("every 6h", "every 6 hours", "every"),
        ("every 90s", "every 90 seconds", "every"),
        ("every 1h30m", "every 90 minutes", "every"),
        ("2026-12-24 18:00", "2026-12-24 18:00", "once"),
        ("2026-12-24T18:00:30", "2026-12-24 18:00:30", "once"),
        ("2026-12-24 18:00+01:00", "2026-12-24 18:00+01:00", "once"),
        ("2026-12-24 18:00 -0530", "2026-12-24 18:00-05:30", "once"),
        ("2026-12-24t17:00z", "2026-12-24 17:00Z", "once"),
    ],
)
def test_every_written_form_parses_to_its_canonical_text(spec: str, text: str, kind: str) -> None:
    schedule = parse_schedule(spec)
    assert (schedule.text, schedule.kind) == (text, kind)


@pytest.mark.parametrize(
    ("spec", "same_as"),
    [
        ({"cron": "30 2 * * *"}, "30 2 * * *"),
        ({"cron": "@daily"}, "@daily"),
        ({"every": "6h"}, "every 6 hours"),
        ({"every": "6 hours"}, "every 6 hours"),
        ({"every": "minute"}, "every minute"),
        ({"at": "2026-12-24 18:00"}, "2026-12-24 18:00"),
    ],
)
def test_mapping_forms_mean_the_same_as_their_strings(spec: dict[str, str], same_as: str) -> None:
    assert parse_schedule(spec) == parse_schedule(same_as)


def test_phrases_are_the_cron_they_stand_for() -> None:
    after = utc(2026, 5, 1, 12, 0)
    for phrase, cron in [
        ("hourly", "0 * * * *"),
        ("daily", "0 0 * * *"),
        ("daily at 10:30", "30 10 * * *"),
        ("weekdays at 08:15", "15 8 * * 1-5"),
        ("weekends at 11:00", "0 11 * * 6,0"),
        ("friday at 17:45", "45 17 * * 5"),
    ]:
        assert first(phrase, BERLIN, after, 12) == first(cron, BERLIN, after, 12), phrase


def test_macros_are_the_cron_they_stand_for() -> None:
    after = utc(2026, 5, 1, 12, 0)
    for macro, cron in [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ]:
        assert first(macro, BERLIN, after, 5) == first(cron, BERLIN, after, 5), macro


def test_fixed_time_is_cronies_rule_on_minute_and_hour() -> None:
    assert parse_schedule("30 2 * * *").fixed_time
    assert parse_schedule("0,30 2-4 * * *").fixed_time
    assert parse_schedule("daily at 02:30").fixed_time
    assert not parse_schedule("*/15 * * * *").fixed_time
    assert not parse_schedule("30 * * * *").fixed_time
    assert not parse_schedule("0 */2 * * *").fixed_time
    assert not parse_schedule("hourly").fixed_time
    assert not parse_schedule("every 6 hours").fixed_time


# --- parsing: every error message, exactly --------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("dayly at 10:30", "'dayly at 10:30' is not a schedule (try 'daily at 10:30')"),
        ("evry 5 minutes", "'evry 5 minutes' is not a schedule (try 'every 5 minutes')"),
        ("mondya at 09:00", "'mondya at 09:00' is not a schedule (try 'monday at 09:00')"),
        ("every 5 minuts", "'every 5 minuts' is not a schedule (try 'every 5 minutes')"),
        ("hourli", "'hourli' is not a schedule (try 'hourly')"),
        (
            "whenever",
            "'whenever' is not a schedule (use e.g. '30 2 * * *', 'every 6 hours', 'daily at 10:30', "
            "'monday at 09:00' or '2026-12-24 18:00')",
        ),
        (
            "",
            "'' is not a schedule (use e.g. '30 2 * * *', 'every 6 hours', 'daily at 10:30', "
            "'monday at 09:00' or '2026-12-24 18:00')",
        ),
        ("daily at 25:00", "'25:00' is not a time of day (use HH:MM, 00:00-23:59)"),
        ("daily at 10:60", "'10:60' is not a time of day (use HH:MM, 00:00-23:59)"),
        ("monday at 9am", "'9am' is not a time of day (use HH:MM, 00:00-23:59)"),
        ("every day at 10:30", "'every day at 10:30' is not a schedule (try 'daily at 10:30')"),
        ("every monday at 09:00", "'every monday at 09:00' is not a schedule (try 'monday at 09:00')"),
        ("every 0 minutes", "'every 0 minutes' is too short (use a period of at least 1 second)"),
        ("every 500ms", "'every 500ms' is too short (use a period of at least 1 second)"),
        ("every 1.5s", "'every 1.5s' is not a whole number of seconds (use e.g. 'every 90s')"),
        ("every 90", "'every 90' has no unit (write e.g. 'every 90s' or 'every 90 minutes')"),
        (
            "every 6 parsecs",
            "'every 6 parsecs' is not a schedule (use e.g. 'every 6 hours', 'every 90s' or 'every 1h30m')",
        ),
        ("0 0 * * * *", "'0 0 * * * *' has 6 fields; taskctl cron has 5 (minute hour day month weekday)"),
        ("0 0 * *", "'0 0 * *' has 4 fields; taskctl cron has 5 (minute hour day month weekday)"),
        ("0 0 31 2 *", "'0 0 31 2 *' can never fire (February has no day 31)"),
        ("0 0 30 2 *", "'0 0 30 2 *' can never fire (February has no day 30)"),
        ("0 0 30,31 feb *", "'0 0 30,31 feb *' can never fire (February has no day 30 or 31)"),
        ("0 0 31 4,6 *", "'0 0 31 4,6 *' can never fire (April and June have no day 31)"),
        (
            "@reboot",
            "'@reboot' is not supported (taskctl schedules are times; "
            "use @hourly, @daily, @weekly, @monthly or @yearly)",
        ),
        ("@dayly", "'@dayly' is not a cron macro (try '@daily')"),
        ("@often", "'@often' is not a cron macro (use @hourly, @daily, @weekly, @monthly or @yearly)"),
        ("60 * * * *", "'60 * * * *' is not valid cron: minute 60 is out of range (0-59)"),
        ("0 24 * * *", "'0 24 * * *' is not valid cron: hour 24 is out of range (0-23)"),
        ("0 0 0 * *", "'0 0 0 * *' is not valid cron: day of month 0 is out of range (1-31)"),
        ("0 0 * 13 *", "'0 0 * 13 *' is not valid cron: month 13 is out of range (1-12)"),
        ("0 0 * * 8", "'0 0 * * 8' is not valid cron: weekday 8 is out of range (0-7)"),
        (
            "0 0 * * fooday",
            "'0 0 * * fooday' is not valid cron: 'fooday' is not a weekday (use 0-7 or sun-sat)",
        ),
        ("0 0 * foo *", "'0 0 * foo *' is not valid cron: 'foo' is not a month (use 1-12 or jan-dec)"),
        ("0 0 X * *", "'0 0 X * *' is not valid cron: 'x' is not a day of month (use 1-31, L or e.g. 15W)"),
        ("*/0 * * * *", "'*/0 * * * *' is not valid cron: minute step must be at least 1"),
        ("*/x * * * *", "'*/x * * * *' is not valid cron: '*/x' has no valid step (use e.g. */15)"),
        ("0 0 * * 5-1", "'0 0 * * 5-1' is not valid cron: weekday range 5-1 runs backwards"),
        ("2026-02-30 10:00", "'2026-02-30 10:00' is not a valid date (February 2026 has 28 days)"),
        ("2026-13-01 10:00", "'2026-13-01 10:00' is not a valid date (months are 01-12)"),
        ("2026-12-24 25:00", "'25:00' is not a time of day (use HH:MM, 00:00-23:59)"),
        ("2026-12-24", "'2026-12-24' has no time of day (write e.g. '2026-12-24 00:00')"),
        ("0001-01-01 00:00", "'0001-01-01 00:00' is out of range (use a year from 1000 to 9998)"),
        ("2026-12-24 18:00+25:00", "'2026-12-24 18:00+25:00' has an impossible UTC offset '+25:00'"),
        (
            "2026-12-24 at 6pm",
            "'2026-12-24 at 6pm' is not a date and time (use YYYY-MM-DD HH:MM, e.g. '2026-12-24 18:00')",
        ),
    ],
)
def test_bad_strings_get_one_clear_sentence(spec: str, message: str) -> None:
    assert error_of(spec) == message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"crom": "30 2 * * *"}, "'crom' is not a schedule key (try 'cron'; use cron, every or at)"),
        ({"when": "daily"}, "'when' is not a schedule key (use cron, every or at)"),
        (
            {"cron": "30 2 * * *", "every": "6h"},
            "a schedule mapping takes exactly one key, cron, every or at (got cron, every)",
        ),
        ({}, "a schedule mapping takes exactly one key, cron, every or at (got none)"),
        ({"cron": 30}, "'cron' needs a string such as '30 2 * * *' (got 30)"),
        ({"every": 300}, "'every' needs a string such as '6h' (got 300)"),
        ({"at": None}, "'at' needs a string such as '2026-12-24 18:00' (got None)"),
        (
            {"cron": "daily"},
            "'daily' is not a cron expression "
            "(use 5 fields: minute hour day month weekday, e.g. '30 2 * * *')",
        ),
        (
            {"cron": "0 0 * * * *"},
            "'0 0 * * * *' has 6 fields; taskctl cron has 5 (minute hour day month weekday)",
        ),
        ({"every": "90"}, "'90' has no unit (write e.g. '90s' or '90 minutes')"),
        (
            {"every": "6 parsecs"},
            "'6 parsecs' is not a schedule (use e.g. '6h', '90s', '1h30m' or '6 hours')",
        ),
        (
            {"at": "tomorrow"},
            "'tomorrow' is not a date and time (use YYYY-MM-DD HH:MM, e.g. '2026-12-24 18:00')",
        ),
        (
            42,
            "42 is not a schedule (use a string such as 'daily at 10:30' "
            "or a mapping with one key: cron, every or at)",
        ),
    ],
)
def test_bad_mappings_say_what_is_valid(spec: object, message: str) -> None:
    assert error_of(spec) == message


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


# --- cron semantics -------------------------------------------------------------------------------


def test_day_of_month_and_weekday_combine_with_or_when_both_are_restricted() -> None:
    # The 13th, and every Friday: June 2026 has Fridays on 5, 12, 19, 26.
    days = [fire.at.astimezone(BERLIN).day for fire in first("0 12 13 6 5", BERLIN, utc(2026, 6, 1), 5)]
    assert days == [5, 12, 13, 19, 26]


def test_a_starred_day_field_makes_the_other_one_decide_with_and() -> None:
    # `*/2` starts with `*`, so odd days AND Mondays (cronie's DOM_STAR rule): 1 and 15 June 2026.
    days = [fire.at.astimezone(BERLIN).day for fire in first("0 12 */2 6 mon", BERLIN, utc(2026, 6, 1), 2)]
    assert days == [1, 15]


@pytest.mark.parametrize(
    ("spec", "text", "days"),
    [
        ("0 9 L * *", "0 9 l * *", ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]),
        ("0 9 1,L * *", "0 9 1,l * *", ["2027-01-01", "2027-01-31", "2027-02-01", "2027-02-28"]),
        ("0 9 * * fri#3", "0 9 * * fri#3", ["2027-01-15", "2027-02-19", "2027-03-19", "2027-04-16"]),
        ("0 9 * * 5#5", "0 9 * * 5#5", ["2027-01-29", "2027-04-30", "2027-07-30", "2027-10-29"]),
        ("0 9 * * L5", "0 9 * * l5", ["2027-01-29", "2027-02-26", "2027-03-26", "2027-04-30"]),
        ("0 9 * * Lsun", "0 9 * * lsun", ["2027-01-31", "2027-02-28", "2027-03-28", "2027-04-25"]),
        # The weekday nearest the 1st and the 15th, never leaving the month (1 May 2027 is a Saturday).
        ("0 9 15W * *", "0 9 15w * *", ["2027-01-15", "2027-02-15", "2027-03-15", "2027-04-15"]),
        ("0 9 1W 5 *", "0 9 1w 5 *", ["2027-05-03", "2028-05-01", "2029-05-01", "2030-05-01"]),
        ("0 9 31W 2 *", "0 9 31w 2 *", ["2027-02-26", "2028-02-29", "2029-02-28", "2030-02-28"]),
        ("0 9 ? * MON", "0 9 * * mon", ["2027-01-04", "2027-01-11", "2027-01-18", "2027-01-25"]),
        # A `#` weekday narrows the day of month (croniter's AND): the first working day of January.
        (
            "30 23 1-7 jan mon-fri#1",
            "30 23 1-7 jan mon-fri#1",
            ["2027-01-01", "2027-01-04", "2027-01-05", "2027-01-06"],
        ),
        # An equal range is its one value, as in cron (croniter alone would read the whole cycle).
        ("0 5-5 1-1 * *", "0 5-5 1-1 * *", ["2027-01-01", "2027-02-01", "2027-03-01", "2027-04-01"]),
        ("0 9 * * mon-mon#1", "0 9 * * mon-mon#1", ["2027-01-04", "2027-02-01", "2027-03-01", "2027-04-05"]),
    ],
)
def test_croniter_syntax_beyond_plain_cron(spec: str, text: str, days: list[str]) -> None:
    schedule = parse_schedule(spec)
    assert schedule.text == text
    got = [
        fire.at.astimezone(BERLIN).strftime("%Y-%m-%d") for fire in first(spec, BERLIN, utc(2027, 1, 1), 4)
    ]
    assert got == days


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "0 9 * * 5#6",
            "'0 9 * * 5#6' is not valid cron: '5#6' needs #1 to #5 after the weekday (e.g. fri#3, the third Friday)",
        ),
        (
            "0 9 * * fri#",
            "'0 9 * * fri#' is not valid cron: 'fri#' needs #1 to #5 after the weekday (e.g. fri#3, the third Friday)",
        ),
        (
            "0 9 * * mon,fri#3",
            "'0 9 * * mon,fri#3' is not valid cron: weekday 'mon,fri#3' mixes plain days with # or L days (use one kind, e.g. fri#1,fri#3)",
        ),
        ("0 9 * * lfoo", "'0 9 * * lfoo' is not valid cron: 'foo' is not a weekday (use 0-7 or sun-sat)"),
        (
            "0 9 15W,20 * *",
            "'0 9 15W,20 * *' is not valid cron: '15w' stands alone in the day of month (e.g. 15W, no list)",
        ),
        ("0 9 32W * *", "'0 9 32W * *' is not valid cron: day of month 32 is out of range (1-31)"),
        (
            "0 9 L-3 * *",
            "'0 9 L-3 * *' is not valid cron: 'l' is not a day of month (use 1-31, L or e.g. 15W)",
        ),
        (
            "H * * * *",
            "'H * * * *' is not a schedule (use e.g. '30 2 * * *', 'every 6 hours', 'daily at 10:30', 'monday at 09:00' or '2026-12-24 18:00')",
        ),
        (
            "0 0 1 * fri#3",
            "'0 0 1 * fri#3' can never fire (no day matches both its day of month and its weekday)",
        ),
        (
            "0 0 */20 * mon#2",
            "'0 0 */20 * mon#2' can never fire (no day matches both its day of month and its weekday)",
        ),
    ],
)
def test_bad_croniter_syntax_gets_one_clear_sentence(spec: str, message: str) -> None:
    assert error_of(spec) == message


def test_a_rare_nth_weekday_still_fires() -> None:
    # A fifth Monday in February needs a leap year whose February starts on a Monday.
    assert [fire.at.year for fire in first("0 9 * feb mon#5", BERLIN, utc(2027, 1, 1), 2)] == [2044, 2072]


def test_seven_is_sunday_too() -> None:
    assert first("0 12 * * 7", BERLIN, utc(2026, 6, 1), 3) == first(
        "0 12 * * sun", BERLIN, utc(2026, 6, 1), 3
    )
    assert first("0 12 * * 5-7", BERLIN, utc(2026, 6, 1), 6) == first(
        "0 12 * * fri-sun", BERLIN, utc(2026, 6, 1), 6
    )


def test_leap_day_cron_fires_every_four_years() -> None:
    years = [fire.at.year for fire in first("0 0 29 2 *", BERLIN, utc(2026, 1, 1), 3)]
    assert years == [2028, 2032, 2036]


def test_next_fire_is_strictly_after_the_moment() -> None:
    schedule = parse_schedule("daily at 10:30")
    assert next_fire_after(schedule, BERLIN, utc(2026, 6, 1, 8, 30)) == utc(2026, 6, 2, 8, 30)
    assert next_fire_after(schedule, BERLIN, utc(2026, 6, 1, 8, 29, 59)) == utc(2026, 6, 1, 8, 30)


def test_next_fire_accepts_any_aware_moment_and_answers_in_utc() -> None:
    moment = datetime(2026, 6, 1, 10, 0, tzinfo=BERLIN)
    fire = next_fire_after(parse_schedule("daily at 10:30"), BERLIN, moment)
    assert fire == utc(2026, 6, 1, 8, 30)
    assert fire is not None and fire.tzinfo is UTC


def test_the_end_of_the_calendar_means_no_more_fires() -> None:
    assert next_fire_after(parse_schedule("daily at 23:00"), NEW_YORK, utc(9999, 12, 31, 0, 0)) == utc(
        9999, 12, 31, 4
    )
    assert next_fire_after(parse_schedule("daily at 23:00"), NEW_YORK, utc(9999, 12, 31, 4, 0)) is None
    assert next_fire_after(parse_schedule("hourly"), BERLIN, utc(9999, 12, 31, 23, 30)) is None
    assert next_fire_after(parse_schedule("every 6 hours"), BERLIN, utc(9999, 12, 31, 19, 0)) is None


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_fire_after(parse_schedule("hourly"), BERLIN, datetime(2026, 6, 1))


# --- every: epoch-anchored elapsed time -----------------------------------------------------------


def test_every_six_hours_fires_at_fixed_utc_hours_in_any_zone() -> None:
    for zone in (BERLIN, NEW_YORK, LORD_HOWE, ZoneInfo("Asia/Kolkata")):
        hours = [fire.at.hour for fire in first("every 6 hours", zone, utc(2026, 6, 1, 1, 0), 4)]
        assert hours == [6, 12, 18, 0]


def test_every_ninety_minutes_is_counted_from_the_epoch() -> None:
    assert next_fire_after(parse_schedule("every 90m"), BERLIN, utc(2026, 6, 1, 0, 0)) == utc(
        2026, 6, 1, 1, 30
    )


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        (BERLIN, utc(2027, 3, 28, 0, 40), utc(2027, 10, 31, 0, 40)),
        (NEW_YORK, utc(2027, 3, 14, 6, 40), utc(2027, 11, 7, 5, 40)),
        (LORD_HOWE, utc(2027, 10, 2, 15, 10), utc(2027, 4, 3, 14, 40)),
        (HAVANA, utc(2027, 3, 14, 4, 40), utc(2027, 11, 7, 4, 40)),
    ],
)
def test_every_five_minutes_stays_300_seconds_apart_across_both_changes(
    zone: ZoneInfo, spring: datetime, autumn: datetime
) -> None:
    for start in (spring, autumn):
        instants = [fire.at for fire in first("every 5 minutes", zone, start, 24)]
        assert instants[0] == start + timedelta(minutes=5)
        assert {later - earlier for earlier, later in pairwise(instants)} == {timedelta(seconds=300)}


def test_every_marks_fires_in_the_second_pass_of_a_repeated_hour() -> None:
    notes = [(fire.at, fire.note) for fire in first("every 30 minutes", BERLIN, utc(2027, 10, 31, 0, 0), 4)]
    assert notes == [
        (utc(2027, 10, 31, 0, 30), None),  # 02:30 CEST
        (utc(2027, 10, 31, 1, 0), DstNote.REPEATED),  # 02:00 CET
        (utc(2027, 10, 31, 1, 30), DstNote.REPEATED),  # 02:30 CET
        (utc(2027, 10, 31, 2, 0), None),  # 03:00 CET
    ]


# --- golden DST stories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "spec", "after", "expected"),
    [
        # Berlin, 28 March 2027: 02:00 CET -> 03:00 CEST.
        (BERLIN, "daily at 02:30", utc(2027, 3, 27, 23, 0), utc(2027, 3, 28, 1, 0)),
        # New York, 14 March 2027: 02:00 EST -> 03:00 EDT.
        (NEW_YORK, "daily at 02:30", utc(2027, 3, 14, 5, 0), utc(2027, 3, 14, 7, 0)),
        # Lord Howe, 3 October 2027: 02:00 +10:30 -> 02:30 +11:00 (a 30-minute gap).
        (LORD_HOWE, "daily at 02:15", utc(2027, 10, 2, 13, 0), utc(2027, 10, 2, 15, 30)),
        # Havana, 14 March 2027: midnight -05:00 -> 01:00 -04:00 (the day starts at 01:00).
        (HAVANA, "daily", utc(2027, 3, 13, 6, 0), utc(2027, 3, 14, 5, 0)),
    ],
)
def test_daily_slot_in_the_skipped_hour_runs_once_right_after_the_gap(
    zone: ZoneInfo, spec: str, after: datetime, expected: datetime
) -> None:
    assert first(spec, zone, after, 1) == [Fire(expected, DstNote.SHIFTED)]
    assert next_fire_after(parse_schedule(spec), zone, after) == expected


@pytest.mark.parametrize(
    ("zone", "spec", "after", "expected", "next_day"),
    [
        # Berlin, 31 October 2027: 03:00 CEST -> 02:00 CET; 02:30 CEST comes first.
        (
            BERLIN,
            "daily at 02:30",
            utc(2027, 10, 30, 23, 0),
            utc(2027, 10, 31, 0, 30),
            utc(2027, 11, 1, 1, 30),
        ),
        # New York, 7 November 2027: 02:00 EDT -> 01:00 EST.
        (
            NEW_YORK,
            "daily at 01:30",
            utc(2027, 11, 7, 4, 0),
            utc(2027, 11, 7, 5, 30),
            utc(2027, 11, 8, 6, 30),
        ),
        # Lord Howe, 4 April 2027: 02:00 +11:00 -> 01:30 +10:30 (a 30-minute repeat).
        (
            LORD_HOWE,
            "daily at 01:45",
            utc(2027, 4, 3, 13, 0),
            utc(2027, 4, 3, 14, 45),
            utc(2027, 4, 4, 15, 15),
        ),
        # Havana, 7 November 2027: 01:00 -04:00 -> midnight -05:00; midnight happens twice.
        (HAVANA, "daily", utc(2027, 11, 6, 5, 0), utc(2027, 11, 7, 4, 0), utc(2027, 11, 8, 5, 0)),
    ],
)
def test_daily_slot_in_the_repeated_hour_runs_once_on_its_first_occurrence(
    zone: ZoneInfo, spec: str, after: datetime, expected: datetime, next_day: datetime
) -> None:
    assert first(spec, zone, after, 2) == [Fire(expected, DstNote.DEDUPLICATED), Fire(next_day)]


def test_slots_in_the_gap_and_at_its_end_collapse_to_one_fire() -> None:
    # 02:00 and 02:30 do not exist on 28 March 2027 in Berlin; 03:00 does. One run at 03:00 CEST.
    assert first("0,30 2,3 * * *", BERLIN, utc(2027, 3, 27, 23, 0), 2) == [
        Fire(utc(2027, 3, 28, 1, 0), DstNote.SHIFTED),
        Fire(utc(2027, 3, 28, 1, 30)),  # 03:30 CEST
    ]


def test_wildcard_slots_in_the_gap_are_simply_absent() -> None:
    instants = [
        fire.at.astimezone(BERLIN).strftime("%H:%M")
        for fire in first("*/30 * * * *", BERLIN, utc(2027, 3, 28, 0, 0), 3)
    ]
    assert instants == ["01:30", "03:00", "03:30"]
    assert [f.note for f in first("30 * * * *", BERLIN, utc(2027, 3, 28, 0, 0), 2)] == [None, None]


@pytest.mark.parametrize(
    ("zone", "after", "repeated_from"),
    [
        (BERLIN, utc(2027, 10, 30, 23, 50), utc(2027, 10, 31, 1, 0)),
        (NEW_YORK, utc(2027, 11, 7, 4, 50), utc(2027, 11, 7, 6, 0)),
        (LORD_HOWE, utc(2027, 4, 3, 13, 50), utc(2027, 4, 3, 15, 0)),
        (HAVANA, utc(2027, 11, 7, 3, 50), utc(2027, 11, 7, 5, 0)),
    ],
)
def test_every_quarter_hour_runs_every_real_15_minutes_across_fall_back(
    zone: ZoneInfo, after: datetime, repeated_from: datetime
) -> None:
    got = first("*/15 * * * *", zone, after, 16)
    instants = [fire.at for fire in got]
    assert instants == [after + timedelta(minutes=10 + 15 * i) for i in range(16)]
    assert len(set(instants)) == 16
    repeated = [fire.at for fire in got if fire.note is DstNote.REPEATED]
    span = (LORD_HOWE is zone and 30) or 60
    assert repeated == [repeated_from + timedelta(minutes=m) for m in range(0, span, 15)]
    assert {fire.note for fire in got} == {None, DstNote.REPEATED}


def test_looking_from_inside_the_first_pass_still_sees_the_second_pass() -> None:
    # 00:50 UTC is 02:50 CEST; the clocks then go back and 02:00-02:45 CET happen (again).
    got = first("*/15 * * * *", BERLIN, utc(2027, 10, 31, 0, 50), 2)
    assert got == [
        Fire(utc(2027, 10, 31, 1, 0), DstNote.REPEATED),
        Fire(utc(2027, 10, 31, 1, 15), DstNote.REPEATED),
    ]


def test_hourly_runs_in_both_passes_of_the_repeated_hour_in_havana() -> None:
    local = [
        (fire.at.astimezone(HAVANA).strftime("%H:%M%z"), fire.note)
        for fire in first("hourly", HAVANA, utc(2027, 11, 7, 3, 30), 3)
    ]
    assert local == [("00:00-0400", None), ("00:00-0500", DstNote.REPEATED), ("01:00-0500", None)]


# --- one-shots ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "zone", "message"),
    [
        (
            "2027-03-28 02:30",
            BERLIN,
            "'2027-03-28 02:30' does not exist in Europe/Berlin (clocks jump from 02:00 to 03:00); "
            "pick another time or add an offset, e.g. '2027-03-28 02:30+01:00'",
        ),
        (
            "2027-10-31 02:30",
            BERLIN,
            "'2027-10-31 02:30' happens twice in Europe/Berlin (clocks go back from 03:00 to 02:00); "
            "add an offset: '2027-10-31 02:30+02:00' for the first "
            "or '2027-10-31 02:30+01:00' for the second",
        ),
        (
            "2027-03-14 02:30",
            NEW_YORK,
            "'2027-03-14 02:30' does not exist in America/New_York (clocks jump from 02:00 to 03:00); "
            "pick another time or add an offset, e.g. '2027-03-14 02:30-05:00'",
        ),
        (
            "2027-11-07 01:30",
            NEW_YORK,
            "'2027-11-07 01:30' happens twice in America/New_York (clocks go back from 02:00 to 01:00); "
            "add an offset: '2027-11-07 01:30-04:00' for the first "
            "or '2027-11-07 01:30-05:00' for the second",
        ),
        (
            "2027-10-03 02:15",
            LORD_HOWE,
            "'2027-10-03 02:15' does not exist in Australia/Lord_Howe (clocks jump from 02:00 to 02:30); "
            "pick another time or add an offset, e.g. '2027-10-03 02:15+10:30'",
        ),
        (
            "2027-04-04 01:45",
            LORD_HOWE,
            "'2027-04-04 01:45' happens twice in Australia/Lord_Howe (clocks go back from 02:00 to 01:30); "
            "add an offset: '2027-04-04 01:45+11:00' for the first "
            "or '2027-04-04 01:45+10:30' for the second",
        ),
        (
            "2027-03-14 00:30",
            HAVANA,
            "'2027-03-14 00:30' does not exist in America/Havana (clocks jump from 00:00 to 01:00); "
            "pick another time or add an offset, e.g. '2027-03-14 00:30-05:00'",
        ),
        (
            "2027-11-07 00:30",
            HAVANA,
            "'2027-11-07 00:30' happens twice in America/Havana (clocks go back from 01:00 to 00:00); "
            "add an offset: '2027-11-07 00:30-04:00' for the first "
            "or '2027-11-07 00:30-05:00' for the second",
        ),
    ],
)
def test_one_shot_in_a_gap_or_fold_is_rejected_without_an_offset(
    spec: str, zone: ZoneInfo, message: str
) -> None:
    assert zone_error_of(spec, zone) == message


@pytest.mark.parametrize(
    ("spec", "zone", "instant"),
    [
        ("2027-03-28 02:30+01:00", BERLIN, utc(2027, 3, 28, 1, 30)),
        ("2027-10-31 02:30+01:00", BERLIN, utc(2027, 10, 31, 1, 30)),
        ("2027-03-14 02:30-05:00", NEW_YORK, utc(2027, 3, 14, 7, 30)),
        ("2027-11-07 01:30-04:00", NEW_YORK, utc(2027, 11, 7, 5, 30)),
        ("2027-10-03 02:15+10:30", LORD_HOWE, utc(2027, 10, 2, 15, 45)),
        ("2027-04-04 01:45+10:30", LORD_HOWE, utc(2027, 4, 3, 15, 15)),
        ("2027-03-14 00:30-05:00", HAVANA, utc(2027, 3, 14, 5, 30)),
        ("2027-11-07 00:30-05:00", HAVANA, utc(2027, 11, 7, 5, 30)),
    ],
)
def test_one_shot_in_a_gap_or_fold_is_accepted_with_an_offset(
    spec: str, zone: ZoneInfo, instant: datetime
) -> None:
    schedule = parse_schedule(spec)
    check_in_zone(schedule, zone)
    assert next_fire_after(schedule, zone, utc(2027, 1, 1)) == instant


def test_one_shot_is_local_to_the_zone_and_fires_once() -> None:
    schedule = parse_schedule("2026-12-24 18:00")
    check_in_zone(schedule, BERLIN)
    assert list(fires(schedule, BERLIN, utc(2026, 12, 1))) == [Fire(utc(2026, 12, 24, 17, 0))]
    assert next_fire_after(schedule, NEW_YORK, utc(2026, 12, 1)) == utc(2026, 12, 24, 23, 0)


def test_one_shot_in_the_past_never_fires() -> None:
    schedule = parse_schedule("2026-12-24 18:00")
    assert next_fire_after(schedule, BERLIN, utc(2026, 12, 24, 17, 0)) is None
    assert list(fires(schedule, BERLIN, utc(2027, 1, 1))) == []


def test_check_in_zone_accepts_everything_but_impossible_one_shots() -> None:
    for spec in ("30 2 * * *", "every 6 hours", "daily at 02:30", "2027-03-28 03:30", "2027-03-28 02:30Z"):
        check_in_zone(parse_schedule(spec), BERLIN)


# --- catch-up helpers -----------------------------------------------------------------------------


def test_fires_between_is_the_half_open_interval_after_start_up_to_end() -> None:
    schedule = parse_schedule("0 */6 * * *")  # 00, 06, 12, 18 Berlin time, in summer UTC+2
    got = [fire.at for fire in fires_between(schedule, BERLIN, utc(2026, 6, 1, 4, 0), utc(2026, 6, 1, 16, 0))]
    assert got == [utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 16, 0)]


def test_latest_fire_at_or_before_includes_the_moment_itself() -> None:
    schedule = parse_schedule("daily at 10:30")
    assert latest_fire_at_or_before(schedule, BERLIN, utc(2026, 6, 1, 8, 30)) == Fire(utc(2026, 6, 1, 8, 30))
    assert latest_fire_at_or_before(schedule, BERLIN, utc(2026, 6, 1, 8, 29)) == Fire(utc(2026, 5, 31, 8, 30))


@pytest.mark.parametrize(
    ("spec", "moment", "latest"),
    [
        ("* * * * *", utc(2026, 6, 1, 8, 29, 30), utc(2026, 6, 1, 8, 29)),
        ("@yearly", utc(2026, 6, 1), utc(2025, 12, 31, 23, 0)),
        ("0 0 29 2 *", utc(2026, 6, 1), utc(2024, 2, 28, 23, 0)),
        ("every 6 hours", utc(2026, 6, 1, 5, 59), utc(2026, 6, 1, 0, 0)),
        ("every 6 hours", utc(2026, 6, 1, 6, 0), utc(2026, 6, 1, 6, 0)),
        ("daily at 02:30", utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 1, 0)),
    ],
)
def test_latest_fire_at_or_before_finds_rare_and_frequent_slots(
    spec: str, moment: datetime, latest: datetime
) -> None:
    fire = latest_fire_at_or_before(parse_schedule(spec), BERLIN, moment)
    assert fire is not None and fire.at == latest


def test_latest_fire_of_a_one_shot_is_none_before_it() -> None:
    schedule = parse_schedule("2026-12-24 18:00")
    assert latest_fire_at_or_before(schedule, BERLIN, utc(2026, 12, 24, 16, 59)) is None
    assert latest_fire_at_or_before(schedule, BERLIN, utc(2027, 1, 1)) == Fire(utc(2026, 12, 24, 17, 0))


# --- counting fires without walking them --------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "end", "count"),
    [
        # From local midnight to local midnight, 30 days: one hour less in spring, one more in autumn.
        ("* * * * *", berlin(2027, 3, 10), berlin(2027, 4, 9), 30 * 1440 - 60),
        ("* * * * *", berlin(2027, 10, 15), berlin(2027, 11, 14), 30 * 1440 + 60),
        # The minutes of 02:xx: none on the spring night, twice on the autumn night.
        ("* 2 * * *", berlin(2027, 3, 10), berlin(2027, 4, 9), 29 * 60),
        ("* 2 * * *", berlin(2027, 10, 15), berlin(2027, 11, 14), 31 * 60),
        # A fixed time skipped by the spring gap runs once after it; repeated in autumn, once.
        ("30 2 * * *", berlin(2027, 3, 10), berlin(2027, 4, 9), 30),
        ("30 2 * * *", berlin(2027, 10, 15), berlin(2027, 11, 14), 30),
        ("0,30 2 * * *", utc(2027, 3, 27, 23, 0), utc(2027, 3, 28, 2, 0), 1),
        ("every 6 hours", utc(2027, 3, 1), utc(2027, 3, 31), 120),
        ("2027-03-28 03:30", utc(2027, 3, 1), utc(2027, 3, 31), 1),
        ("* * * * *", utc(2027, 3, 1), utc(2027, 3, 1), 0),
    ],
)
def test_count_fires_between_counts_what_fires_between_yields(
    spec: str, start: datetime, end: datetime, count: int
) -> None:
    schedule = parse_schedule(spec)
    assert count_fires_between(schedule, BERLIN, start, end) == count
    assert len(list(fires_between(schedule, BERLIN, start, end))) == count


def test_last_fires_between_are_the_newest_oldest_first() -> None:
    schedule = parse_schedule("* * * * *")
    start, end = utc(2027, 3, 1), utc(2027, 3, 31, 12, 0, 30)
    got = last_fires_between(schedule, BERLIN, start, end, 3)
    assert got == [
        Fire(utc(2027, 3, 31, 11, 58)),
        Fire(utc(2027, 3, 31, 11, 59)),
        Fire(utc(2027, 3, 31, 12, 0)),
    ]
    monthly = parse_schedule("@monthly")  # local midnight on the 1st
    assert last_fires_between(monthly, BERLIN, utc(2026, 1, 1), end, 2) == [
        Fire(utc(2027, 1, 31, 23, 0)),
        Fire(utc(2027, 2, 28, 23, 0)),
    ]
    assert last_fires_between(monthly, BERLIN, start, end, 5) == []


def test_a_schedule_is_a_hashable_value() -> None:
    assert isinstance(parse_schedule("hourly"), Schedule)
    assert len({parse_schedule("daily at 10:30"), parse_schedule("daily  at 10:30")}) == 1
