"""Merging the fire times of every process into one sorted list, with literal moments in Europe/Berlin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from taskctl.config import load_config
from taskctl.schedule import DstNote
from taskctl.upcoming import upcoming, upcoming_page
from taskctl.workspace import Workspace
from tests.conftest import write

NOW = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)  # 13:00 in Berlin, the day before clocks spring forward


def workspace_with(ws: Workspace, processes: str) -> Workspace:
    write(ws.config_dir / "taskctl.yaml", "timezone: Europe/Berlin\n")
    write(ws.config_dir / "threads.yaml", "threads:\n  t:\n    code: print(1)\n")
    write(ws.config_dir / "processes.yaml", "processes:\n" + processes)
    return ws


def test_processes_are_merged_in_time_order(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        "  a:\n    threads: [t]\n    schedule: ['daily at 14:00']\n"
        "  b:\n    threads: [t]\n    schedule: ['every 6 hours']\n",
    )
    items = upcoming(load_config(ws), NOW, count=4)
    assert [(i.process, i.at) for i in items] == [
        ("a", datetime(2027, 3, 27, 13, 0, tzinfo=UTC)),
        ("b", datetime(2027, 3, 27, 18, 0, tzinfo=UTC)),
        ("b", datetime(2027, 3, 28, 0, 0, tzinfo=UTC)),
        ("b", datetime(2027, 3, 28, 6, 0, tzinfo=UTC)),
    ]
    assert items[0].local == datetime(2027, 3, 27, 14, 0, tzinfo=items[0].zone)


def test_two_schedules_firing_at_the_same_instant_are_one_run(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace, "  a:\n    threads: [t]\n    schedule: ['daily at 14:00', '0 14 * * *']\n"
    )
    items = upcoming(load_config(ws), NOW, count=2)
    assert [i.schedules for i in items] == [("daily at 14:00", "0 14 * * *")] * 2
    assert items[1].at - items[0].at == timedelta(hours=23)  # the night the clocks spring forward


def test_a_slot_in_the_skipped_hour_is_marked_shifted(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  a:\n    threads: [t]\n    schedule: ['daily at 02:30']\n")
    first = upcoming(load_config(ws), NOW, count=1)[0]
    assert first.at == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00 CEST, right after the gap
    assert first.note is DstNote.SHIFTED


def test_until_bounds_the_list_and_disabled_processes_are_left_out(empty_workspace: Workspace) -> None:
    ws = workspace_with(
        empty_workspace,
        "  a:\n    threads: [t]\n    schedule: ['every 1 hours']\n"
        "  off:\n    threads: [t]\n    schedule: ['every 1 minutes']\n    enabled: false\n",
    )
    config = load_config(ws)
    items = upcoming(config, NOW, count=None, until=timedelta(hours=3))
    assert [i.at.hour for i in items] == [13, 14, 15]
    assert {i.process for i in items} == {"a"}
    named = upcoming(config, NOW, names=["off"], count=2, include_disabled=True)
    assert [i.enabled for i in named] == [False, False]


def test_a_one_shot_runs_once_and_then_the_list_ends(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  a:\n    threads: [t]\n    schedule: ['2027-04-01 09:00']\n")
    items = upcoming(load_config(ws), NOW, count=10)
    assert [i.at for i in items] == [datetime(2027, 4, 1, 7, 0, tzinfo=UTC)]


def test_a_window_with_more_fire_times_than_the_count_is_marked_truncated(empty_workspace: Workspace) -> None:
    ws = workspace_with(empty_workspace, "  a:\n    threads: [t]\n    schedule: ['*/30 * * * *']\n")
    config = load_config(ws)

    cut = upcoming_page(config, NOW, count=1000, until=timedelta(days=120))
    whole = upcoming_page(config, NOW, count=1000, until=timedelta(hours=2))
    unbounded = upcoming_page(config, NOW, count=3)

    assert (len(cut.items), cut.truncated) == (1000, True)
    assert (len(whole.items), whole.truncated) == (4, False)
    assert (len(unbounded.items), unbounded.truncated) == (3, False)  # "the next 3" is what was asked
