"""The daemon's bookkeeping with literal instants: workers, waiting runs, held cursors, retention, shutdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from taskctl.config import CatchUp
from taskctl.daemon.dispatch import (
    POLL,
    RETENTION_EVERY,
    Actions,
    Created,
    Dispatcher,
    MissedRecord,
    missed_reason,
    missed_records,
)
from taskctl.daemon.scheduler import DueRun, MissedSlots, ScheduledProcess
from taskctl.runs import Trigger
from taskctl.schedule import parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(hour: int, minute: int = 0, second: int = 0, day: int = 1) -> datetime:
    return datetime(2027, 6, day, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


def due(process: str, at: datetime, trigger: Trigger = Trigger.SCHEDULE) -> DueRun:
    return DueRun(process, at, trigger, ("every 1 minutes",))


def started_dispatcher(capacity: int = 2, at: datetime | None = None) -> Dispatcher:
    """A dispatcher past its first step (which always asks for the retention of every process)."""
    dispatcher = Dispatcher(capacity=capacity, now=at or berlin(9))
    assert dispatcher.step(at or berlin(9)).prune_all
    return dispatcher


def handled(dispatcher: Dispatcher, process: str, at: datetime, outcome: Created, run_id: str) -> DueRun:
    """A slot of `process` due at `at`, handed to a worker, which reports `outcome`."""
    dispatcher.add_due([due(process, at)])
    run = dispatcher.step(at).create[0]
    dispatcher.created(run, outcome, run_id)
    return run


# --- workers ----------------------------------------------------------------------------------------


def test_due_slots_go_to_free_workers_oldest_first_and_the_rest_wait_unclaimed() -> None:
    dispatcher = started_dispatcher(capacity=2)
    dispatcher.add_due([due("b", berlin(9, 1)), due("a", berlin(9, 0)), due("c", berlin(9, 1))])
    actions = dispatcher.step(berlin(9, 1))
    assert [(run.process, run.scheduled_for) for run in actions.create] == [
        ("a", berlin(9, 0)),
        ("b", berlin(9, 1)),
    ]
    assert (dispatcher.busy, dispatcher.pending) == (2, 1)
    assert dispatcher.step(berlin(9, 1, 1)).create == ()  # no worker is free

    dispatcher.created(actions.create[0], Created.STARTED, "a/2027-06-01_09-01-00")
    dispatcher.created(actions.create[1], Created.SKIPPED, "b/2027-06-01_09-01-00")  # frees its worker
    assert [run.process for run in dispatcher.step(berlin(9, 1, 2)).create] == ["c"]


def test_a_worker_freed_by_a_slot_that_already_had_its_run_takes_the_next_slot() -> None:
    dispatcher = started_dispatcher(capacity=1)
    dispatcher.add_due([due("a", berlin(9, 0)), due("b", berlin(9, 0))])
    first = dispatcher.step(berlin(9, 0)).create
    dispatcher.created(first[0], Created.TAKEN)
    assert [run.process for run in dispatcher.step(berlin(9, 0, 1)).create] == ["b"]
    assert (dispatcher.busy, dispatcher.pending) == (1, 0)


def test_while_runs_are_active_the_loop_looks_again_within_poll() -> None:
    dispatcher = started_dispatcher()
    handled(dispatcher, "a", berlin(9, 0), Created.STARTED, "a/1")
    assert dispatcher.step(berlin(9, 0, 1)).wake_at == berlin(9, 0, 1) + POLL
    dispatcher.ended("a/1", "a")
    idle = dispatcher.step(berlin(9, 0, 5))
    assert (idle.prune, dispatcher.busy, dispatcher.running) == (("a",), 0, set())
    assert idle.wake_at == berlin(10)  # nothing active: only the hourly retention is left to wake for


def test_retention_of_every_process_runs_at_start_and_then_hourly() -> None:
    dispatcher = Dispatcher(capacity=1, now=berlin(9))
    assert dispatcher.step(berlin(9)).prune_all
    assert not dispatcher.step(berlin(9, 59)).prune_all
    assert dispatcher.step(berlin(10)).prune_all
    assert dispatcher.step(berlin(10, 1)).wake_at == berlin(10) + RETENTION_EVERY


# --- cursors ----------------------------------------------------------------------------------------


def test_cursors_of_a_process_wait_until_its_last_due_slot_is_claimed() -> None:
    dispatcher = started_dispatcher(capacity=1)
    dispatcher.add_due([due("a", berlin(9, 0)), due("a", berlin(9, 1))])
    assert dispatcher.holds("a") and not dispatcher.holds("b")
    first = dispatcher.step(berlin(9, 1)).create[0]
    assert not dispatcher.last_claim(first)  # 09:01 waits: this claim must not save a cursor past it
    dispatcher.created(first, Created.STARTED, "a/1")
    dispatcher.ended("a/1", "a")
    second = dispatcher.step(berlin(9, 1, 30))
    assert second.save_cursors == ()
    assert dispatcher.last_claim(second.create[0])
    dispatcher.created(second.create[0], Created.STARTED, "a/2")
    assert dispatcher.step(berlin(9, 1, 31)).save_cursors == ("a",)
    assert dispatcher.step(berlin(9, 1, 32)).save_cursors == ()


def test_a_stopping_daemon_never_saves_a_cursor_past_the_slots_it_left_unclaimed() -> None:
    dispatcher = started_dispatcher(capacity=1)
    dispatcher.add_due([due("a", berlin(9, 0)), due("a", berlin(9, 1))])
    first = dispatcher.step(berlin(9, 1)).create[0]
    dispatcher.holds("a")
    dispatcher.stop(berlin(9, 1, 1), grace=30)
    assert dispatcher.pending == 0 and dispatcher.holds("a")
    dispatcher.created(first, Created.STARTED, "a/1")
    assert not dispatcher.last_claim(first)
    assert dispatcher.step(berlin(9, 1, 2)).save_cursors == ()


# --- waiting runs -----------------------------------------------------------------------------------


def test_a_waiting_run_is_decided_again_when_its_process_has_a_run_end_or_after_poll() -> None:
    dispatcher = started_dispatcher(capacity=2)
    handled(dispatcher, "a", berlin(9, 0), Created.STARTED, "a/1")
    handled(dispatcher, "a", berlin(9, 1), Created.WAITING, "a/2")
    assert (dispatcher.busy, dispatcher.waiting) == (1, ["a/2"])  # waiting holds no worker

    assert dispatcher.step(berlin(9, 1) + POLL / 2).admit == ()
    assert dispatcher.step(berlin(9, 1) + POLL).admit == ("a/2",)  # a run ahead may be a `taskctl run`
    dispatcher.still_waiting("a/2")
    dispatcher.ended("a/1", "a")
    actions = dispatcher.step(berlin(9, 1) + POLL * 1.1)
    assert actions.admit == ("a/2",)
    assert dispatcher.busy == 1  # a worker is kept for the decision: it may start
    dispatcher.started("a/2")
    assert (dispatcher.busy, dispatcher.running, dispatcher.waiting) == (1, {"a/2"}, [])


def test_a_waiting_run_is_not_decided_again_without_a_free_worker() -> None:
    dispatcher = started_dispatcher(capacity=1)
    handled(dispatcher, "a", berlin(9, 0), Created.WAITING, "a/1")
    handled(dispatcher, "b", berlin(9, 0), Created.STARTED, "b/1")
    assert dispatcher.step(berlin(9, 5)).admit == ()


def test_cancel_asked_for_a_waiting_run_ends_it_without_a_worker() -> None:
    dispatcher = started_dispatcher(capacity=1)
    handled(dispatcher, "a", berlin(9, 0), Created.WAITING, "a/1")
    dispatcher.cancel_asked(["a/1", "x/unknown"])
    actions = dispatcher.step(berlin(9, 0, 1))
    assert (actions.cancel_waiting, actions.admit) == (("a/1",), ())
    dispatcher.waiting_ended("a/1", held_worker=False)
    assert (dispatcher.busy, dispatcher.waiting) == (0, [])


# --- reload and shutdown ----------------------------------------------------------------------------


def test_a_reload_drops_the_due_slots_of_processes_no_longer_scheduled_and_resizes_the_pool() -> None:
    dispatcher = started_dispatcher(capacity=1)
    dispatcher.add_due([due("a", berlin(9, 0)), due("gone", berlin(9, 0)), due("b", berlin(9, 0))])
    dispatcher.step(berlin(9, 0))
    dispatcher.reconfigure(3, {"a", "b"}.__contains__)
    assert [run.process for run in dispatcher.step(berlin(9, 0, 1)).create] == ["b"]
    assert not dispatcher.holds("gone")


def test_stopping_waits_for_the_grace_then_cancels_and_is_done_when_no_worker_is_busy() -> None:
    dispatcher = started_dispatcher(capacity=2)
    dispatcher.add_due([due("a", berlin(9, 0)), due("b", berlin(9, 0))])
    a, b = dispatcher.step(berlin(9, 0)).create
    dispatcher.created(a, Created.STARTED, "a/1")
    dispatcher.created(b, Created.WAITING, "b/1")
    dispatcher.add_due([due("c", berlin(9, 1))])
    dispatcher.stop(berlin(9, 1), grace=30)
    dispatcher.add_due([due("d", berlin(9, 1))])  # a tick racing the stop: ignored
    assert dispatcher.pending == 0

    during = dispatcher.step(berlin(9, 1, 10))
    assert during == Actions(wake_at=berlin(9, 1, 10) + POLL, cancel_waiting=("b/1",))
    dispatcher.waiting_ended("b/1", held_worker=False)
    after = dispatcher.step(berlin(9, 1, 30))
    assert (after.cancel_running, after.done) == (True, False)
    dispatcher.ended("a/1", "a")
    assert dispatcher.step(berlin(9, 1, 31)).done


def test_a_second_stop_cancels_at_once() -> None:
    dispatcher = started_dispatcher()
    dispatcher.add_due([due("a", berlin(9, 0))])
    dispatcher.created(dispatcher.step(berlin(9, 0)).create[0], Created.STARTED, "a/1")
    dispatcher.stop(berlin(9, 0, 5), grace=30)
    assert not dispatcher.step(berlin(9, 0, 6)).cancel_running
    dispatcher.stop(berlin(9, 0, 7), grace=30)
    assert dispatcher.step(berlin(9, 0, 7)).cancel_running


# --- missed slots -----------------------------------------------------------------------------------


def process(catch_up: CatchUp = CatchUp.LATEST, grace: timedelta = timedelta(hours=1)) -> ScheduledProcess:
    return ScheduledProcess("poll", BERLIN, (parse_schedule("every 10 minutes"),), catch_up, grace)


def test_a_few_missed_slots_get_a_row_each_with_the_reason() -> None:
    missed = MissedSlots("poll", 2, berlin(9, 0), berlin(9, 10))
    rows = missed_records(missed, [berlin(9, 0), berlin(9, 10)], process(CatchUp.NONE), berlin(9, 30))
    assert rows == [
        MissedRecord("poll", berlin(9, 0), 1, berlin(9, 0), "missed: catch_up is none"),
        MissedRecord("poll", berlin(9, 10), 1, berlin(9, 10), "missed: catch_up is none"),
    ]


def test_many_missed_slots_are_one_row_that_counts_them() -> None:
    missed = MissedSlots("poll", 4176, berlin(9, 0, day=1), berlin(8, 50, day=30))
    (row,) = missed_records(missed, None, process(), berlin(9, 5, day=30))
    assert row == MissedRecord(
        "poll",
        berlin(8, 50, day=30),
        4176,
        berlin(9, 0, day=1),
        "missed 4176 slots from 2027-06-01 09:00:00 CEST to 2027-06-30 08:50:00 CEST: "
        "catch_up is latest (only the newest late slot runs)",
    )


def test_the_reason_names_misfire_grace_when_the_slot_was_too_late_to_start() -> None:
    slow = process(CatchUp.ALL, grace=timedelta(minutes=30))
    assert (
        missed_reason(slow, berlin(9), berlin(10)) == "missed: it was more than misfire_grace (30m00s) late"
    )
    assert missed_reason(slow, berlin(9, 50), berlin(10)) == (
        "missed: catch_up is all, which runs the newest 100 late slots"
    )
