"""Properties of fire times over many real zones, generated cron expressions and moments in 2020-2035.

The reference here is deliberately naive: it walks every UTC minute and asks zoneinfo for the wall clock,
so it shares no calendar arithmetic with taskctl.schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskctl.schedule import (
    DstNote,
    Fire,
    Schedule,
    ScheduleError,
    count_fires_between,
    fires,
    fires_between,
    last_fires_between,
    latest_fire_at_or_before,
    next_fire_after,
    parse_schedule,
)

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Havana",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Dublin",
    "America/Santiago",
    "America/St_Johns",
    "Asia/Tehran",
    "Asia/Kathmandu",
    "Africa/Casablanca",
    "Pacific/Auckland",
    "Australia/Sydney",
    "UTC",
]
MINUTE = timedelta(minutes=1)
CHECKS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Cron:
    """A generated cron expression and the sets it means, written out independently of the parser."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @property
    def fixed_time(self) -> bool:
        minute, hour = self.text.split()[:2]
        return not minute.startswith("*") and not hour.startswith("*")

    def matches(self, wall: datetime) -> bool:
        days_star, weekdays_star = self.text.split()[2].startswith("*"), self.text.split()[4].startswith("*")
        in_days, in_weekdays = wall.day in self.days, (wall.weekday() + 1) % 7 in self.weekdays
        day_ok = (in_days and in_weekdays) if days_star or weekdays_star else (in_days or in_weekdays)
        return (
            wall.minute in self.minutes and wall.hour in self.hours and wall.month in self.months and day_ok
        )


def cron_field(low: int, high: int, plain: int = 1) -> st.SearchStrategy[tuple[str, frozenset[int]]]:
    everything = frozenset(range(low, high + 1))
    return st.one_of(
        *[st.just(("*", everything))] * plain,
        st.integers(2, max(2, (high - low) // 2)).map(
            lambda n: (f"*/{n}", frozenset(range(low, high + 1, n)))
        ),
        st.sets(st.integers(low, high), min_size=1, max_size=4).map(
            lambda values: (",".join(str(v) for v in sorted(values)), frozenset(values))
        ),
        st.tuples(st.integers(low, high), st.integers(low, high)).map(
            lambda ends: (f"{min(ends)}-{max(ends)}", frozenset(range(min(ends), max(ends) + 1)))
        ),
    )


crons = st.builds(
    lambda minute, hour, day, month, weekday: Cron(
        " ".join(part for part, _ in (minute, hour, day, month, weekday)),
        minute[1],
        hour[1],
        day[1],
        month[1],
        weekday[1],
    ),
    cron_field(0, 59),
    cron_field(0, 23),
    cron_field(1, 31, plain=4),
    cron_field(1, 12, plain=6),
    cron_field(0, 6, plain=3),
)
zones = st.sampled_from(ZONES).map(ZoneInfo)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@cache
def transitions(zone: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """Instants in `year` where the zone's UTC offset changes, to the minute, found by sampling."""
    found = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    while moment.year == year:
        later = moment + timedelta(hours=6)
        if moment.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset():
            low, high = moment, later
            while high - low > MINUTE:
                middle = low + (high - low) // 2
                middle -= timedelta(seconds=middle.second, microseconds=middle.microsecond)
                if middle.astimezone(zone).utcoffset() == later.astimezone(zone).utcoffset():
                    high = middle
                else:
                    low = middle if middle > low else low + MINUTE
            found.append(high)
        moment = later
    return tuple(found)


def reference_fires(cron: Cron, zone: ZoneInfo, start: datetime, end: datetime) -> list[Fire]:
    """Fires in (start, end] by brute force: every real UTC minute, read on the zone's wall clock."""
    return dst_reference(cron.matches, cron.fixed_time, zone, start, end)


def dst_reference(
    matches: Callable[[datetime], bool], fixed_time: bool, zone: ZoneInfo, start: datetime, end: datetime
) -> list[Fire]:
    """cronie's DST rules by brute force over every real UTC minute, for wall times that `matches`."""
    expected = []
    moment = start.replace(second=0, microsecond=0) + MINUTE
    while moment <= end:
        wall = moment.astimezone(zone)
        naive = wall.replace(tzinfo=None)
        before = (moment - MINUTE).astimezone(zone).replace(tzinfo=None)
        skipped = [before + MINUTE * k for k in range(1, (naive - before) // MINUTE)]
        twin = naive.replace(fold=1 - wall.fold).replace(tzinfo=zone).utcoffset() != wall.utcoffset()
        if fixed_time and any(matches(w) for w in skipped):
            expected.append(Fire(moment, DstNote.SHIFTED))
        elif matches(naive) and fixed_time and twin and wall.fold == 0:
            expected.append(Fire(moment, DstNote.DEDUPLICATED))
        elif matches(naive) and not fixed_time and wall.fold == 1:
            expected.append(Fire(moment, DstNote.REPEATED))
        elif matches(naive) and not (fixed_time and wall.fold == 1):
            expected.append(Fire(moment, None))
        moment += MINUTE
    return expected


def parsed(cron: Cron) -> Schedule:
    try:
        return parse_schedule(cron.text)
    except ScheduleError:
        assume(False)  # a generated day/month pair that never exists, e.g. 30 February
        raise


def around(cron: Cron, change: datetime, zone: ZoneInfo) -> Cron:
    """`cron` moved onto the hours on both sides of `change`, every day, so its slots meet the change."""
    hours = frozenset({(change - MINUTE).astimezone(zone).hour, change.astimezone(zone).hour})
    minute, hour = cron.text.split()[:2]
    hour_text = hour if hour.startswith("*") else ",".join(str(h) for h in sorted(hours))
    all_days, all_months, all_weekdays = frozenset(range(1, 32)), frozenset(range(1, 13)), frozenset(range(7))
    hours = cron.hours if hour.startswith("*") else hours
    return Cron(f"{minute} {hour_text} * * *", cron.minutes, hours, all_days, all_months, all_weekdays)


@settings(CHECKS, max_examples=120)
@given(
    cron=crons,
    zone=zones,
    year=st.integers(2020, 2035),
    pick=st.integers(0, 7),
    focus=st.booleans(),
    lead=st.one_of(st.integers(0, 90), st.integers(0, 420)),
)
def test_cron_around_clock_changes_matches_a_minute_by_minute_reference(
    cron: Cron, zone: ZoneInfo, year: int, pick: int, focus: bool, lead: int
) -> None:
    changes = transitions(zone, year) or (datetime(year, 6, 1, tzinfo=UTC),)
    change = changes[pick % len(changes)]
    if focus:
        cron = around(cron, change, zone)
    start, end = change - timedelta(minutes=lead), change + timedelta(hours=7)
    schedule = parsed(cron)
    assert list(fires_between(schedule, zone, start, end)) == reference_fires(cron, zone, start, end)


@CHECKS
@given(cron=crons, zone=zones, moment=moments)
def test_cron_fires_strictly_increase_and_match_in_local_time(
    cron: Cron, zone: ZoneInfo, moment: datetime
) -> None:
    schedule = parsed(cron)
    got = list(islice(fires(schedule, zone, moment), 25))
    assert got, "every valid cron fires again"
    assert got[0].at > moment
    assert all(earlier.at < later.at for earlier, later in pairwise(got))
    for fire in got:
        wall = fire.at.astimezone(zone)
        if fire.note is DstNote.SHIFTED:  # first valid instant after a gap, for a fixed-time slot only
            assert cron.fixed_time
            assert (
                wall.replace(tzinfo=None) - (fire.at - MINUTE).astimezone(zone).replace(tzinfo=None) > MINUTE
            )
        else:
            assert cron.matches(wall.replace(tzinfo=None))
            assert (fire.note is DstNote.REPEATED) == (wall.fold == 1)
            assert not (cron.fixed_time and wall.fold == 1)
    assert next_fire_after(schedule, zone, moment) == got[0].at
    assert latest_fire_at_or_before(schedule, zone, got[3].at) == got[3]
    assert latest_fire_at_or_before(schedule, zone, got[3].at - timedelta(microseconds=1)) == got[2]


phrases = st.one_of(
    st.just(("hourly", "0 * * * *")),
    st.just(("daily", "0 0 * * *")),
    st.tuples(st.integers(0, 23), st.integers(0, 59)).flatmap(
        lambda hm: st.sampled_from(
            [
                (f"daily at {hm[0]:02d}:{hm[1]:02d}", f"{hm[1]} {hm[0]} * * *"),
                (f"weekdays at {hm[0]:02d}:{hm[1]:02d}", f"{hm[1]} {hm[0]} * * 1-5"),
                (f"weekends at {hm[0]:02d}:{hm[1]:02d}", f"{hm[1]} {hm[0]} * * 0,6"),
                (f"tuesdays at {hm[0]}:{hm[1]:02d}", f"{hm[1]} {hm[0]} * * 2"),
                (f"sun at {hm[0]:02d}:{hm[1]:02d}", f"{hm[1]} {hm[0]} * * 0"),
            ]
        )
    ),
)


@CHECKS
@given(phrase=phrases, zone=zones, moment=moments)
def test_phrases_fire_exactly_like_their_cron(
    phrase: tuple[str, str], zone: ZoneInfo, moment: datetime
) -> None:
    words, cron = phrase
    ours = list(islice(fires(parse_schedule(words), zone, moment), 10))
    assert ours == list(islice(fires(parse_schedule(cron), zone, moment), 10))


@CHECKS
@given(
    seconds=st.one_of(st.integers(1, 600), st.sampled_from([3600, 5400, 21600, 86400, 172800])),
    zone=zones,
    moment=moments,
)
def test_every_is_epoch_anchored_and_evenly_spaced_in_utc(
    seconds: int, zone: ZoneInfo, moment: datetime
) -> None:
    schedule = parse_schedule(f"every {seconds}s")
    got = [fire.at for fire in islice(fires(schedule, zone, moment), 20)]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert moment < got[0] <= moment + timedelta(seconds=seconds)
    assert all((at - epoch) % timedelta(seconds=seconds) == timedelta(0) for at in got)
    assert {later - earlier for earlier, later in pairwise(got)} == {timedelta(seconds=seconds)}
    latest = latest_fire_at_or_before(schedule, zone, moment)
    assert latest is not None and latest.at == got[0] - timedelta(seconds=seconds)


# --- croniter is the reference for what a cron expression means ----------------------------------

DST_ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]).map(ZoneInfo)


def _value(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    number = st.integers(low, high).map(str)
    if not names:
        return number
    return st.one_of(number, st.sampled_from(names))


def _plain_field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = _value(low, high, names)
    # Distinct ends: croniter reads an equal range (`5-5`) as the whole cycle, taskctl as the one value.
    pairs = st.tuples(st.integers(low, high - 1), st.integers(1, high - low)).map(
        lambda p: (p[0], min(high, p[0] + p[1]))
    )
    return st.one_of(
        st.just("*"),
        st.integers(2, max(2, (high - low) // 2)).map(lambda n: f"*/{n}"),
        value,
        st.lists(value, min_size=2, max_size=4).map(",".join),
        pairs.map(lambda ends: f"{ends[0]}-{ends[1]}"),
        st.tuples(pairs, st.integers(2, 9)).map(lambda p: f"{p[0][0]}-{p[0][1]}/{p[1]}"),
        st.tuples(st.integers(low, high), st.integers(2, 9)).map(lambda p: f"{p[0]}/{p[1]}"),
    )


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
croniter_crons = st.tuples(
    _plain_field(0, 59),
    _plain_field(0, 23),
    st.one_of(
        _plain_field(1, 31),
        st.sampled_from(["?", "L", "1,L", "15,L"]),
        st.integers(1, 31).map(lambda day: f"{day}W"),
    ),
    st.one_of(st.just("*"), st.just("*"), _plain_field(1, 12, MONTHS), st.just("jan-jun")),
    st.one_of(
        _plain_field(0, 7, WEEKDAYS),
        st.sampled_from(["?", "mon-fri", "sat,sun", "0-7", "fri-sun"]),
        st.tuples(_value(0, 7, WEEKDAYS), st.integers(1, 5)).map(lambda p: f"{p[0]}#{p[1]}"),
        st.tuples(st.sampled_from(WEEKDAYS[2:] + WEEKDAYS[:1]), st.integers(1, 5)).map(
            lambda p: (
                f"mon-{p[0]}#{p[1]}"
            )  # never mon-mon: an equal range is where taskctl and croniter differ
        ),
        st.integers(0, 7).map(lambda day: f"L{day}"),
    ),
).map(" ".join)


def day_or(expression: str) -> bool:
    """cronie's day rule for croniter's `day_or`: OR when neither day field starts with `*` (`?` is `*`).

    A `#`/`L` weekday or a `W` day combines by AND, as croniter means it ("each side stays an intersection");
    with day_or=True croniter drops the day of month there, or finds no date when both cannot meet.
    """
    day, weekday = expression.lower().split()[2::2]
    special = "#" in weekday or weekday.startswith("l") or "w" in day
    return not (day.startswith(("*", "?")) or weekday.startswith(("*", "?")) or special)


def croniter_walls(expression: str, low: datetime, high: datetime) -> set[datetime]:
    """Every naive wall time in (low, high] at which croniter says `expression` fires, with cronie's day rule."""
    from croniter import croniter

    walls = set()
    iterator = croniter(expression, low, day_or=day_or(expression), ret_type=datetime)
    while (wall := iterator.get_next(datetime)) <= high:
        walls.add(wall)
    return walls


@settings(CHECKS, max_examples=150)
@given(
    expression=croniter_crons,
    zone=DST_ZONES,
    year=st.integers(2020, 2035),
    pick=st.integers(0, 7),
    lead=st.integers(0, 300),
    hours=st.integers(1, 6),
)
def test_cron_fires_where_croniter_says_with_cronies_dst_rules_on_top(
    expression: str, zone: ZoneInfo, year: int, pick: int, lead: int, hours: int
) -> None:
    from croniter import CroniterBadDateError, croniter

    try:
        schedule = parse_schedule(expression)
    except ScheduleError as error:
        if "can never fire" in str(error):  # then croniter finds no date either
            with pytest.raises(CroniterBadDateError):
                croniter(expression, datetime(2000, 1, 1), day_or=day_or(expression)).get_next(datetime)
        assume(False)
        raise
    changes = transitions(zone, year)
    change = changes[pick % len(changes)]
    start, end = change - timedelta(minutes=lead), change + timedelta(hours=hours)
    low = start.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
    walls = croniter_walls(expression, low, end.astimezone(zone).replace(tzinfo=None) + timedelta(hours=3))
    minute, hour = expression.split()[:2]
    fixed_time = not minute.startswith("*") and not hour.startswith("*")
    expected = dst_reference(lambda wall: wall in walls, fixed_time, zone, start, end)
    assert list(fires_between(schedule, zone, start, end)) == expected


@settings(CHECKS, max_examples=60)
@given(expression=croniter_crons, moment=moments)
def test_cron_walks_the_calendar_like_croniter_in_utc(expression: str, moment: datetime) -> None:
    """Far from any clock change (UTC has none), 12 fires in a row are croniter's, whatever the months."""
    from croniter import croniter

    try:
        schedule = parse_schedule(expression)
    except ScheduleError:
        assume(False)
        raise
    iterator = croniter(expression, moment.replace(tzinfo=None), day_or=day_or(expression), ret_type=datetime)
    expected = [iterator.get_next(datetime).replace(tzinfo=UTC) for _ in range(12)]
    assert [fire.at for fire in islice(fires(schedule, ZoneInfo("UTC"), moment), 12)] == expected


# --- counting without enumerating ---------------------------------------------------------------


@settings(CHECKS, max_examples=150)
@given(
    expression=croniter_crons,
    zone=zones,
    year=st.integers(2020, 2035),
    pick=st.integers(0, 7),
    lead=st.integers(-200, 300),
    span=st.one_of(st.integers(1, 600), st.integers(600, 60 * 24 * 40)),
)
def test_counting_fires_equals_walking_them(
    expression: str, zone: ZoneInfo, year: int, pick: int, lead: int, span: int
) -> None:
    try:
        schedule = parse_schedule(expression)
    except ScheduleError:
        assume(False)
        raise
    changes = transitions(zone, year) or (datetime(year, 6, 1, tzinfo=UTC),)
    start = changes[pick % len(changes)] - timedelta(minutes=lead, seconds=lead % 7)
    end = start + timedelta(minutes=span)
    walked = list(fires_between(schedule, zone, start, end))
    assert count_fires_between(schedule, zone, start, end) == len(walked)
    assert last_fires_between(schedule, zone, start, end, 5) == walked[-5:]


@CHECKS
@given(
    seconds=st.one_of(st.integers(1, 600), st.sampled_from([3600, 5400, 86400])),
    spec=st.sampled_from(["every {s}s", "2027-03-28 03:30", "2027-03-28 01:30Z"]),
    zone=zones,
    start=moments,
    periods=st.floats(0, 3000),
)
def test_counting_every_and_one_shots_equals_walking_them(
    seconds: int, spec: str, zone: ZoneInfo, start: datetime, periods: float
) -> None:
    schedule = parse_schedule(spec.format(s=seconds))
    end = start + timedelta(seconds=seconds * periods)
    walked = list(fires_between(schedule, zone, start, end))
    assert count_fires_between(schedule, zone, start, end) == len(walked)
    assert last_fires_between(schedule, zone, start, end, 3) == walked[-3:]


@settings(CHECKS, max_examples=300)
@given(
    index=st.integers(0, 4),
    items=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 12)), min_size=1, max_size=4),
)
def test_plain_numbers_and_ranges_expand_as_croniter_expands_them(
    index: int, items: list[tuple[int, int]]
) -> None:
    from croniter import CroniterError, croniter

    from taskctl.schedule import _plain_numbers

    field = ",".join(str(start) if span == 0 else f"{start}-{start + span}" for start, span in items)
    fields = ["*"] * 5
    fields[index] = field
    ours = _plain_numbers(index, field)
    assume(ours is not None)
    try:
        expanded, _ = croniter.expand(" ".join(fields))
    except CroniterError:
        raise AssertionError(f"{field} is not a field croniter reads") from None
    assert list(ours) == expanded[index]
