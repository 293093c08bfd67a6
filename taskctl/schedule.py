"""Schedule phrases and cron -> next fire times. Pure functions of (schedule, zone, moment).

Forms (DESIGN §2): 5-field cron and `@` macros, `every N unit`, `hourly`, `daily [at HH:MM]`,
`weekdays|weekends|<weekday> at HH:MM`, one-shot `YYYY-MM-DD HH:MM[:SS][offset]`, and the mappings
`{cron: ...}`, `{every: ...}`, `{at: ...}`.

Time rules (DESIGN §3, cronie's DST semantics): cron and phrases are evaluated on the wall clock of `zone`.
A *fixed-time* cron (neither minute nor hour starts with `*`) whose slot falls in a skipped stretch runs
once at the first real instant after it, and a slot in a repeated stretch runs on its first occurrence only;
a *wildcard* cron runs at every real instant that matches, so it skips the gap and runs twice in the repeat.
`every` is elapsed time anchored to the Unix epoch in UTC. Gaps and folds are found with zoneinfo itself
(`fold=0` and `fold=1` disagree), never assumed to be one hour long or at 02:00.
"""

from __future__ import annotations

import calendar
import heapq
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from itertools import takewhile
from typing import Any
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


@dataclass(frozen=True)
class Fire:
    """One fire time of a schedule, and why it is unusual if a clock change moved or repeated it."""

    at: datetime  # aware, UTC
    note: DstNote | None = None


@dataclass(frozen=True)
class _Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]  # day of month, 1-31
    months: tuple[int, ...]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    days_or_weekdays: bool  # both day fields restricted: a day matches either (cron's OR rule)
    fixed_time: bool  # neither minute nor hour starts with `*` (cronie's MIN_STAR/HR_STAR rule)
    times: tuple[int, ...]  # seconds after local midnight of every slot, sorted


@dataclass(frozen=True)
class _Every:
    seconds: int


@dataclass(frozen=True)
class _Once:
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


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: Mapping[str, int]
    hint: str


_FIELDS = (
    _Field("minute", 0, 59, {}, "0-59"),
    _Field("hour", 0, 23, {}, "0-23"),
    _Field("day of month", 1, 31, {}, "1-31"),
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
    text = " ".join(spec.split())
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
    return Schedule(lowered, "cron", _cron_rule(lowered, shown=text))


def _cron_rule(expression: str, shown: str) -> _Cron:
    parts = expression.split()
    values = [_parse_field(part, spec, shown) for part, spec in zip(parts, _FIELDS, strict=True)]
    minutes, hours, days, months, weekdays = values
    weekdays = {0 if day == 7 else day for day in weekdays}
    days_star, weekdays_star = parts[2].startswith("*"), parts[4].startswith("*")
    if not days_star and weekdays_star:
        _check_days_exist(days, months, shown)
    return _Cron(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=tuple(sorted(months)),
        weekdays=frozenset(weekdays),
        days_or_weekdays=not days_star and not weekdays_star,
        fixed_time=not parts[0].startswith("*") and not parts[1].startswith("*"),
        times=tuple(sorted(h * 3600 + m * 60 for h in hours for m in minutes)),
    )


def _parse_field(part: str, spec: _Field, shown: str) -> set[int]:
    values: set[int] = set()
    for item in part.split(","):
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit():
                raise _cron_error(shown, f"'{item}' has no valid step (use e.g. */15)")
            step = int(step_text)
            if step < 1:
                raise _cron_error(shown, f"{spec.name} step must be at least 1")
        if body == "*":
            low, high = spec.low, spec.high
            if spec.name == "weekday":
                high = 6  # `*` covers each day once; 7 is only an alias of Sunday
        elif "-" in body:
            start, _, end = body.partition("-")
            low, high = _field_value(start, spec, shown), _field_value(end, spec, shown)
            if spec.name == "weekday" and high == 0 and low > 0:
                high = 7  # `fri-sun`
            if low > high:
                raise _cron_error(shown, f"{spec.name} range {start}-{end} runs backwards")
        else:
            low = _field_value(body, spec, shown)
            high = spec.high if slash else low  # `5/15` means 5-59/15
        values.update(range(low, high + 1, step))
    return values


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
    """Reject a one-shot without offset whose wall time is skipped or repeated in `zone` (DESIGN §3)."""
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
    try:
        for wall in walls:
            yield _both_instants(wall, zone)
    except OverflowError:  # the end of datetime's calendar, in year 9999
        return


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
            begin = first_day.day if first_month else 1
            weekday = (date(year, month, begin).weekday() + 1) % 7  # cron counts from Sunday = 0
            for day in range(begin, calendar.monthrange(year, month)[1] + 1):
                in_days, in_weekdays = day in rule.days, (weekday + day - begin) % 7 in rule.weekdays
                if (in_days or in_weekdays) if rule.days_or_weekdays else (in_days and in_weekdays):
                    skip = bisect_left(rule.times, from_second) if first_month and day == begin else 0
                    for seconds in rule.times[skip:]:
                        yield datetime(year, month, day, seconds // 3600, seconds // 60 % 60)


# Names the rest of the package may rely on.
__all__ = [
    "DstNote",
    "Fire",
    "Schedule",
    "ScheduleError",
    "check_in_zone",
    "fires",
    "fires_between",
    "latest_fire_at_or_before",
    "next_fire_after",
    "parse_schedule",
]
