"""Catch-up after downtime: 1,000 processes with `* * * * *`, the daemon down for 30 days.

Measures the time from a new `Scheduler` over the saved cursors to its first tick's actions (due runs and
missed-slot counts), for each catch_up policy. Beside it, in the same run, the naive way: walking every missed
slot (`fires_between`) for a sample of processes, scaled to 1,000. Target (issue 8): < 1 s to the first run.

    python bench/catchup.py [--processes 1000] [--days 30] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.config import CatchUp
from taskctl.daemon.scheduler import (
    InMemorySchedulerState,
    ScheduledProcess,
    Scheduler,
    schedule_key,
)
from taskctl.schedule import fires_between, parse_schedule

ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 31, 8, 0, 20, tzinfo=UTC)  # 30 days back crosses Berlin's spring night


def first_tick_seconds(processes: list[ScheduledProcess], down: timedelta) -> tuple[float, int, int]:
    state = InMemorySchedulerState()
    state.save_cursors({(p.name, schedule_key(p.schedules[0], ZONE)): NOW - down for p in processes})
    start = time.perf_counter()
    scheduler = Scheduler(state, {p.name: p for p in processes}, NOW)
    tick = scheduler.tick(NOW)
    elapsed = time.perf_counter() - start
    return elapsed, len(tick.due), tick.missed_count


def naive_seconds(processes: int, down: timedelta, sample: int = 5) -> float:
    schedule = parse_schedule("* * * * *")
    start = time.perf_counter()
    for _ in range(sample):
        sum(1 for _ in fires_between(schedule, ZONE, NOW - down, NOW))
    return (time.perf_counter() - start) * processes / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    down = timedelta(days=args.days)
    every_minute = (parse_schedule("* * * * *"),)
    print(f"{args.processes} processes '* * * * *', {args.days} days down; target < 1 s to the first actions")
    naive = []
    figures: dict[CatchUp, list[float]] = {policy: [] for policy in CatchUp}
    counts: dict[CatchUp, tuple[int, int]] = {}
    for _ in range(args.repeat):  # interleaved: each round measures every side once
        for policy in CatchUp:
            processes = [
                ScheduledProcess(f"p{i:04d}", ZONE, every_minute, policy, timedelta(days=args.days + 1))
                for i in range(args.processes)
            ]
            elapsed, due, missed = first_tick_seconds(processes, down)
            figures[policy].append(elapsed)
            counts[policy] = (due, missed)
        naive.append(naive_seconds(args.processes, down))
    reference = statistics.median(naive)
    print(f"{'walking every missed slot (extrapolated)':44} {reference:8.3f} s")
    for policy in CatchUp:
        median = statistics.median(figures[policy])
        due, missed = counts[policy]
        verdict = "ok" if median < 1 else "MISSED"
        print(
            f"catch_up: {policy.value:34} {median:8.3f} s  ({due} runs due, {missed} slots missed)"
            f"  {reference / median:6.0f}x faster than walking  target < 1 s: {verdict}"
        )


if __name__ == "__main__":
    main()
