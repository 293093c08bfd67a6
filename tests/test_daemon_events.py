"""Signals become items on the daemon's queue; the handlers do nothing else."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from queue import SimpleQueue

import pytest

from taskctl.daemon.events import DaemonEvent, ReloadRequested, StopRequested, install_signal_handlers


@pytest.fixture
def events() -> Iterator[SimpleQueue[DaemonEvent]]:
    queue: SimpleQueue[DaemonEvent] = SimpleQueue()
    before = {number: signal.getsignal(number) for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    restore = install_signal_handlers(queue)
    yield queue
    restore()
    assert {number: signal.getsignal(number) for number in before} == before


def test_sighup_asks_for_a_reload(events: SimpleQueue[DaemonEvent]) -> None:
    os.kill(os.getpid(), signal.SIGHUP)
    assert events.get(timeout=10) == ReloadRequested("SIGHUP")


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_ask_to_stop(events: SimpleQueue[DaemonEvent], number: signal.Signals) -> None:
    os.kill(os.getpid(), number)
    assert events.get(timeout=10) == StopRequested(number.name)
    assert events.empty()
