"""The scheduling core with a fake clock: due slots, catch-up, clock steps, DST nights, one-shots, reloads."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taskctl.clock import FakeClock
from taskctl.config import CatchUp, load_config
from taskctl.daemon.scheduler import (
    CATCH_UP_LIMIT,
    DueRun,
    InMemorySchedulerState,
    MissedSlots,
    ScheduledProcess,
    Scheduler,
    Tick,
    schedule_key,
    scheduled_processes,
)
from taskctl.runs import Trigger
from taskctl.schedule import DstNote, parse_schedule
from taskctl.workspace import Workspace
from tests.conftest import write

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A Berlin wall time as an aware UTC instant (fold=0: the first of a repeated hour)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


def process(
    name: str,
    *specs: str,
    catch_up: CatchUp = CatchUp.LATEST,
    grace: timedelta = timedelta(hours=1),
    enabled: bool = True,
) -> ScheduledProcess:
    return ScheduledProcess(
        name, BERLIN, tuple(parse_schedule(spec) for spec in specs), catch_up, grace, enabled
    )


class Loop:
    """The daemon loop without its edges: a fake clock, the scheduler, and claims standing in for runs."""

    def __init__(
        self, start: datetime, *processes: ScheduledProcess, state: InMemorySchedulerState | None = None
    ) -> None:
        self.clock = FakeClock(start)
        self.state = state or InMemorySchedulerState()
        self.scheduler = Scheduler(self.state, {p.name: p for p in processes}, self.clock.now())
        self.runs: list[DueRun] = []
        self.offered: list[DueRun] = []  # every due slot, claimed or not
        self.missed: list[MissedSlots] = []
        self.wakes = 0

    def tick(self) -> Tick:
        tick = self.scheduler.tick(self.clock.now())
        self.offered.extend(tick.due)
        for run in tick.due:
            if self.state.claim(run.process, run.scheduled_for):
                self.runs.append(run)
        self.missed.extend(tick.missed)
        self.scheduler.commit(tick)
        self.wakes += 1
        return tick

    def run_until(self, end: datetime) -> None:
        """Tick, sleep until the tick's wake-up (never past `end`), repeat; tick once more at `end`."""
        while True:
            tick = self.tick()
            if self.clock.now() >= end:
                return
            assert tick.wake_at > self.clock.now()
            self.clock.set(min(tick.wake_at, end))

    def restart(self, *processes: ScheduledProcess, at: datetime) -> None:
        """A new daemon process over the same saved state."""
        self.clock.set(at)
        self.scheduler = Scheduler(self.state, {p.name: p for p in processes}, at)

    def local_runs(self) -> list[tuple[str, str]]:
        return [(run.process, run.scheduled_for.astimezone(BERLIN).strftime("%H:%M%z")) for run in self.runs]


# --- due slots and wake-ups -----------------------------------------------------------------------


def test_a_slot_is_due_at_its_instant_and_schedules_firing_together_are_one_run() -> None:
    loop = Loop(berlin(2027, 6, 1, 5, 59), process("report", "daily at 06:00", "every 30 minutes"))
    first = loop.tick()
    assert first.due == ()
    assert first.wake_at == berlin(2027, 6, 1, 6, 0)

    loop.clock.set(berlin(2027, 6, 1, 6, 0))
    tick = loop.tick()
    assert tick.due == (
        DueRun("report", berlin(2027, 6, 1, 6, 0), Trigger.SCHEDULE, ("daily at 06:00", "every 30 minutes")),
    )
    assert tick.missed == ()
    assert loop.tick().due == ()  # the same instant again: nothing twice


def test_a_schedule_written_twice_is_one_schedule() -> None:
    loop = Loop(berlin(2027, 6, 1, 8, 0), process("sync", "hourly", "hourly", catch_up=CatchUp.NONE))
    loop.run_until(berlin(2027, 6, 1, 9, 0))
    loop.restart(process("sync", "hourly", "hourly", catch_up=CatchUp.NONE), at=berlin(2027, 6, 1, 12, 0, 10))
    loop.tick()
    assert [(r.scheduled_for, r.schedules) for r in loop.runs] == [
        (berlin(2027, 6, 1, 9, 0), ("hourly",)),
        (berlin(2027, 6, 1, 12, 0), ("hourly",)),
    ]
    assert loop.missed == [MissedSlots("sync", 2, berlin(2027, 6, 1, 10, 0), berlin(2027, 6, 1, 11, 0))]


def test_with_nothing_due_the_loop_still_wakes_once_a_minute() -> None:
    loop = Loop(berlin(2027, 6, 1, 9, 0), process("nightly", "30 2 * * *"))
    assert loop.scheduler.tick(loop.clock.now()).wake_at == berlin(2027, 6, 1, 9, 1)
    loop.run_until(berlin(2027, 6, 1, 10, 0))
    assert loop.wakes == 61
    assert loop.runs == []


def test_the_loop_wakes_for_each_slot_and_not_in_between() -> None:
    loop = Loop(berlin(2027, 6, 1, 9, 0, 0), process("poll", "every 10 seconds"))
    loop.run_until(berlin(2027, 6, 1, 9, 1, 0))
    assert [run.scheduled_for.second for run in loop.runs] == [10, 20, 30, 40, 50, 0]
    assert loop.wakes == 7  # 09:00:00, then one per slot


def test_a_process_without_schedules_or_disabled_is_never_due() -> None:
    loop = Loop(
        berlin(2027, 6, 1, 9, 0),
        process("manual_only"),
        process("paused", "every 1 minute", enabled=False),
    )
    loop.run_until(berlin(2027, 6, 1, 10, 0))
    assert loop.runs == []
    assert loop.scheduler.next_runs() == []


def test_next_runs_lists_each_process_once_soonest_first() -> None:
    loop = Loop(
        berlin(2027, 6, 1, 9, 0),
        process("nightly", "30 2 * * *", "daily at 23:00"),
        process("hourly", "0 * * * *"),
    )
    assert loop.scheduler.next_runs() == [
        (berlin(2027, 6, 1, 10, 0), "hourly"),
        (berlin(2027, 6, 1, 23, 0), "nightly"),
    ]


# --- catch-up after downtime ----------------------------------------------------------------------


def after_downtime(scheduled: ScheduledProcess, start: datetime, stop: datetime, restart: datetime) -> Loop:
    """The loop runs `scheduled` from `start`, stops at `stop`, and a new daemon ticks once at `restart`."""
    loop = Loop(start, scheduled)
    loop.run_until(stop)
    loop.restart(scheduled, at=restart)
    loop.runs.clear()
    loop.tick()
    return loop


def down_two_hours(catch_up: CatchUp, grace: timedelta = timedelta(hours=1)) -> Loop:
    """Hourly, ran at 08:00, the daemon stopped at 08:10 and starts again at 10:30."""
    hourly = process("sync", "0 * * * *", catch_up=catch_up, grace=grace)
    return after_downtime(
        hourly, berlin(2027, 6, 1, 7, 59), berlin(2027, 6, 1, 8, 10), berlin(2027, 6, 1, 10, 30)
    )


def test_after_two_hours_down_none_runs_nothing_and_counts_both_slots() -> None:
    loop = down_two_hours(CatchUp.NONE)
    assert loop.runs == []
    assert loop.missed == [MissedSlots("sync", 2, berlin(2027, 6, 1, 9, 0), berlin(2027, 6, 1, 10, 0))]


def test_after_two_hours_down_latest_runs_the_newest_slot_once() -> None:
    loop = down_two_hours(CatchUp.LATEST)
    assert loop.runs == [DueRun("sync", berlin(2027, 6, 1, 10, 0), Trigger.CATCH_UP, ("0 * * * *",))]
    assert loop.missed == [MissedSlots("sync", 1, berlin(2027, 6, 1, 9, 0), berlin(2027, 6, 1, 9, 0))]


def test_after_two_hours_down_all_runs_each_slot_in_order() -> None:
    loop = down_two_hours(CatchUp.ALL, grace=timedelta(hours=2))
    assert [(run.scheduled_for, run.trigger) for run in loop.runs] == [
        (berlin(2027, 6, 1, 9, 0), Trigger.CATCH_UP),
        (berlin(2027, 6, 1, 10, 0), Trigger.CATCH_UP),
    ]
    assert loop.missed == []


def test_a_slot_older_than_misfire_grace_never_starts() -> None:
    latest = down_two_hours(CatchUp.LATEST, grace=timedelta(minutes=20))  # 10:00 is 30 minutes late
    assert latest.runs == []
    assert latest.missed == [MissedSlots("sync", 2, berlin(2027, 6, 1, 9, 0), berlin(2027, 6, 1, 10, 0))]
    every = down_two_hours(CatchUp.ALL, grace=timedelta(minutes=45))
    assert [run.scheduled_for for run in every.runs] == [berlin(2027, 6, 1, 10, 0)]
    assert every.missed == [MissedSlots("sync", 1, berlin(2027, 6, 1, 9, 0), berlin(2027, 6, 1, 9, 0))]


def test_after_restart_the_loop_carries_on_normally() -> None:
    loop = down_two_hours(CatchUp.LATEST)
    loop.run_until(berlin(2027, 6, 1, 12, 0))
    assert [(run.scheduled_for, run.trigger) for run in loop.runs] == [
        (berlin(2027, 6, 1, 10, 0), Trigger.CATCH_UP),
        (berlin(2027, 6, 1, 11, 0), Trigger.SCHEDULE),
        (berlin(2027, 6, 1, 12, 0), Trigger.SCHEDULE),
    ]
    assert len(loop.missed) == 1


def down_thirty_days(catch_up: CatchUp, grace: timedelta) -> Loop:
    """Daily at 02:30 (a time Berlin skips on 28 March), down from 1 March 03:00 to 31 March 10:00."""
    nightly = process("nightly", "daily at 02:30", catch_up=catch_up, grace=grace)
    return after_downtime(
        nightly, berlin(2027, 2, 28, 12, 0), berlin(2027, 3, 1, 3, 0), berlin(2027, 3, 31, 10, 0)
    )


def test_after_thirty_days_down_none_counts_thirty_missed_slots() -> None:
    loop = down_thirty_days(CatchUp.NONE, timedelta(hours=1))
    assert loop.runs == []
    assert loop.missed == [MissedSlots("nightly", 30, berlin(2027, 3, 2, 2, 30), berlin(2027, 3, 31, 2, 30))]


def test_after_thirty_days_down_latest_runs_the_last_night_if_the_grace_allows() -> None:
    short = down_thirty_days(CatchUp.LATEST, timedelta(hours=1))  # 02:30 was 7.5 hours ago
    assert short.runs == []
    assert short.missed[0].count == 30
    long = down_thirty_days(CatchUp.LATEST, timedelta(hours=12))
    assert long.runs == [DueRun("nightly", berlin(2027, 3, 31, 2, 30), Trigger.CATCH_UP, ("daily at 02:30",))]
    assert long.missed == [MissedSlots("nightly", 29, berlin(2027, 3, 2, 2, 30), berlin(2027, 3, 30, 2, 30))]


def test_after_thirty_days_down_all_runs_every_night_including_the_shifted_one() -> None:
    loop = down_thirty_days(CatchUp.ALL, timedelta(days=31))
    assert len(loop.runs) == 30
    assert {run.trigger for run in loop.runs} == {Trigger.CATCH_UP}
    shifted = [run for run in loop.runs if run.note is DstNote.SHIFTED]
    assert [run.scheduled_for for run in shifted] == [berlin(2027, 3, 28, 3, 0)]  # 02:30 does not exist
    assert loop.missed == []


def test_catch_up_all_is_capped_at_a_hundred_and_the_rest_is_counted() -> None:
    minutely = process("ticker", "* * * * *", catch_up=CatchUp.ALL, grace=timedelta(days=31))
    loop = after_downtime(
        minutely, berlin(2027, 3, 1, 9, 59), berlin(2027, 3, 1, 10, 0), berlin(2027, 3, 31, 10, 0, 30)
    )
    due = 30 * 1440 - 60  # 30 days of minutes, less the hour the spring night skips
    assert len(loop.runs) == CATCH_UP_LIMIT + 1
    assert loop.runs[-1] == DueRun("ticker", berlin(2027, 3, 31, 10, 0), Trigger.SCHEDULE, ("* * * * *",))
    assert loop.runs[0].scheduled_for == berlin(2027, 3, 31, 8, 20)
    assert loop.missed == [
        MissedSlots("ticker", due - 101, berlin(2027, 3, 1, 10, 1), berlin(2027, 3, 31, 8, 19))
    ]


def test_a_thousand_minutely_processes_thirty_days_down_are_counted_not_walked() -> None:
    processes = [process(f"p{i:04d}", "* * * * *") for i in range(1000)]
    state = InMemorySchedulerState()
    state.save_cursors({(p.name, "* * * * * @ Europe/Berlin"): berlin(2027, 3, 1, 10, 0) for p in processes})
    loop = Loop(berlin(2027, 3, 31, 10, 0, 20), *processes, state=state)
    tick = loop.tick()
    assert len(tick.due) == 1000
    assert {(run.scheduled_for, run.trigger) for run in tick.due} == {
        (berlin(2027, 3, 31, 10, 0), Trigger.SCHEDULE)
    }
    assert {(m.count, m.first, m.last) for m in tick.missed} == {
        (30 * 1440 - 60 - 1, berlin(2027, 3, 1, 10, 1), berlin(2027, 3, 31, 9, 59))
    }


def test_a_budget_leaves_processes_for_the_next_tick_and_wakes_at_once() -> None:
    processes = [
        process(f"p{i}", "* * * * *", catch_up=CatchUp.ALL, grace=timedelta(days=31)) for i in range(3)
    ]
    state = InMemorySchedulerState()
    state.save_cursors({(p.name, "* * * * * @ Europe/Berlin"): berlin(2027, 3, 1, 10, 0) for p in processes})
    loop = Loop(berlin(2027, 3, 31, 10, 0, 20), *processes, state=state)
    first = loop.scheduler.tick(loop.clock.now(), budget=150)  # one process costs ~100: two fit, not three
    assert (first.more, first.wake_at) == (True, loop.clock.now())
    assert {run.process for run in first.due} == {"p0", "p1"}
    loop.scheduler.commit(first)
    second = loop.scheduler.tick(loop.clock.now(), budget=150)
    assert not second.more and {run.process for run in second.due} == {"p2"}
    assert len(second.due) == CATCH_UP_LIMIT + 1


def test_a_budget_of_one_still_does_a_process_per_tick() -> None:
    loop = Loop(berlin(2027, 6, 1, 9, 0), process("a", "every 1 minutes"), process("b", "every 1 minutes"))
    loop.clock.set(berlin(2027, 6, 1, 9, 1))
    tick = loop.scheduler.tick(loop.clock.now(), budget=1)
    assert [run.process for run in tick.due] == ["a"] and tick.more


def test_missed_slots_are_listed_when_few_and_not_when_many() -> None:
    loop = Loop(
        berlin(2027, 6, 1, 9, 0), process("poll", "every 10 minutes", "hourly", catch_up=CatchUp.NONE)
    )
    loop.restart(
        process("poll", "every 10 minutes", "hourly", catch_up=CatchUp.NONE), at=berlin(2027, 6, 1, 10, 5)
    )
    (missed,) = loop.tick().missed
    assert missed == MissedSlots("poll", 6, berlin(2027, 6, 1, 9, 10), berlin(2027, 6, 1, 10, 0))
    assert loop.scheduler.missed_slots(missed, limit=10) == [
        berlin(2027, 6, 1, 9, minute) for minute in (10, 20, 30, 40, 50)
    ] + [berlin(2027, 6, 1, 10, 0)]
    assert loop.scheduler.missed_slots(missed, limit=5) is None


def test_a_loop_that_wakes_late_runs_every_slot_less_than_a_minute_old() -> None:
    loop = Loop(berlin(2027, 6, 1, 9, 0, 0), process("fast", "every 1 seconds", catch_up=CatchUp.NONE))
    loop.clock.set(berlin(2027, 6, 1, 9, 0, 5))  # a busy machine: the loop comes 5 s after its wake-up
    tick = loop.tick()
    assert [(run.scheduled_for, run.trigger) for run in tick.due] == [
        (berlin(2027, 6, 1, 9, 0, second), Trigger.SCHEDULE) for second in range(1, 6)
    ]
    assert tick.missed == ()
    loop.clock.set(berlin(2027, 6, 1, 9, 1, 35))  # 90 s: the slots more than 60 s old are late (none runs)
    tick = loop.tick()
    assert len(tick.due) == 61 and tick.due[0].scheduled_for == berlin(2027, 6, 1, 9, 0, 35)
    assert tick.missed == (
        MissedSlots("fast", 29, berlin(2027, 6, 1, 9, 0, 6), berlin(2027, 6, 1, 9, 0, 34)),
    )


# --- clock steps ----------------------------------------------------------------------------------


def test_clock_stepped_back_an_hour_runs_no_slot_twice() -> None:
    loop = Loop(
        berlin(2027, 6, 1, 11, 30), process("ticker", "* * * * *"), process("poll", "every 5 minutes")
    )
    loop.run_until(berlin(2027, 6, 1, 12, 0, 30))
    loop.clock.set(berlin(2027, 6, 1, 11, 0, 30))  # NTP, or a user, steps the clock back
    loop.run_until(berlin(2027, 6, 1, 12, 10, 30))
    per_slot = Counter((run.process, run.scheduled_for) for run in loop.runs)
    assert max(per_slot.values()) == 1
    ticker = sorted(at for name, at in per_slot if name == "ticker")
    assert ticker == [berlin(2027, 6, 1, 11, 31) + timedelta(minutes=i) for i in range(40)]  # none lost
    assert loop.missed == []


def test_while_the_clock_is_behind_the_loop_keeps_waking_once_a_minute() -> None:
    loop = Loop(
        berlin(2027, 6, 1, 12, 0), process("nightly", "30 2 * * *"), process("poll", "every 5 minutes")
    )
    loop.run_until(berlin(2027, 6, 1, 12, 0))
    loop.clock.set(berlin(2027, 6, 1, 11, 0))
    assert loop.tick().wake_at == berlin(2027, 6, 1, 11, 1)


def test_clock_stepped_forward_an_hour_is_downtime_for_catch_up() -> None:
    ticker = process("ticker", "* * * * *", catch_up=CatchUp.LATEST)
    backlog = process("backlog", "* * * * *", catch_up=CatchUp.ALL)
    loop = Loop(berlin(2027, 6, 1, 11, 59), ticker, backlog)
    loop.run_until(berlin(2027, 6, 1, 12, 0))
    loop.clock.set(berlin(2027, 6, 1, 13, 0, 5))
    loop.runs.clear()
    loop.tick()
    # latest: the on-time 13:00 covers the hour; the 59 slots jumped over are counted, not lost.
    assert [(r.scheduled_for, r.trigger) for r in loop.runs if r.process == "ticker"] == [
        (berlin(2027, 6, 1, 13, 0), Trigger.SCHEDULE)
    ]
    assert loop.missed == [MissedSlots("ticker", 59, berlin(2027, 6, 1, 12, 1), berlin(2027, 6, 1, 12, 59))]
    # all: each slot jumped over still runs, as catch-up, in order, then 13:00 on time.
    caught = [r for r in loop.runs if r.process == "backlog"]
    assert [r.scheduled_for for r in caught] == [
        berlin(2027, 6, 1, 12, 1) + timedelta(minutes=i) for i in range(60)
    ]
    assert {r.trigger for r in caught[:-1]} == {Trigger.CATCH_UP}


def test_clock_stepped_forward_over_a_fixed_time_runs_it_late_within_the_grace() -> None:
    loop = Loop(berlin(2027, 6, 1, 12, 0), process("lunch", "daily at 12:30"))
    loop.tick()
    loop.clock.set(berlin(2027, 6, 1, 13, 0))
    loop.tick()
    assert loop.runs == [DueRun("lunch", berlin(2027, 6, 1, 12, 30), Trigger.CATCH_UP, ("daily at 12:30",))]


# --- Berlin's clock-change nights -----------------------------------------------------------------


def night(day: int, month: int, *specs: str) -> list[tuple[str, str, DstNote | None]]:
    loop = Loop(
        berlin(2027, month, day - 1, 23, 0), *(process(f"p{i}", spec) for i, spec in enumerate(specs))
    )
    loop.run_until(berlin(2027, month, day, 4, 0))
    assert loop.missed == []
    return [
        (run.process, run.scheduled_for.astimezone(BERLIN).strftime("%H:%M%z"), run.note) for run in loop.runs
    ]


def test_spring_night_fixed_time_in_the_gap_runs_once_right_after_it() -> None:
    assert night(28, 3, "30 2 * * *") == [("p0", "03:00+0200", DstNote.SHIFTED)]


def test_spring_night_wildcard_slots_skip_the_gap() -> None:
    assert [at for _, at, _ in night(28, 3, "*/30 * * * *")] == [
        "23:30+0100", "00:00+0100", "00:30+0100", "01:00+0100", "01:30+0100",
        "03:00+0200", "03:30+0200", "04:00+0200",
    ]  # fmt: skip


def test_autumn_night_fixed_time_in_the_repeated_hour_runs_once() -> None:
    assert night(31, 10, "30 2 * * *") == [("p0", "02:30+0200", DstNote.DEDUPLICATED)]


def test_autumn_night_wildcard_slots_run_in_both_passes() -> None:
    runs = night(31, 10, "*/30 * * * *")
    assert [(at, note) for _, at, note in runs if at.startswith("02")] == [
        ("02:00+0200", None),
        ("02:30+0200", None),
        ("02:00+0100", DstNote.REPEATED),
        ("02:30+0100", DstNote.REPEATED),
    ]
    assert len(runs) == 12  # 23:30 to 04:00 is 5.5 hours on the wall clock, 6.5 real ones


# --- one-shots --------------------------------------------------------------------------------------


def test_a_one_shot_fires_once_across_restart_and_reload() -> None:
    launch = process("launch", "2027-06-01 12:00")
    loop = Loop(berlin(2027, 6, 1, 11, 58), launch)
    loop.run_until(berlin(2027, 6, 1, 12, 5))
    assert loop.runs == [DueRun("launch", berlin(2027, 6, 1, 12, 0), Trigger.SCHEDULE, ("2027-06-01 12:00",))]
    # A restart with the clock stepped back before the one-shot: it does not fire again ...
    loop.restart(launch, at=berlin(2027, 6, 1, 11, 0))
    loop.run_until(berlin(2027, 6, 1, 12, 30))
    # ... nor after a reload that gives the process another schedule (its cursors restart at now).
    edited = process("launch", "2027-06-01 12:00", "daily at 18:00")
    loop.clock.set(berlin(2027, 6, 1, 11, 0))
    loop.scheduler.apply({"launch": edited}, loop.clock.now())
    loop.run_until(berlin(2027, 6, 1, 12, 30))
    assert len(loop.runs) == 1


def test_processes_sharing_a_schedule_keep_their_own_cursor_and_one_shot() -> None:
    # Before a restart at 10:10, "early" had handled its 10:00 slot and "late" only its 09:00 one;
    # "launch" had fired the one-shot that "relaunch" (added since) has not.
    hourly, one_shot = parse_schedule("0 * * * *"), parse_schedule("2027-06-01 10:30")
    state = InMemorySchedulerState()
    state.save_cursors(
        {
            ("early", schedule_key(hourly, BERLIN)): berlin(2027, 6, 1, 10),
            ("late", schedule_key(hourly, BERLIN)): berlin(2027, 6, 1, 9),
        }
    )
    state.add_fired_one_shots({("launch", one_shot.text): berlin(2027, 6, 1, 10, 30)})
    loop = Loop(
        berlin(2027, 6, 1, 10, 10),
        process("early", hourly.text),
        process("late", hourly.text),
        process("launch", one_shot.text),
        process("relaunch", one_shot.text),
        state=state,
    )
    loop.run_until(berlin(2027, 6, 1, 10, 40))
    assert loop.local_runs() == [("late", "10:00+0200"), ("relaunch", "10:30+0200")]


def test_a_one_shot_missed_while_down_never_fires_later() -> None:
    launch = process("launch", "2027-06-01 12:00", catch_up=CatchUp.LATEST, grace=timedelta(minutes=10))
    loop = Loop(berlin(2027, 6, 1, 11, 0), launch)
    loop.tick()
    loop.restart(launch, at=berlin(2027, 6, 1, 13, 0))
    loop.tick()
    assert loop.missed == [MissedSlots("launch", 1, berlin(2027, 6, 1, 12, 0), berlin(2027, 6, 1, 12, 0))]
    loop.restart(launch, at=berlin(2027, 6, 1, 11, 0))
    loop.run_until(berlin(2027, 6, 1, 12, 30))
    assert loop.runs == []


# --- reloads and restarts ---------------------------------------------------------------------------


def test_a_changed_schedule_starts_from_now_and_an_unchanged_one_keeps_its_cursor() -> None:
    before = process("sync", "0 * * * *", "daily at 09:00", catch_up=CatchUp.ALL, grace=timedelta(hours=2))
    loop = Loop(berlin(2027, 6, 1, 7, 59), before)
    loop.run_until(berlin(2027, 6, 1, 8, 0))
    # Down from 08:00 to 10:30; meanwhile 09:00 became 09:15 in the config.
    after = process("sync", "0 * * * *", "daily at 09:15", catch_up=CatchUp.ALL, grace=timedelta(hours=2))
    loop.restart(after, at=berlin(2027, 6, 1, 10, 30))
    loop.runs.clear()
    loop.tick()
    assert [(r.scheduled_for, r.schedules) for r in loop.runs] == [
        (berlin(2027, 6, 1, 9, 0), ("0 * * * *",)),
        (berlin(2027, 6, 1, 10, 0), ("0 * * * *",)),
    ]
    assert loop.scheduler.cursor("sync", parse_schedule("daily at 09:15")) == berlin(2027, 6, 1, 10, 30)
    assert set(loop.state.cursors) == {
        ("sync", "0 * * * * @ Europe/Berlin"),
        ("sync", "daily at 09:15 @ Europe/Berlin"),
    }


def test_an_edit_never_fires_missed_runs() -> None:
    loop = Loop(berlin(2027, 6, 1, 5, 0), process("report", "daily at 06:00"))
    loop.run_until(berlin(2027, 6, 1, 10, 0))
    loop.scheduler.apply({"report": process("report", "daily at 08:00")}, loop.clock.now())
    loop.run_until(berlin(2027, 6, 2, 8, 0))
    assert [run.scheduled_for for run in loop.runs] == [berlin(2027, 6, 1, 6, 0), berlin(2027, 6, 2, 8, 0)]
    assert loop.missed == []


def test_a_removed_or_disabled_process_stops_being_scheduled_and_loses_its_cursors() -> None:
    loop = Loop(berlin(2027, 6, 1, 9, 0), process("a", "every 1 minute"), process("b", "every 1 minute"))
    loop.run_until(berlin(2027, 6, 1, 9, 2))
    loop.scheduler.apply({"b": process("b", "every 1 minute", enabled=False)}, loop.clock.now())
    loop.run_until(berlin(2027, 6, 1, 9, 10))
    assert {run.scheduled_for for run in loop.runs} == {berlin(2027, 6, 1, 9, 1), berlin(2027, 6, 1, 9, 2)}
    assert loop.state.cursors == {}
    # Enabled again an hour later: from now, nothing from the hour it was off.
    loop.clock.set(berlin(2027, 6, 1, 10, 10))
    loop.scheduler.apply({"b": process("b", "every 1 minute")}, loop.clock.now())
    loop.run_until(berlin(2027, 6, 1, 10, 11))
    assert [run.scheduled_for for run in loop.runs][-1:] == [berlin(2027, 6, 1, 10, 11)]
    assert loop.missed == []


def test_a_reload_between_tick_and_commit_wins() -> None:
    loop = Loop(berlin(2027, 6, 1, 8, 59), process("sync", "hourly"), process("other", "hourly"))
    loop.clock.set(berlin(2027, 6, 1, 9, 0))
    tick = loop.scheduler.tick(loop.clock.now())
    loop.scheduler.apply({"other": process("other", "hourly")}, loop.clock.now())  # sync was removed
    loop.scheduler.commit(tick)
    assert set(loop.state.cursors) == {("other", "hourly @ Europe/Berlin")}
    assert loop.scheduler.next_runs() == [(berlin(2027, 6, 1, 10, 0), "other")]


def test_a_new_zone_is_a_new_schedule() -> None:
    berlin_daily = process("report", "daily at 06:00")
    assert schedule_key(berlin_daily.schedules[0], BERLIN) == "daily at 06:00 @ Europe/Berlin"
    assert schedule_key(berlin_daily.schedules[0], ZoneInfo("UTC")) != schedule_key(
        berlin_daily.schedules[0], BERLIN
    )


def test_a_crash_between_claim_and_commit_runs_nothing_twice() -> None:
    hourly = process("sync", "0 * * * *")
    loop = Loop(berlin(2027, 6, 1, 8, 59), hourly)
    loop.tick()
    loop.clock.set(berlin(2027, 6, 1, 9, 0))
    tick = loop.scheduler.tick(loop.clock.now())
    assert [loop.state.claim(r.process, r.scheduled_for) for r in tick.due] == [True]  # then the daemon dies
    loop.restart(hourly, at=berlin(2027, 6, 1, 9, 0, 30))
    assert loop.tick().due == ()
    assert loop.missed == []


class CountingState(InMemorySchedulerState):
    """Counts the ledger lookups of the scheduler."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups: Counter[str] = Counter()

    def claimed_slots(self, process: str, after: datetime, until: datetime) -> set[datetime]:
        self.lookups[process] += 1
        return super().claimed_slots(process, after, until)


def test_the_ledger_is_read_only_for_slots_a_run_may_already_fill() -> None:
    # 200 processes every second: a tick looks nothing up in the ledger once it knows no slot ahead is taken
    state = CountingState()
    state.claim("p0", berlin(2027, 6, 1, 8, 0, 1))  # left by a daemon that died before saving its cursor
    processes = [process(f"p{i}", "every 1 seconds") for i in range(200)]
    loop = Loop(berlin(2027, 6, 1, 8, 0), *processes, state=state)
    loop.run_until(berlin(2027, 6, 1, 8, 0, 5))
    assert Counter(run.process for run in loop.runs) == {f"p{i}": 5 if i else 4 for i in range(200)}
    assert len(loop.offered) == len(loop.runs)  # the taken slot was never offered
    assert state.lookups == {"p0": 1}


def test_a_process_added_back_after_the_clock_stepped_back_skips_its_taken_slots() -> None:
    ticker = process("ticker", "every 10 seconds")
    state = CountingState()
    loop = Loop(berlin(2027, 6, 1, 8, 0), ticker, state=state)
    loop.run_until(berlin(2027, 6, 1, 8, 1))
    offered = len(loop.offered)
    loop.scheduler.apply({}, loop.clock.now())  # removed ...
    loop.clock.set(berlin(2027, 6, 1, 8, 0, 30))  # ... the clock steps back half a minute ...
    loop.scheduler.apply({"ticker": ticker}, loop.clock.now())  # ... and it is back, from now
    loop.run_until(berlin(2027, 6, 1, 8, 1, 20))
    # 08:00:40 to 08:01:00 had their runs already: only 08:01:10 and 08:01:20 are offered
    assert [run.scheduled_for for run in loop.offered[offered:]] == [
        berlin(2027, 6, 1, 8, 1, 10),
        berlin(2027, 6, 1, 8, 1, 20),
    ]


# --- from a loaded config ------------------------------------------------------------------------------


def test_scheduled_processes_take_the_resolved_policy_of_each_process(empty_workspace: Workspace) -> None:
    write(
        empty_workspace.config_dir / "taskctl.yaml",
        "timezone: Europe/Berlin\ndefaults: {catch_up: all, misfire_grace: 2h}\n",
    )
    write(
        empty_workspace.config_dir / "processes.yaml",
        "threads:\n  t: {command: [echo]}\n  solo: {command: [echo], schedule: hourly}\n"
        "processes:\n  p:\n    threads: [t]\n    schedule: ['30 2 * * *', every 6 hours]\n"
        "    catch_up: none\n    timezone: America/New_York\n    enabled: false\n",
    )
    found = scheduled_processes(load_config(empty_workspace))
    assert found == {
        "p": ScheduledProcess(
            "p",
            ZoneInfo("America/New_York"),
            (parse_schedule("30 2 * * *"), parse_schedule("every 6 hours")),
            CatchUp.NONE,
            timedelta(hours=2),
            enabled=False,
        ),
        "solo": ScheduledProcess(
            "solo", BERLIN, (parse_schedule("hourly"),), CatchUp.ALL, timedelta(hours=2)
        ),
    }


@pytest.mark.parametrize("policy", list(CatchUp))
def test_every_policy_runs_an_on_time_slot(policy: CatchUp) -> None:
    loop = Loop(berlin(2027, 6, 1, 8, 59, 59), process("sync", "0 * * * *", catch_up=policy))
    loop.run_until(berlin(2027, 6, 1, 9, 0, 2))
    assert [(r.scheduled_for, r.trigger) for r in loop.runs] == [(berlin(2027, 6, 1, 9, 0), Trigger.SCHEDULE)]
