"""The next fire times across processes, merged and sorted: what `taskctl upcoming` lists.

A pure function of (config, moment): the caller reads the clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from taskctl.config import LoadedConfig
from taskctl.schedule import DstNote, Fire, Schedule, fires


@dataclass(frozen=True)
class Upcoming:
    """One future run of one process. Schedules firing at the same instant are one run."""

    process: str
    at: datetime  # aware, UTC
    zone: ZoneInfo
    schedules: tuple[str, ...]
    note: DstNote | None
    enabled: bool

    @property
    def local(self) -> datetime:
        return self.at.astimezone(self.zone)


def process_fires(
    schedules: Sequence[Schedule], zone: ZoneInfo, after: datetime
) -> Iterator[tuple[Fire, tuple[str, ...]]]:
    """The fires of all `schedules` of one process after `after`, in order, one per instant."""
    merged = heapq.merge(*(_tagged(s, i, zone, after) for i, s in enumerate(schedules)))
    for at, group in itertools.groupby(merged, key=lambda item: item[0]):
        items = list(group)
        note = next((fire.note for _, _, fire in items if fire.note is not None), None)
        yield Fire(at, note), tuple(schedules[i].text for _, i, _ in items)


@dataclass(frozen=True)
class UpcomingPage:
    """The fire times listed, and whether the window held more than the count allowed."""

    items: list[Upcoming]
    truncated: bool  # `until` was given and fire times within it were left out by `count`


def upcoming(
    config: LoadedConfig,
    moment: datetime,
    *,
    names: Sequence[str] = (),
    count: int | None = 10,
    until: timedelta | None = None,
    include_disabled: bool = False,
) -> list[Upcoming]:
    """The next fire times after `moment` of the named processes (all if none), sorted by time.

    Stops after `count` entries and/or at `moment + until`, whichever comes first.
    """
    return upcoming_page(
        config, moment, names=names, count=count, until=until, include_disabled=include_disabled
    ).items


def upcoming_page(
    config: LoadedConfig,
    moment: datetime,
    *,
    names: Sequence[str] = (),
    count: int | None = 10,
    until: timedelta | None = None,
    include_disabled: bool = False,
) -> UpcomingPage:
    """`upcoming`, saying whether `count` cut the list short of `moment + until`."""
    chosen = list(names) or sorted(config.processes)
    for name in chosen:
        config.process(name)  # raises NotFoundError with a suggestion
    end = moment + until if until is not None else None
    streams = [
        _process_stream(config, name, moment)
        for name in chosen
        if config.processes[name].enabled or include_disabled
    ]
    result: list[Upcoming] = []
    for at, _, item in heapq.merge(*streams):
        if end is not None and at > end:
            break
        if count is not None and len(result) >= count:
            return UpcomingPage(result, truncated=end is not None)
        result.append(item)
    return UpcomingPage(result, truncated=False)


def _process_stream(
    config: LoadedConfig, name: str, moment: datetime
) -> Iterator[tuple[datetime, str, Upcoming]]:
    process = config.processes[name]
    zone = config.zone_of(name)
    for fire, texts in process_fires(config.schedules[name], zone, moment):
        yield fire.at, name, Upcoming(name, fire.at, zone, texts, fire.note, process.enabled)


def _tagged(
    schedule: Schedule, index: int, zone: ZoneInfo, after: datetime
) -> Iterator[tuple[datetime, int, Fire]]:
    for fire in fires(schedule, zone, after):
        yield fire.at, index, fire
