"""Schedule phrases and cron -> next fire times. Pure functions of (schedule, zone, moment).

Forms: 5-field cron (read by croniter, with its `L`, `W`, `#` and `?`) and `@` macros, `every N unit`,
`hourly`, `daily [at HH:MM]`, `weekdays|weekends|<weekday> at HH:MM`, one-shot
`YYYY-MM-DD HH:MM[:SS][offset]`, and the mappings `{cron: ...}`, `{every: ...}`, `{at: ...}`.

Time rules (cronie's DST semantics): cron and phrases are evaluated on the wall clock of `zone`.
A *fixed-time* cron (neither minute nor hour starts with `*`) whose slot falls in a skipped stretch runs
once at the first real instant after it, and a slot in a repeated stretch runs on its first occurrence only;
a *wildcard* cron runs at every real instant that matches, so it skips the gap and runs twice in the repeat.
`every` is elapsed time anchored to the Unix epoch in UTC. Gaps and folds are found with zoneinfo itself
(`fold=0` and `fold=1` disagree), never assumed to be one hour long or at 02:00.

`count_fires_between` and `last_fires_between` answer "how many slots were missed, and which were the last
ones" for a daemon that was down for weeks without walking every slot.
"""

from __future__ import annotations

import calendar
import heapq
import re
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from itertools import takewhile
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from taskctl.errors import closest
from taskctl.units import parse_duration


class ScheduleError(ValueError):
    """A schedule that cannot be parsed or can never fire; str() is the user-facing message."""


class DstNote(StrEnum):
    """Why a fire time is not simply the wall-clock slot read once in the zone."""

    SHIFTED = "shifted"  # the wall-clock slot fell in a skipped hour and runs right after the gap
    DEDUPLICATED = "deduplicated"  # the slot fell in a repeated hour and runs on its first occurrence only
    REPEATED = "repeated"  # a wildcard/stepped slot that runs again in the repeated hour


class Fire(NamedTuple):
    """One fire time of a schedule, and why it is unusual if a clock change moved or repeated it."""

    at: datetime  # aware, UTC
    note: DstNote | None = None


class _Cron(NamedTuple):
    """A cron rule as croniter expanded its fields, ready for a fast walk over the calendar."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    days: tuple[int, ...]  # day of month, 1-31
    last_day: bool  # `L` in the day field: the last day of each month
    nearest_weekday: int | None  # `15W`: the Monday-Friday nearest the 15th, within its month
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    nth_weekdays: tuple[
        tuple[int, int], ...
    ]  # (weekday, n): `fri#3` is (5, 3), `L5` (the last Friday) (5, -1)
    any_day: bool  # the day-of-month field matches every day
    any_weekday: bool  # the weekday field matches every day
    days_or_weekdays: bool  # a day matches either day field (cronie's OR rule) instead of both
    fixed_time: bool  # neither minute nor hour starts with `*` (cronie's MIN_STAR/HR_STAR rule)
    times: tuple[int, ...]  # seconds after local midnight of every slot, sorted

    @property
    def every_day(self) -> bool:
        either = self.any_day or self.any_weekday
        return (self.any_day and self.any_weekday) or (self.days_or_weekdays and either)


class _Every(NamedTuple):
    seconds: int


class _Once(NamedTuple):
    wall: datetime  # naive, as written
    offset: timedelta | None  # None: local to the process zone


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; compare and hash it as a value. Build it with `parse_schedule`."""

    text: str  # canonical display text, e.g. "daily at 10:30", "30 2 * * *", "every 6 hours"
    kind: str  # "cron" | "every" | "once"
    _rule: _Cron | _Every | _Once = field(repr=False)

    @property
    def fixed_time(self) -> bool:
        """True for cron and phrases whose minute and hour are fixed (they shift/deduplicate around DST)."""
        return isinstance(self._rule, _Cron) and self._rule.fixed_time


# --- parsing --------------------------------------------------------------------------------------

_EXAMPLES = "'30 2 * * *', 'every 6 hours', 'daily at 10:30', 'monday at 09:00' or '2026-12-24 18:00'"
_CRON_SHAPE = "taskctl cron has 5 (minute hour day month weekday)"
_MACRO_LIST = "@hourly, @daily, @weekly, @monthly or @yearly"
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_DAY_WORDS = {
    **{day: i for i, day in enumerate(_WEEKDAYS)},
    **{day + "s": i for i, day in enumerate(_WEEKDAYS)},
    **_WEEKDAY_NAMES,
}
_UNITS = {
    "second": 1,
    "seconds": 1,
    "sec": 1,
    "secs": 1,
    "minute": 60,
    "minutes": 60,
    "min": 60,
    "mins": 60,
    "hour": 3600,
    "hours": 3600,
    "hr": 3600,
    "hrs": 3600,
    "day": 86400,
    "days": 86400,
}
_VOCABULARY = {"hourly", "daily", "every", "at", "weekdays", "weekends", *_DAY_WORDS, *_UNITS}
# Typos are corrected to whole words only (`parsecs` is not a misspelt `secs`).
_SUGGESTIONS = sorted(
    word for word in _VOCABULARY if word == "at" or (len(word) > 3 and word not in {"secs", "mins"})
)


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: Mapping[str, int]
    hint: str


_FIELDS = (
    _Field("minute", 0, 59, {}, "0-59"),
    _Field("hour", 0, 23, {}, "0-23"),
    _Field("day of month", 1, 31, {}, "1-31, L or e.g. 15W"),
    _Field("month", 1, 12, _MONTH_NAMES, "1-12 or jan-dec"),
    _Field("weekday", 0, 7, _WEEKDAY_NAMES, "0-7 or sun-sat"),
)


def parse_schedule(spec: str | Mapping[str, Any]) -> Schedule:
    """The schedule written as `spec` (a string or a one-key mapping); raises ScheduleError saying why not."""
    if isinstance(spec, Mapping):
        return _parse_mapping(spec)
    if not isinstance(spec, str):
        raise ScheduleError(
            f"{spec!r} is not a schedule (use a string such as 'daily at 10:30' "
            "or a mapping with one key: cron, every or at)"
        )
    return _parse_text(" ".join(spec.split()))


@lru_cache(maxsize=1024)
def _parse_text(text: str) -> Schedule:
    """Parsed once per text: a config of a thousand processes repeats a few schedules (a Schedule is
    immutable, so sharing one is safe)."""
    lowered = text.lower()
    if _DATE.match(lowered):
        return _parse_once(text)
    if lowered.startswith("@") or lowered[:1].isdigit() or lowered[:1] == "*":
        return _parse_cron(text)
    return _parse_phrase_or_suggest(text)


def _parse_mapping(spec: Mapping[str, Any]) -> Schedule:
    if len(spec) != 1:
        got = ", ".join(str(key) for key in spec) or "none"
        raise ScheduleError(f"a schedule mapping takes exactly one key, cron, every or at (got {got})")
    ((key, value),) = spec.items()
    examples = {"cron": "'30 2 * * *'", "every": "'6h'", "at": "'2026-12-24 18:00'"}
    if key not in examples:
        suggestion = closest(str(key), examples)
        hint = f"try '{suggestion}'; " if suggestion else ""
        raise ScheduleError(f"'{key}' is not a schedule key ({hint}use cron, every or at)")
    if not isinstance(value, str):
        raise ScheduleError(f"'{key}' needs a string such as {examples[key]} (got {value!r})")
    text = " ".join(value.split())
    if key == "cron":
        lowered = text.lower()
        if not (lowered.startswith("@") or lowered[:1].isdigit() or lowered[:1] == "*"):
            raise ScheduleError(
                f"'{text}' is not a cron expression (use 5 fields: minute hour day month weekday, "
                "e.g. '30 2 * * *')"
            )
        return _parse_cron(text)
    if key == "every":
        return _parse_every(text.lower(), shown=text, example="'6h', '90s', '1h30m' or '6 hours'")
    if not _DATE.match(text.lower()):
        raise ScheduleError(
            f"'{text}' is not a date and time (use YYYY-MM-DD HH:MM, e.g. '2026-12-24 18:00')"
        )
    return _parse_once(text)


# --- cron -----------------------------------------------------------------------------------------
#
# croniter is the cron engine: it says what each field means (names, ranges, steps, `L`, `#`, `W`). This
# module checks the text first, to name the exact token that is wrong, and walks the calendar itself over the
# values croniter expanded (far faster than croniter's own `get_next`), applying cronie's DST rules on top.

_DAY_FIELD, _WEEKDAY_FIELD = 2, 4
_NEAREST_WEEKDAY = re.compile(r"^(?:(\d+)w|w(\d+))$")
_WEEKDAY_ABBREVIATIONS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _parse_cron(text: str) -> Schedule:
    lowered = text.lower()
    if lowered.startswith("@"):
        if lowered == "@reboot":
            raise ScheduleError(
                f"'@reboot' is not supported (taskctl schedules are times; use {_MACRO_LIST})"
            )
        if lowered not in _MACROS:
            suggestion = closest(lowered, _MACROS)
            hint = f"try '{suggestion}'" if suggestion else f"use {_MACRO_LIST}"
            raise ScheduleError(f"'{text}' is not a cron macro ({hint})")
        return Schedule(lowered, "cron", _cron_rule(_MACROS[lowered], shown=text))
    fields = lowered.split()
    if len(fields) != 5:
        raise ScheduleError(f"'{text}' has {len(fields)} fields; {_CRON_SHAPE}")
    # `?` (Quartz's "no specific value") is croniter's `*`; it counts as a star for the day rule too.
    for index in (_DAY_FIELD, _WEEKDAY_FIELD):
        if fields[index] == "?":
            fields[index] = "*"
    return Schedule(" ".join(fields), "cron", _cron_rule(" ".join(fields), shown=text))


def _cron_rule(expression: str, shown: str) -> _Cron:
    parts = expression.split()
    checked = [_checked_field(part, spec, shown) for part, spec in zip(parts, _FIELDS, strict=True)]
    try:
        (minutes, _), (hours, _), (days, _), (months, _), (weekdays, nth) = (
            _expanded(index, text) for index, text in enumerate(checked)
        )
    except ValueError as error:  # a combination the checks let through: croniter's own reason
        raise _cron_error(shown, str(error)) from None
    day_values = tuple(sorted(day for day in days if isinstance(day, int)))
    nearest = day_values[0] if _NEAREST_WEEKDAY.match(checked[_DAY_FIELD]) else None
    days_star, weekdays_star = parts[_DAY_FIELD].startswith("*"), parts[_WEEKDAY_FIELD].startswith("*")
    minute_values, hour_values = _all_values(minutes, _FIELDS[0]), _all_values(hours, _FIELDS[1])
    rule = _Cron(
        minutes=minute_values,
        hours=hour_values,
        months=_all_values(months, _FIELDS[3]),
        days=() if nearest is not None else day_values,
        last_day="l" in days,
        nearest_weekday=nearest,
        weekdays=frozenset(() if nth else _all_values(weekdays, _FIELDS[4])),
        nth_weekdays=nth,
        any_day=days == ("*",),
        any_weekday=weekdays == ("*",) and not nth,
        # croniter keeps `#`, `L` weekdays and `W` days as a condition on the other day field (AND), so that
        # `30 23 1-7 jan mon-fri#1` is the first working day of January.
        days_or_weekdays=not days_star and not weekdays_star and not nth and nearest is None,
        fixed_time=not parts[0].startswith("*") and not parts[1].startswith("*"),
        times=tuple(sorted(h * 3600 + m * 60 for h in hour_values for m in minute_values)),
    )
    _check_fires(rule, shown)
    return rule


def _checked_field(part: str, spec: _Field, shown: str) -> str:
    """`part` with names and single-value ranges resolved, for croniter; raises naming the bad token."""
    items = part.split(",")
    checked: list[str] = []
    nth_items = 0
    for item in items:
        if spec.name == "day of month" and item == "l":
            checked.append("l")
            continue
        nearest = _NEAREST_WEEKDAY.match(item) if spec.name == "day of month" else None
        if nearest:
            if len(items) > 1:
                raise _cron_error(shown, f"'{item}' stands alone in the day of month (e.g. 15W, no list)")
            checked.append(f"{_field_value(nearest[1] or nearest[2], spec, shown)}w")
            continue
        if spec.name == "weekday" and ("#" in item or (item.startswith("l") and len(item) > 1)):
            checked.extend(_nth_weekday(item, spec, shown))
            nth_items += 1
            continue
        checked.append(_plain_item(item, spec, shown))
    if nth_items and nth_items != len(items):
        raise _cron_error(
            shown, f"weekday '{part}' mixes plain days with # or L days (use one kind, e.g. fri#1,fri#3)"
        )
    return ",".join(checked)


def _plain_item(item: str, spec: _Field, shown: str) -> str:
    body, slash, step_text = item.partition("/")
    step = ""
    if slash:
        if not step_text.isdigit():
            raise _cron_error(shown, f"'{item}' has no valid step (use e.g. */15)")
        if int(step_text) < 1:
            raise _cron_error(shown, f"{spec.name} step must be at least 1")
        step = f"/{int(step_text)}"
    if body == "*":
        return "*" + step
    if "-" in body:
        low, high = _field_range(body, spec, shown)
        # croniter reads an equal range (`5-5`, `jan-jan`) as the whole cycle; cron means the one value.
        return str(low) if low == high else f"{low}-{high}{step}"
    return f"{_field_value(body, spec, shown)}{step}"


def _field_range(body: str, spec: _Field, shown: str) -> tuple[int, int]:
    start, _, end = body.partition("-")
    low, high = _field_value(start, spec, shown), _field_value(end, spec, shown)
    if spec.name == "weekday" and high == 0 and low > 0:
        high = 7  # `fri-sun`
    if low > high:
        raise _cron_error(shown, f"{spec.name} range {start}-{end} runs backwards")
    return low, high


def _nth_weekday(item: str, spec: _Field, shown: str) -> list[str]:
    """`fri#3` (the third Friday), `mon-fri#1` (the first Monday, ..., Friday) or `L5` (the last Friday)."""
    if not item.startswith("l"):
        body, _, nth = item.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise _cron_error(
                shown, f"'{item}' needs #1 to #5 after the weekday (e.g. fri#3, the third Friday)"
            )
        low, high = _field_range(body, spec, shown) if "-" in body else (_field_value(body, spec, shown),) * 2
        return [f"{day % 7}#{int(nth)}" for day in range(low, high + 1)]
    return [f"l{_field_value(item[1:], spec, shown) % 7}"]


def _field_value(token: str, spec: _Field, shown: str) -> int:
    if token in spec.names:
        return spec.names[token]
    if not token.isdigit():
        raise _cron_error(shown, f"'{token}' is not a {spec.name} (use {spec.hint})")
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise _cron_error(shown, f"{spec.name} {value} is out of range ({spec.low}-{spec.high})")
    return value


def _cron_error(shown: str, reason: str) -> ScheduleError:
    return ScheduleError(f"'{shown}' is not valid cron: {reason}")


_Expansion = tuple[tuple[int | str, ...], tuple[tuple[int, int], ...]]


@lru_cache(maxsize=4096)
def _expanded(index: int, field_text: str) -> _Expansion:
    """croniter's reading of one checked field: its values (`*` for all, `l` for the last day) and the
    (weekday, n) pairs of `#`/`L` weekdays. Cached per field: configs repeat the same few fields."""
    # `*`, numbers and ranges read the same everywhere (weekday 7 is Sunday, 0): answering them here spares
    # most configs (`30 2 * * *`, `0 9 * * 1-5`, `daily at 06:00`) croniter's ~30 ms import.
    if field_text == "*":
        return ("*",), ()
    numbers = _plain_numbers(index, field_text)
    if numbers is not None:
        return numbers, ()
    from croniter import croniter

    fields = ["*"] * 5
    fields[index] = field_text
    expanded, nth = croniter.expand(" ".join(fields))  # raises CroniterError, a ValueError
    pairs = tuple(sorted((day, -1 if n == "l" else n) for day, ns in nth.items() for n in ns))
    return tuple(expanded[index]), pairs


_NUMBER_LIST = re.compile(r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$")


def _plain_numbers(index: int, field_text: str) -> tuple[int, ...] | None:
    """What croniter makes of numbers and increasing ranges (`5`, `1-5`, `0,30`, `mon-fri` once checked):
    the sorted values (weekday 7 is Sunday, 0). None for anything else, and for a field that names every
    value (croniter says `*` there), so that croniter answers those."""
    if not _NUMBER_LIST.match(field_text):
        return None
    spec = _FIELDS[index]
    values: set[int] = set()
    for item in field_text.split(","):
        first, _, last = item.partition("-")
        low, high = int(first), int(last or first)
        if not spec.low <= low <= high <= spec.high or (last and low == high):
            return None
        values.update(range(low, high + 1))
    if index == _WEEKDAY_FIELD:
        values = {value % 7 for value in values}
    every = range(spec.low, 7 if index == _WEEKDAY_FIELD else spec.high + 1)
    return None if values.issuperset(every) else tuple(sorted(values))


def _all_values(values: tuple[int | str, ...], spec: _Field) -> tuple[int, ...]:
    if values == ("*",):
        return tuple(range(spec.low, 7 if spec.name == "weekday" else spec.high + 1))
    return tuple(sorted(value for value in values if isinstance(value, int)))


def _days_in(rule: _Cron, year: int, month: int) -> list[int]:
    """The days of `month` that match the rule's day-of-month and weekday fields, in order."""
    monday_first, length = calendar.monthrange(year, month)
    first = (monday_first + 1) % 7  # cron counts weekdays from Sunday = 0
    if rule.every_day:
        return list(range(1, length + 1))
    by_day: set[int] | None = None
    if not rule.any_day:
        by_day = {day for day in rule.days if day <= length}
        if rule.last_day:
            by_day.add(length)
        if rule.nearest_weekday is not None:
            by_day.add(_nearest_weekday(min(rule.nearest_weekday, length), first, length))
    by_weekday: set[int] | None = None
    if rule.nth_weekdays:
        by_weekday = set()
        for weekday, nth in rule.nth_weekdays:
            earliest = 1 + (weekday - first) % 7
            day = earliest + 7 * ((length - earliest) // 7) if nth < 0 else earliest + 7 * (nth - 1)
            if day <= length:
                by_weekday.add(day)
    elif not rule.any_weekday:
        by_weekday = {
            day for weekday in rule.weekdays for day in range(1 + (weekday - first) % 7, length + 1, 7)
        }
    if by_day is None:
        return sorted(by_weekday or ())
    if by_weekday is None:
        return sorted(by_day)
    return sorted(by_day | by_weekday if rule.days_or_weekdays else by_day & by_weekday)


def _nearest_weekday(day: int, first: int, length: int) -> int:
    """The Monday-Friday nearest to `day` without leaving the month (croniter's `W`)."""
    weekday = (first + day - 1) % 7
    if weekday == 6:  # Saturday: the Friday before, or the Monday after when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 0:  # Sunday: the Monday after, or the Friday before when it ends the month
        return day + 1 if day < length else day - 2
    return day


def _check_fires(rule: _Cron, shown: str) -> None:
    """Reject a rule with no day to fire on in any month (`0 0 31 2 *`)."""
    if rule.days_or_weekdays or rule.every_day:
        return
    if rule.any_weekday and not rule.last_day and rule.nearest_weekday is None:
        _check_days_exist(set(rule.days), set(rule.months), shown)
        return
    # Month lengths and the weekdays they start on repeat within 28 years of this century.
    if any(_days_in(rule, year, month) for year in range(2000, 2028) for month in rule.months):
        return
    raise ScheduleError(f"'{shown}' can never fire (no day matches both its day of month and its weekday)")


def _check_days_exist(days: set[int], months: set[int], shown: str) -> None:
    longest = {month: calendar.monthrange(2000, month)[1] for month in months}  # 2000: February has 29
    if any(day <= longest[month] for day in days for month in months):
        return
    names = [calendar.month_name[month] for month in sorted(months)]
    who = names[0] + " has" if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]} have"
    numbers = [str(day) for day in sorted(days)]
    which = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + f" or {numbers[-1]}"
    raise ScheduleError(f"'{shown}' can never fire ({who} no day {which})")


# --- phrases --------------------------------------------------------------------------------------

_AT = re.compile(r"^([a-z]+) at (\S+)$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_SHOWN_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _parse_phrase_or_suggest(text: str) -> Schedule:
    """Parse a phrase; if it fails and fixing misspelt words makes it parse, suggest the fixed phrase."""
    try:
        return _parse_phrase(text)
    except ScheduleError as error:
        words = text.lower().split()
        fixed = [word if _known_word(word) else closest(word, _SUGGESTIONS) or word for word in words]
        if fixed != words:
            try:
                _parse_phrase(" ".join(fixed))
            except ScheduleError:
                raise error from None
            raise ScheduleError(f"'{text}' is not a schedule (try '{' '.join(fixed)}')") from None
        raise


def _known_word(word: str) -> bool:
    return word in _VOCABULARY or any(char.isdigit() for char in word)


def _parse_phrase(text: str) -> Schedule:
    lowered = text.lower()
    if lowered == "hourly":
        return Schedule("hourly", "cron", _cron_rule("0 * * * *", text))
    if lowered == "daily":
        return Schedule("daily", "cron", _cron_rule("0 0 * * *", text))
    if lowered.startswith("every "):
        body = lowered.removeprefix("every ")
        at = _AT.match(body)
        if at and (at[1] == "day" or at[1] in _DAY_WORDS):
            better = "daily" if at[1] == "day" else _WEEKDAYS[_DAY_WORDS[at[1]]]
            raise ScheduleError(f"'{text}' is not a schedule (try '{better} at {at[2]}')")
        return _parse_every(body, shown=text, example="'every 6 hours', 'every 90s' or 'every 1h30m'")
    at = _AT.match(lowered)
    if at is None:
        raise ScheduleError(f"'{text}' is not a schedule (use e.g. {_EXAMPLES})")
    days, when = at.groups()
    hour, minute = _time_of_day(when)
    clock = f"{hour:02d}:{minute:02d}"
    if days == "daily":
        name, weekdays = "daily", "*"
    elif days == "weekdays":
        name, weekdays = "weekdays", "1-5"
    elif days == "weekends":
        name, weekdays = "weekends", "0,6"
    elif days in _DAY_WORDS:
        name, weekdays = _WEEKDAYS[_DAY_WORDS[days]], str(_DAY_WORDS[days])
    else:
        raise ScheduleError(f"'{text}' is not a schedule (use e.g. {_EXAMPLES})")
    return Schedule(f"{name} at {clock}", "cron", _cron_rule(f"{minute} {hour} * * {weekdays}", text))


def _time_of_day(text: str) -> tuple[int, int]:
    match = _TIME.match(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ScheduleError(f"'{text}' is not a time of day (use HH:MM, 00:00-23:59)")
    return int(match[1]), int(match[2])


def _parse_every(body: str, shown: str, example: str) -> Schedule:
    words = body.split()
    if len(words) == 1 and words[0] in _UNITS:
        seconds: float = _UNITS[words[0]]
    elif len(words) == 2 and words[1] in _UNITS and re.fullmatch(r"\d+(\.\d+)?", words[0]):
        seconds = float(words[0]) * _UNITS[words[1]]
    elif len(words) == 1 and words[0].isdigit():
        every = "every " if shown.lower().startswith("every") else ""
        raise ScheduleError(
            f"'{shown}' has no unit (write e.g. '{every}{words[0]}s' or '{every}{words[0]} minutes')"
        )
    else:
        try:
            seconds = parse_duration(body.replace(" ", ""))
        except ValueError:
            raise ScheduleError(f"'{shown}' is not a schedule (use e.g. {example})") from None
    if seconds < 1:
        raise ScheduleError(f"'{shown}' is too short (use a period of at least 1 second)")
    if seconds != int(seconds):
        raise ScheduleError(f"'{shown}' is not a whole number of seconds (use e.g. 'every 90s')")
    period = int(seconds)
    unit, size = next((unit, size) for unit, size in _SHOWN_UNITS if period % size == 0)
    count = period // size
    return Schedule(f"every {unit}" if count == 1 else f"every {count} {unit}s", "every", _Every(period))


# --- one-shots ------------------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}(?![\d:])")
_ONCE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:t| )\s*(\S+?)\s*(z|[+-]\d{2}:?\d{2})?$",
)


def _parse_once(text: str) -> Schedule:
    lowered = text.lower()
    match = _ONCE.match(lowered)
    if match is None:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", lowered):
            raise ScheduleError(f"'{text}' has no time of day (write e.g. '{text} 00:00')")
        raise ScheduleError(
            f"'{text}' is not a date and time (use YYYY-MM-DD HH:MM, e.g. '2026-12-24 18:00')"
        )
    year, month, day, clock, offset_text = match.groups()
    clock_match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", clock)
    if clock_match is None or int(clock_match[1]) > 23 or int(clock_match[2]) > 59:
        raise ScheduleError(f"'{clock}' is not a time of day (use HH:MM, 00:00-23:59)")
    second = int(clock_match[3] or 0)
    if second > 59:
        raise ScheduleError(f"'{clock}' is not a time of day (use HH:MM:SS, 00:00:00-23:59:59)")
    if not 1000 <= int(year) <= 9998:
        raise ScheduleError(f"'{text}' is out of range (use a year from 1000 to 9998)")
    if not 1 <= int(month) <= 12:
        raise ScheduleError(f"'{text}' is not a valid date (months are 01-12)")
    length = calendar.monthrange(int(year), int(month))[1]
    if not 1 <= int(day) <= length:
        month_name = calendar.month_name[int(month)]
        raise ScheduleError(f"'{text}' is not a valid date ({month_name} {year} has {length} days)")
    wall = datetime(int(year), int(month), int(day), int(clock_match[1]), int(clock_match[2]), second)
    offset = None
    if offset_text:
        offset = timedelta(0)
        if offset_text != "z":
            digits = offset_text[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                raise ScheduleError(f"'{text}' has an impossible UTC offset '{offset_text}'")
            offset = timedelta(hours=hours, minutes=minutes) * (-1 if offset_text[0] == "-" else 1)
    return Schedule(_once_text(wall, offset), "once", _Once(wall, offset))


def _once_text(wall: datetime, offset: timedelta | None) -> str:
    text = wall.strftime("%Y-%m-%d %H:%M:%S" if wall.second else "%Y-%m-%d %H:%M")
    return text if offset is None else text + _format_offset(offset)


def _format_offset(offset: timedelta) -> str:
    if not offset:
        return "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# --- zones ----------------------------------------------------------------------------------------


def check_in_zone(schedule: Schedule, zone: ZoneInfo) -> None:
    """Reject a one-shot without offset whose wall time is skipped or repeated in `zone`."""
    rule = schedule._rule
    if not isinstance(rule, _Once) or rule.offset is not None:
        return
    first, second = _both_instants(rule.wall, zone)
    if first == second:
        return
    before, after = (second, first) if first > second else (first, second)
    change = _transition(zone, before, after)
    old = (change + _offset_at(before, zone)).replace(tzinfo=None)
    new = (change + _offset_at(after, zone)).replace(tzinfo=None)
    text = schedule.text
    if first > second:  # in a gap, fold=0 reads the wall time with the earlier offset: a later instant
        raise ScheduleError(
            f"'{text}' does not exist in {zone.key} (clocks jump from {old:%H:%M} to {new:%H:%M}); "
            f"pick another time or add an offset, e.g. '{text}{_format_offset(_offset_at(before, zone))}'"
        )
    raise ScheduleError(
        f"'{text}' happens twice in {zone.key} (clocks go back from {old:%H:%M} to {new:%H:%M}); "
        f"add an offset: '{text}{_format_offset(_offset_at(before, zone))}' for the first "
        f"or '{text}{_format_offset(_offset_at(after, zone))}' for the second"
    )


def _both_instants(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """`wall` read with fold=0 and with fold=1, in UTC: equal unless the wall time is in a gap or a fold."""
    return (
        wall.replace(tzinfo=zone).astimezone(UTC),
        wall.replace(tzinfo=zone, fold=1).astimezone(UTC),
    )


def _offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant in (before, after] where the offset changes to the one at `after` (to the second)."""
    target = _offset_at(after, zone)
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _offset_at(middle, zone) == target:
            high = middle
        else:
            low = middle
    return high


# --- fire times ---------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # a day after datetime.min, so any zone can still show it
# How far `latest_fire_at_or_before` looks back, window by window; the last is 400 Gregorian years.
_LOOK_BACK = (
    timedelta(minutes=10),
    timedelta(hours=6),
    timedelta(days=8),
    timedelta(days=400),
    timedelta(days=3000),
    timedelta(days=146097),
)
_RANK = {DstNote.SHIFTED: 0, None: 1, DstNote.DEDUPLICATED: 2, DstNote.REPEATED: 3}
_NOTES: dict[int, DstNote | None] = {rank: note for note, rank in _RANK.items()}


def next_fire_after(schedule: Schedule, zone: ZoneInfo, moment: datetime) -> datetime | None:
    """The first instant after `moment` (aware) at which `schedule` fires, in UTC, or None if never again."""
    fire = next(fires(schedule, zone, moment), None)
    return None if fire is None else fire.at


def fires(schedule: Schedule, zone: ZoneInfo, after: datetime) -> Iterator[Fire]:
    """Every fire strictly after `after` (aware), in increasing UTC order, each with its DST note if any."""
    _require_aware(after)
    after = after.astimezone(UTC)
    rule = schedule._rule
    if isinstance(rule, _Once):
        at = _once_instant(rule, zone)
        if at > after:
            yield Fire(at)
    elif isinstance(rule, _Every):
        yield from _every_fires(rule, zone, after)
    else:
        yield from _cron_fires(rule, zone, after)


def fires_between(schedule: Schedule, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[Fire]:
    """The fires in (start, end]: the slots a daemon missed between two looks at the clock."""
    _require_aware(end)
    return takewhile(lambda fire: fire.at <= end, fires(schedule, zone, start))


def latest_fire_at_or_before(schedule: Schedule, zone: ZoneInfo, moment: datetime) -> Fire | None:
    """The last fire at or before `moment` (aware), or None if the schedule never fired by then."""
    _require_aware(moment)
    moment = moment.astimezone(UTC)
    rule = schedule._rule
    if isinstance(rule, _Once):
        at = _once_instant(rule, zone)
        return Fire(at) if at <= moment else None
    if isinstance(rule, _Every):
        period = timedelta(seconds=rule.seconds)
        at = _EPOCH + (moment - _EPOCH) // period * period
        return Fire(at, _repeated_note(at, zone))
    # Look back through growing windows: a minutely cron is found in the first, a yearly one in the fourth,
    # a leap-day one in the fifth; a cron that can fire at all does so within 400 years.
    for window in _LOOK_BACK:
        start = moment - window if moment - _EARLIEST > window else _EARLIEST
        found = _last_fire_in(schedule, zone, start, moment)
        if found is not None or start == _EARLIEST:
            return found
    return None


def count_fires_between(schedule: Schedule, zone: ZoneInfo, start: datetime, end: datetime) -> int:
    """How many fires `fires_between` yields for (start, end], counted without walking them one by one.

    A minutely cron over 30 days costs about what it costs over an hour: whole days are counted from the
    rule's times, and only the clock changes in between are looked at closely.
    """
    _require_aware(start)
    _require_aware(end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return 0
    rule = schedule._rule
    if isinstance(rule, _Once):
        return int(start < _once_instant(rule, zone) <= end)
    if isinstance(rule, _Every):
        period = timedelta(seconds=rule.seconds)
        return (end - _EPOCH) // period - (start - _EPOCH) // period
    return _cron_count(rule, zone, start, end)


def last_fires_between(
    schedule: Schedule, zone: ZoneInfo, start: datetime, end: datetime, limit: int
) -> list[Fire]:
    """The last `limit` fires in (start, end], oldest first, without walking the fires before them."""
    _require_aware(start)
    _require_aware(end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    window = timedelta(minutes=limit)
    while True:  # widen a window back from `end` until it holds `limit` fires (counting is cheap)
        begin = max(start, end - window)
        if begin == start or count_fires_between(schedule, zone, begin, end) >= limit:
            return list(fires_between(schedule, zone, begin, end))[-limit:]
        window *= 4


def _last_fire_in(schedule: Schedule, zone: ZoneInfo, start: datetime, end: datetime) -> Fire | None:
    last = deque(fires_between(schedule, zone, start, end), maxlen=1)
    return last[0] if last else None


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is a naive datetime; schedule functions take aware datetimes")


def _once_instant(rule: _Once, zone: ZoneInfo) -> datetime:
    if rule.offset is not None:
        return rule.wall.replace(tzinfo=timezone(rule.offset)).astimezone(UTC)
    return rule.wall.replace(tzinfo=zone).astimezone(UTC)


def _repeated_note(at: datetime, zone: ZoneInfo) -> DstNote | None:
    return DstNote.REPEATED if at.astimezone(zone).fold else None


def _every_fires(rule: _Every, zone: ZoneInfo, after: datetime) -> Iterator[Fire]:
    period = timedelta(seconds=rule.seconds)
    try:
        at = _EPOCH + ((after - _EPOCH) // period + 1) * period
        while True:
            yield Fire(at, _repeated_note(at, zone))
            at += period
    except OverflowError:  # the end of datetime's calendar, in year 9999
        return


def _cron_fires(rule: _Cron, zone: ZoneInfo, after: datetime) -> Iterator[Fire]:
    try:
        start = _earliest_wall_time(zone, after)
    except OverflowError:  # `after` is at the very end of datetime's calendar
        return
    last = None
    for at, rank in _cron_instants(rule, zone, start):
        if at > after and at != last:  # slots collapsed onto the end of a gap fire once
            last = at
            yield Fire(at, _NOTES[rank])


_TICK = timedelta(
    microseconds=1
)  # slots fall on whole seconds; `x - _TICK` turns "before x" into "at or before"


def _cron_count(rule: _Cron, zone: ZoneInfo, start: datetime, end: datetime) -> int:
    """The number of fires of a cron in (start, end]: wall-clock slots between the clock changes, then
    cronie's rules at each change (a fixed time skipped by a gap runs once after it; a fixed time in the
    second pass of a repeated hour does not run; wildcard slots simply follow the real instants)."""
    changes = _offset_changes(zone, start - timedelta(days=1), end)
    total, low, offset = 0, start, _offset_at(start, zone)
    for at, _, new in changes:
        if start < at <= end:  # the stretch before `at` has one offset, the one from `at` on the next
            total += _count_walls(rule, low + offset, at - _TICK + offset)
            low, offset = at - _TICK, new
    total += _count_walls(rule, low + offset, end + offset)
    if not rule.fixed_time:
        return total
    for at, old, new in changes:
        if new > old and start < at <= end:
            skipped = _count_walls(rule, at - _TICK + old, at - _TICK + new)
            if skipped and not _count_walls(rule, at - _TICK + new, at + new):
                total += 1  # the skipped slots run once, at the end of the gap (unless a slot is there)
        elif new < old:
            first, last = max(start, at - _TICK), min(end, at + (old - new) - _TICK)
            if first < last:
                total -= _count_walls(rule, first + new, last + new)  # second pass: already ran
    return total


def _count_walls(rule: _Cron, low: datetime, high: datetime) -> int:
    """How many slots of `rule` have a wall time in (low, high] (aware datetimes read as naive walls)."""
    if high <= low:
        return 0
    low_day, high_day = low.toordinal(), high.toordinal()
    low_second = low.hour * 3600 + low.minute * 60 + low.second + low.microsecond / 1e6
    high_second = high.hour * 3600 + high.minute * 60 + high.second + high.microsecond / 1e6
    times = rule.times
    total = 0
    year, month = low.year, low.month
    while (year, month) <= (high.year, high.month):
        if month in rule.months:
            days = _days_in(rule, year, month)
            before_first = datetime(year, month, 1).toordinal() - 1
            first = bisect_left(days, low_day - before_first)
            last = bisect_right(days, high_day - before_first)
            if first < last:
                total += (last - first) * len(times)
                if days[first] + before_first == low_day:  # the first day counts from `low` on
                    total -= bisect_right(times, low_second)
                if days[last - 1] + before_first == high_day:  # the last day counts up to `high`
                    total -= len(times) - bisect_right(times, high_second)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return total


def _offset_changes(
    zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, timedelta, timedelta]]:
    """The instants in (start, end] where the zone's UTC offset changes, with the offsets before and after."""
    return [
        change
        for year in range(start.year, end.year + 1)
        for change in _offset_changes_in(zone, year)
        if start < change[0] <= end
    ]


@lru_cache(maxsize=4096)
def _offset_changes_in(zone: ZoneInfo, year: int) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """The offset changes of `zone` that start in a UTC year, each found by bisecting a 3-day step whose ends
    differ. Between 1900 and 2100 no zone in tzdata changes its offset twice within 3.9 days."""
    found = []
    try:
        day = datetime(year, 1, 1, tzinfo=UTC)
        end = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else datetime(9999, 12, 31, tzinfo=UTC)
        offset = _offset_at(day, zone)
        while day < end:
            later = min(day + _CHANGE_STEP, end)
            later_offset = _offset_at(later, zone)
            if later_offset != offset:
                found.append((_transition(zone, day, later), offset, later_offset))
            day, offset = later, later_offset
    except OverflowError:  # the ends of datetime's calendar
        pass
    return tuple(found)


_CHANGE_STEP = timedelta(days=3)


def _cron_instants(rule: _Cron, zone: ZoneInfo, start: datetime) -> Iterator[tuple[datetime, int]]:
    """Walk matching wall-clock slots in order and turn each into its real instants (cronie's DST rules).

    Wall-clock order is not UTC order inside a fold (second occurrences come later), so instants wait in a
    heap until no later slot can produce an earlier one: a slot's instants are never earlier than the first
    instant whose wall time reaches it, and that bound only grows with the slot.
    """
    pending: list[tuple[datetime, int]] = []
    for first, second in _both_instants_of(_cron_walls(rule, start), zone):
        bound = min(first, second)
        while pending and pending[0][0] < bound:
            yield heapq.heappop(pending)
        if first == second:
            heapq.heappush(pending, (first, _RANK[None]))
        elif first < second:  # a repeated wall time: fold=0 is the first occurrence
            if rule.fixed_time:
                heapq.heappush(pending, (first, _RANK[DstNote.DEDUPLICATED]))
            else:
                heapq.heappush(pending, (first, _RANK[None]))
                heapq.heappush(pending, (second, _RANK[DstNote.REPEATED]))
        elif rule.fixed_time:  # a skipped wall time: runs once, when the clocks have jumped
            heapq.heappush(pending, (_transition(zone, second, first), _RANK[DstNote.SHIFTED]))
    while pending:
        yield heapq.heappop(pending)


def _both_instants_of(walls: Iterator[datetime], zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    """`_both_instants` of each wall time (naive, in order). Once a year has more than a few slots, they are
    read from the zone's offset changes around it: a subtraction per slot instead of two conversions."""
    year, seen = 0, 0
    table: tuple[tuple[datetime, ...], tuple[datetime, ...], _Changes, timedelta] | None = None
    try:
        for wall in walls:
            if wall.year != year:
                year, seen, table = wall.year, 0, None
            seen += 1
            if table is None:
                yield _both_instants(wall, zone)
                if seen == _SLOTS_BEFORE_TABLE:  # a busy year: worth learning its changes
                    table = _wall_changes(zone, year)
                continue
            starts, ends, changes, before = table
            index = bisect_right(starts, wall) - 1
            if index < 0:
                at = (wall - before).replace(tzinfo=UTC)
                yield at, at
            elif wall < ends[index]:  # in a gap or a fold: fold=0 reads the old offset, fold=1 the new
                _, old, new = changes[index]
                yield (wall - old).replace(tzinfo=UTC), (wall - new).replace(tzinfo=UTC)
            else:
                at = (wall - changes[index][2]).replace(tzinfo=UTC)
                yield at, at
    except OverflowError:  # the end of datetime's calendar, in year 9999
        return


_SLOTS_BEFORE_TABLE = 32


_Changes = tuple[tuple[datetime, timedelta, timedelta], ...]


@lru_cache(maxsize=1024)
def _wall_changes(
    zone: ZoneInfo, year: int
) -> tuple[tuple[datetime, ...], tuple[datetime, ...], _Changes, timedelta]:
    """For wall times in `year`: where each offset change's skipped or repeated stretch starts and ends on the
    wall clock, the changes (instant, old offset, new offset), and the offset before the first of them."""
    changes = tuple(
        change
        for near in range(max(1, year - 1), min(9999, year + 1) + 1)
        for change in _offset_changes_in(zone, near)
    )
    starts = tuple((at + min(old, new)).replace(tzinfo=None) for at, old, new in changes)
    ends = tuple((at + max(old, new)).replace(tzinfo=None) for at, old, new in changes)
    before = changes[0][1] if changes else _offset_at(datetime(year, 7, 1, tzinfo=UTC), zone)
    return starts, ends, changes, before


def _earliest_wall_time(zone: ZoneInfo, after: datetime) -> datetime:
    """A wall time no later than that of any instant after `after` (the clock may go back within a day)."""
    now = after.astimezone(zone).replace(tzinfo=None, fold=0)
    try:
        tomorrow = (after + timedelta(days=1)).astimezone(zone).replace(tzinfo=None, fold=0)
    except OverflowError:
        return now
    return min(now, tomorrow - timedelta(days=1))


def _cron_walls(rule: _Cron, start: datetime) -> Iterator[datetime]:
    """Every wall time at or after `start` (naive) that matches `rule`, jumping month by month."""
    first_day = start.date()
    from_second = start.hour * 3600 + start.minute * 60 + start.second + (1 if start.microsecond else 0)
    for year in range(first_day.year, 10000):
        for month in rule.months:
            if (year, month) < (first_day.year, first_day.month):
                continue
            first_month = (year, month) == (first_day.year, first_day.month)
            for day in _days_in(rule, year, month):
                if first_month and day <= first_day.day:
                    if day < first_day.day:
                        continue
                    for seconds in rule.times[bisect_left(rule.times, from_second) :]:
                        yield datetime(year, month, day, seconds // 3600, seconds // 60 % 60)
                    continue
                for seconds in rule.times:
                    yield datetime(year, month, day, seconds // 3600, seconds // 60 % 60)


# Names the rest of the package may rely on.
__all__ = [
    "DstNote",
    "Fire",
    "Schedule",
    "ScheduleError",
    "check_in_zone",
    "count_fires_between",
    "fires",
    "fires_between",
    "last_fires_between",
    "latest_fire_at_or_before",
    "next_fire_after",
    "parse_schedule",
]
