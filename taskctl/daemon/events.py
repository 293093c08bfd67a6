"""What happens outside the loop, as items on its queue: config changes, SIGHUP, SIGTERM/SIGINT, and what the
workers report (a slot handled, a run ended).

Handlers only put an item on the queue; the loop does the work. The queue is a `queue.SimpleQueue`, whose
`put` may be called from a signal handler (it is reentrant, unlike `queue.Queue.put`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from queue import SimpleQueue
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskctl.config.loader import ResolvedProcess
    from taskctl.daemon.dispatch import Created
    from taskctl.daemon.scheduler import CursorKey, DueRun
    from taskctl.runner.overlap import OverlapDecision
    from taskctl.runs import RunRecord


@dataclass(frozen=True)
class ConfigChanged:
    """The content of config/ changed (`digest` is its new hash)."""

    digest: str


@dataclass(frozen=True)
class ReloadRequested:
    """Reload the config now (SIGHUP)."""

    signal: str = "SIGHUP"


@dataclass(frozen=True)
class StopRequested:
    """Stop scheduling, let running chains finish within the shutdown grace, then exit."""

    signal: str


@dataclass(frozen=True)
class SlotHandled:
    """A worker has created the run of a due slot (or found it could not)."""

    due: DueRun
    outcome: Created
    definition: ResolvedProcess
    record: RunRecord | None = None  # the run created (None: TAKEN or FAILED before anything was created)
    decision: OverlapDecision | None = None
    saved_cursors: Mapping[CursorKey, datetime] | None = None  # saved in the claiming transaction
    error: str | None = None  # FAILED: why
    started_at: datetime | None = None  # STARTED: when its first thread was started, if known


@dataclass(frozen=True)
class RunEnded:
    """A run executed by a worker has ended (its record is final)."""

    record: RunRecord


DaemonEvent = ConfigChanged | ReloadRequested | StopRequested | SlotHandled | RunEnded


def install_signal_handlers(events: SimpleQueue[DaemonEvent]) -> Callable[[], None]:
    """Turn SIGHUP into ReloadRequested and SIGTERM/SIGINT into StopRequested on `events` (main thread only).

    Returns a function that puts the previous handlers back.
    """

    def reload(number: int, frame: FrameType | None) -> None:
        events.put(ReloadRequested(signal.Signals(number).name))

    def stop(number: int, frame: FrameType | None) -> None:
        events.put(StopRequested(signal.Signals(number).name))

    previous = {
        signal.SIGHUP: signal.signal(signal.SIGHUP, reload),
        signal.SIGTERM: signal.signal(signal.SIGTERM, stop),
        signal.SIGINT: signal.signal(signal.SIGINT, stop),
    }

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore
