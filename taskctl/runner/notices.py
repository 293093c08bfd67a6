"""A run's webhook notifications: sent in the background, their outcomes kept in the run's console log and
run.json.

Outcomes arrive on delivery threads, while the run's own thread may be writing the same files. So while the
run goes on, an outcome only waits in a list (under a lock) and the run's thread writes it at its next
record (a thread boundary, a progress save, the end), in order with the output. Once the run has ended and
its last record is written (`close`), nobody else writes its files: an outcome is then appended to
console.log and run.json by the delivery thread itself, one at a time.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO
from zoneinfo import ZoneInfo

from taskctl.clock import Clock
from taskctl.config.loader import ResolvedProcess
from taskctl.config.models import NotifyTarget
from taskctl.runs import CONSOLE_LOG, RunRecord, write_run_json

if TYPE_CHECKING:  # taskctl.notify (urllib) is imported only by runs that notify
    from taskctl.notify import DeliveryOutcome

Deliver = Callable[[str, NotifyTarget, Mapping[str, Any]], "DeliveryOutcome"]

# Every RunNotices of this process, while something refers to it (its delivery threads do, until they end):
# what a long-lived runner (the daemon) waits for before it exits.
_LIVE: weakref.WeakSet[RunNotices] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def pending_deliveries() -> int:
    """How many deliveries of any run of this process are still going."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    return sum(notices.pending() for notices in live)


def wait_for_deliveries(timeout: float) -> bool:
    """Wait up to `timeout` seconds for the deliveries of every run of this process; True if none is left."""
    deadline = time.monotonic() + timeout
    with _LIVE_LOCK:
        live = list(_LIVE)
    return all(notices.wait(max(0.0, deadline - time.monotonic())) for notices in live)


class RunNotices:
    """The notifications of one run (of a process that names notify targets)."""

    def __init__(
        self,
        definition: ResolvedProcess,
        record: RunRecord,
        workspace_name: str,
        clock: Clock,
        deliver_one: Deliver | None = None,
    ) -> None:
        from taskctl.notify import Notifier, deliver

        self.record = record
        self._zone = ZoneInfo(definition.zone_name)
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: list[tuple[DeliveryOutcome, datetime]] = []
        self._console: BinaryIO | None = None
        self._closed = False
        self._notifier = Notifier.for_process(
            definition.name, definition.notify, workspace_name, self._arrived, deliver_one or deliver
        )
        with _LIVE_LOCK:
            _LIVE.add(self)

    # -- the run's thread ------------------------------------------------------------------------------

    def started(self) -> None:
        """The run has started: tell the `start` targets."""
        self._notifier.run_started(self.record)

    def attempt_failed(self, thread: str) -> None:
        """An attempt of `thread` failed and another follows: tell the `failure` targets."""
        self._notifier.attempt_failed(self.record, thread)

    def finished(self) -> None:
        """The run has ended (its record is written): tell the targets its status concerns."""
        self._notifier.run_finished(self.record)

    def attach(self, console: BinaryIO) -> None:
        """Write outcomes to `console` (the run's open console log) when `flush` is called."""
        self._console = console

    def flush(self) -> None:
        """Move the outcomes that arrived into the record, and their lines into the console log. Called by the
        run's thread just before it writes run.json."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
            for outcome, moment in waiting:
                self.record.notifications.append(outcome.to_json())
                if self._console is not None:
                    with contextlib.suppress(OSError, ValueError):
                        self._console.write(self._line(outcome, moment))
            if waiting and self._console is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._console.flush()

    def detach(self) -> None:
        """The console log is about to be closed."""
        self._console = None

    def close(self) -> None:
        """The run's last record is written: from now on outcomes are written as they arrive, by the thread
        that delivered them (those that came since the last flush too)."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            if waiting:
                self._write_after_end(waiting)

    # -- any thread ------------------------------------------------------------------------------------

    def pending(self) -> int:
        """How many deliveries are still going."""
        return self._notifier.pending()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the deliveries started so far; False if some are still going after `timeout` s."""
        return self._notifier.wait(timeout)

    def _arrived(self, outcome: DeliveryOutcome) -> None:
        with self._lock:
            if self._closed:
                self._write_after_end([(outcome, self._clock.now())])
            else:
                self._waiting.append((outcome, self._clock.now()))

    def _write_after_end(self, outcomes: list[tuple[DeliveryOutcome, datetime]]) -> None:
        """Append to console.log and rewrite run.json (the lock is held). A run folder removed meanwhile (by
        retention) is left alone."""
        folder = self.record.folder
        if not folder.is_dir():
            return
        for outcome, _ in outcomes:
            self.record.notifications.append(outcome.to_json())
        with contextlib.suppress(OSError), (folder / CONSOLE_LOG).open("ab") as console:
            console.write(b"".join(self._line(outcome, moment) for outcome, moment in outcomes))
        with contextlib.suppress(OSError):
            write_run_json(self.record)

    def _line(self, outcome: DeliveryOutcome, moment: datetime) -> bytes:
        stamp = moment.astimezone(self._zone).isoformat(timespec="milliseconds")
        return f"{stamp} taskctl | [{outcome.summary()}]\n".encode()
