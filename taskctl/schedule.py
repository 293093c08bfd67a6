"""Schedule phrases and cron -> next fire times. Pure functions of (schedule, zone, moment).

INTERFACE STUB: being implemented on the `schedule` branch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class ScheduleError(ValueError):
    """A schedule that cannot be parsed or can never fire; str() is the user-facing message."""


class DstNote(StrEnum):
    SHIFTED = "shifted"  # the wall-clock slot fell in a skipped hour and runs right after the gap
    DEDUPLICATED = "deduplicated"  # the slot fell in a repeated hour and runs on its first occurrence only
    REPEATED = "repeated"  # a wildcard/stepped slot that runs again in the repeated hour


@dataclass(frozen=True)
class Fire:
    at: datetime  # aware, UTC
    note: DstNote | None = None


@dataclass(frozen=True)
class Schedule:
    text: str  # canonical display text, e.g. "daily at 10:30", "30 2 * * *", "every 6 hours"
    kind: str  # "cron" | "every" | "once"


def parse_schedule(spec: str | Mapping[str, Any]) -> Schedule:
    raise NotImplementedError


def check_in_zone(schedule: Schedule, zone: ZoneInfo) -> None:
    raise NotImplementedError


def next_fire_after(schedule: Schedule, zone: ZoneInfo, moment: datetime) -> datetime | None:
    raise NotImplementedError


def fires(schedule: Schedule, zone: ZoneInfo, after: datetime) -> Iterator[Fire]:
    raise NotImplementedError
