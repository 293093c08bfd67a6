"""The only place that reads wall time. Everything else takes a `Clock` (or a moment) as a parameter."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for measuring durations."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock for tests: it moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta | float) -> None:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, moment: datetime) -> None:
        """Step the wall clock (as NTP or a user might); the monotonic clock does not go back."""
        moment = moment.astimezone(UTC)
        self._mono += max(0.0, (moment - self._now).total_seconds())
        self._now = moment


SYSTEM_CLOCK = SystemClock()


def machine_zone_name() -> str:
    """The IANA name of this machine's zone ($TZ, /etc/timezone, /etc/localtime), or 'UTC' if unknown."""
    import os
    from pathlib import Path

    tz = os.environ.get("TZ", "").lstrip(":")
    if (tz and "/" in tz) or tz == "UTC":
        return tz
    etc_timezone = Path("/etc/timezone")
    if etc_timezone.is_file():
        name = etc_timezone.read_text(encoding="utf-8").strip()
        if name:
            return name
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        marker = "/zoneinfo/"
        if marker in target:
            return target.split(marker, 1)[1]
    return "UTC"
