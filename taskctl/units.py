"""Durations (`90s`, `1h30m`, `2d`), sizes (`50MB`) and `--since` moments as users write them in YAML and
on the command line."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration such as `90s`, `10m`, `2h`, `1d` or `1h30m`; a bare number is seconds.

    Raises ValueError with a message that says what would be valid.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"{text!r} is not a duration: it must not be negative")
        return float(text)
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    parts = _DURATION_PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"'{text}' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def parse_size(text: str | int) -> int:
    """Bytes in a size such as `50MB`, `512k` or `1GiB` (powers of 1024); a bare number is bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text!r} is not a size: it must not be negative")
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a size (use e.g. 50MB, 512KB, 1GB)")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "b")[0].lower()])


def format_duration(seconds: float | None) -> str:
    """A short human form: `0.4s`, `12s`, `3m05s`, `2h00m`, `3d4h`."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def format_size(count: int) -> str:
    """A short human form of a byte count: `512 B`, `3.4 KB`, `812.4 MB`, `2.1 GB` (powers of 1024)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parse_since(text: str, now: datetime, zone: Callable[[], ZoneInfo]) -> datetime:
    """The instant (aware, UTC) that `--since TEXT` means: a duration back from `now` (`12h`, `7d`), or a date
    (`2026-11-20`, its midnight) or date and time (`2026-11-20 14:00`, `2026-11-20T14:00:30`) on the wall
    clock of `zone()` (asked only then), unless written with an offset or `Z`. Raises ValueError saying what
    would be valid."""
    cleaned = text.strip()
    if not _DATE_START.match(cleaned):
        try:
            return now - timedelta(seconds=parse_duration(cleaned))
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"'{text}' is neither a duration (12h, 7d, 2w) nor a date (2026-11-20) or date and time "
            "(2026-11-20 14:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone())
    return moment.astimezone(UTC)
