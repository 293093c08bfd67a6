"""The scheduler's state in the state DB: cursors, fired one-shots, claimed slots, survival across restarts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from taskctl.daemon.scheduler import ScheduledProcess, Scheduler
from taskctl.daemon.state import SqliteSchedulerState, save_cursors_in, set_missed_count
from taskctl.runner.service import RunRequest, open_service
from taskctl.runs import RunOwner, RunStatus, Trigger
from taskctl.schedule import parse_schedule
from taskctl.store import open_index
from taskctl.workspace import Workspace

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2027, 6, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def test_cursors_survive_a_restart_and_never_move_back(empty_workspace: Workspace) -> None:
    key = ("report", "daily at 06:00 @ Europe/Berlin")
    with open_index(empty_workspace) as store:
        state = SqliteSchedulerState(store)
        state.save_cursors({key: berlin(6)})
        with store.transaction() as tx:
            save_cursors_in(tx, {key: berlin(5)})  # a claim that lagged behind another
    with open_index(empty_workspace) as store:
        state = SqliteSchedulerState(store)
        assert state.load_cursors() == {key: berlin(6)}
        state.drop_cursors([key])
        assert state.load_cursors() == {}


def test_fired_one_shots_are_remembered_once(empty_workspace: Workspace) -> None:
    with open_index(empty_workspace) as store:
        state = SqliteSchedulerState(store)
        state.add_fired_one_shots({("launch", "2027-06-01 10:00"): berlin(10)})
        state.add_fired_one_shots({("launch", "2027-06-01 10:00"): berlin(10)})
        assert state.load_fired_one_shots() == {("launch", "2027-06-01 10:00")}


def test_claimed_slots_are_the_runs_and_missed_rows_of_the_index(example: Workspace) -> None:
    from taskctl.config import load_config

    definition = load_config(example).resolved("example")
    with open_service(example) as service:
        service.create(definition, _request(berlin(9)))
        service.record_missed("example", berlin(10), "Europe/Berlin")
        service.record_missed("other", berlin(10), "Europe/Berlin")
        state = SqliteSchedulerState(service.store)
        assert state.claimed_slots("example", berlin(9), berlin(11)) == {berlin(10)}  # (after, until]
        assert state.claimed_slots("example", berlin(8), berlin(10)) == {berlin(9), berlin(10)}


def test_a_missed_row_can_stand_for_many_slots(empty_workspace: Workspace) -> None:
    with open_service(empty_workspace) as service:
        service.record_missed(
            "poll",
            berlin(10),
            "Europe/Berlin",
            within=lambda tx: set_missed_count(tx, "poll", berlin(10), 42, "missed 42 slots from ..."),
        )
        (row,) = service.store.runs("poll")
        assert (row.status, row.error, row.has_folder) == (
            RunStatus.SKIPPED,
            "missed 42 slots from ...",
            False,
        )
        assert service.store.query("SELECT id, count FROM missed_counts") == [(row.id, 42)]
        service.store.delete_runs([row.id])  # retention takes the count with the row
        assert service.store.query("SELECT * FROM missed_counts") == []


def test_a_scheduler_over_the_sqlite_state_picks_up_where_it_left(empty_workspace: Workspace) -> None:
    hourly = ScheduledProcess("sync", BERLIN, (parse_schedule("hourly"),))
    with open_index(empty_workspace) as store:
        scheduler = Scheduler(SqliteSchedulerState(store), {"sync": hourly}, berlin(8, 30))
        tick = scheduler.tick(berlin(9))
        assert [run.scheduled_for for run in tick.due] == [berlin(9)]
        scheduler.commit(tick)
    with open_index(empty_workspace) as store:
        restarted = Scheduler(SqliteSchedulerState(store), {"sync": hourly}, berlin(9, 10))
        assert restarted.tick(berlin(9, 10)).due == ()
        assert [run.scheduled_for for run in restarted.tick(berlin(10)).due] == [berlin(10)]


def _request(at: datetime) -> RunRequest:
    return RunRequest(Trigger.SCHEDULE, at, owner=RunOwner.DAEMON)
