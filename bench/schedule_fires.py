"""Figures for taskctl.schedule: parsing and next fire times at the scale of the config bench.

Run: python bench/schedule_fires.py   (prints figures; asserts nothing)
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from zoneinfo import ZoneInfo

from taskctl.schedule import (
    Schedule,
    check_in_zone,
    count_fires_between,
    fires,
    latest_fire_at_or_before,
    next_fire_after,
    parse_schedule,
)

ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 20, 12, 0, 7, tzinfo=UTC)
KINDS = [
    "{m} {h} * * *",
    "every {n} minutes",
    "daily at {h:02d}:{m:02d}",
    "monday at {h:02d}:{m:02d}",
    "*/15 * * * *",
    "0 0 29 2 *",
    "2027-12-24 {h:02d}:{m:02d}",
]


def timed(label: str, work: Callable[[], int]) -> None:
    start = time.perf_counter()
    count = work()
    print(f"{label:58} {1000 * (time.perf_counter() - start):8.1f} ms  ({count} results)")


def count_fires(schedule: Schedule, count: int) -> int:
    return len(list(islice(fires(schedule, ZONE, NOW), count)))


def main() -> None:
    specs = [KINDS[i % len(KINDS)].format(m=i % 60, h=i % 24, n=1 + i % 90) for i in range(3000)]

    def parse_all() -> int:
        for spec in specs:
            check_in_zone(parse_schedule(spec), ZONE)
        return len(specs)

    schedules = [parse_schedule(spec) for spec in specs]
    timed("parse + check_in_zone, 3000 schedules", parse_all)
    timed(
        "next_fire_after, 3000 schedules",
        lambda: sum(next_fire_after(s, ZONE, NOW) is not None for s in schedules),
    )
    timed(
        "upcoming: first 1000 fires merged across 3000 schedules",
        lambda: len(
            list(islice(heapq.merge(*(fires(s, ZONE, NOW) for s in schedules), key=lambda f: f.at), 1000))
        ),
    )
    timed(
        "latest_fire_at_or_before, 3000 schedules",
        lambda: sum(latest_fire_at_or_before(s, ZONE, NOW) is not None for s in schedules),
    )
    month_ago = NOW - timedelta(days=30)
    timed(
        "count_fires_between over 30 days, 3000 schedules",
        lambda: sum(count_fires_between(s, ZONE, month_ago, NOW) for s in schedules),
    )
    for spec in ("*/15 * * * *", "daily at 02:30", "0 0 29 2 *", "every 5 minutes"):
        timed(f"1000 consecutive fires of {spec!r}", partial(count_fires, parse_schedule(spec), 1000))


if __name__ == "__main__":
    main()
