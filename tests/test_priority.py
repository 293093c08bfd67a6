"""Ends wait for the runs being started; the time they wait is not part of a thread's duration."""

from __future__ import annotations

import threading
import time

import pytest

from taskctl.runner import priority
from taskctl.runner.priority import STARTS, StartCounter
from taskctl.workspace import Workspace
from tests.test_runner import run, workspace_with


def test_an_end_does_not_wait_when_nothing_is_being_started() -> None:
    assert StartCounter().hold(limit=30) == 0.0


def test_an_end_waits_until_the_runs_being_started_have_started() -> None:
    counter = StartCounter()
    first, second = counter.begin(), counter.begin()
    first()
    first()  # once is enough: a second call does not count another start as done
    assert counter.starting == 1
    threading.Timer(0.3, second).start()

    held = counter.hold(limit=30)

    assert 0.2 < held < 20
    assert counter.starting == 0


def test_an_end_waits_no_longer_than_the_limit() -> None:
    counter = StartCounter()
    never = counter.begin()

    held = counter.hold(limit=0.2)

    assert 0.1 < held < 20
    assert counter.starting == 1
    never()


def test_the_time_an_end_waits_is_left_out_of_the_thread_duration(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(priority, "HOLD_LIMIT", 60.0)
    ws = workspace_with(empty_workspace, "  quick:\n    command: ['true']\n")
    other_start = STARTS.begin()
    timer = threading.Timer(2.0, other_start)
    timer.start()
    began = time.monotonic()
    try:
        record = run(ws, "quick")
    finally:
        timer.cancel()
        other_start()

    assert time.monotonic() - began >= 1.9  # its end waited for the other run's start
    thread = record.threads[0]
    assert thread.duration is not None and thread.duration < 1.5
    assert record.finished is not None and thread.finished is not None and thread.started is not None
    assert (record.finished - thread.started).total_seconds() < 1.5
