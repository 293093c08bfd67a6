"""The daemon's workers with real tiny runs: slots handed out ahead of their instant."""

from __future__ import annotations

import io
import math
import time
from datetime import UTC, datetime, timedelta
from queue import SimpleQueue

import pytest

from taskctl.clock import SYSTEM_CLOCK
from taskctl.config import load_config
from taskctl.daemon.dispatch import Created
from taskctl.daemon.events import DaemonEvent, RunEnded, SlotHandled
from taskctl.daemon.log import DaemonLog
from taskctl.daemon.scheduler import DueRun
from taskctl.daemon.workers import CreateJob, WorkerPool
from taskctl.runner import RunRequest, RunService
from taskctl.runs import RunStatus, Trigger, write_run_json
from taskctl.store import Store
from taskctl.workspace import Workspace
from tests.conftest import write


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    write(empty_workspace.config_dir / "taskctl.yaml", "timezone: Europe/Berlin\n")
    write(empty_workspace.config_dir / "threads.yaml", "threads:\n  job: {code: pass}\n")
    write(
        empty_workspace.config_dir / "processes.yaml", "processes:\n  busy: {threads: [job], overlap: skip}\n"
    )
    return empty_workspace


def next_event(events: SimpleQueue[DaemonEvent], kind: type[DaemonEvent]) -> DaemonEvent:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        event = events.get(timeout=30)
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__} event within 30 s")


def test_a_slot_whose_run_would_be_skipped_when_claimed_ahead_is_decided_at_its_instant(
    ws: Workspace,
) -> None:
    definition = load_config(ws).resolved("busy")
    service = RunService(ws, Store(ws.state_db), SYSTEM_CLOCK)
    blocker = service.create(definition, RunRequest()).record  # running, owned by this (live) process
    slot = datetime.fromtimestamp(math.ceil(time.time()) + 1, UTC)  # 1 to 2 s ahead
    events: SimpleQueue[DaemonEvent] = SimpleQueue()
    pool = WorkerPool(ws, events, DaemonLog(io.StringIO(), journald=False), ahead=timedelta(seconds=3))
    try:
        pool.create(
            [CreateJob(DueRun("busy", slot, Trigger.SCHEDULE, ("every 1 seconds",)), definition, None)]
        )
        # The worker has claimed what it could at once; the run in the way ends before the slot's instant.
        time.sleep(max(0.0, slot.timestamp() - 0.5 - time.time()))
        blocker.status, blocker.finished = RunStatus.SUCCEEDED, SYSTEM_CLOCK.now()
        write_run_json(blocker)
        service.store.save_run(blocker)

        handled = next_event(events, SlotHandled)
        assert isinstance(handled, SlotHandled) and handled.record is not None
        assert handled.outcome is Created.STARTED  # not skipped for a run that had ended by its instant
        assert handled.record.started >= slot
        ended = next_event(events, RunEnded)
        assert isinstance(ended, RunEnded) and ended.record.status is RunStatus.SUCCEEDED
    finally:
        assert pool.close(timeout=30)
        service.store.close()
