"""Starting runs goes before recording the ends of others, in a runner that does both at once (the daemon).

When many runs are due in the same second, the runs of that burst that have already started end while the
others are still being started, and recording an end (reaping, the logs, run.json, the index) costs about as
much as a start. All of it shares one interpreter lock, so every start of the burst waited for the ends
recorded meanwhile. A runner therefore counts the runs it is starting (`begin`, and the callback it returns
once the run's first process has started); a thread whose process has exited waits until none is being
started, at most `HOLD_LIMIT` seconds, before its end is recorded (`hold`). The time held is left out of the
thread's duration and end time. The wait happens before the outcome is written anywhere, as if the process
had run that much longer: a runner that dies meanwhile leaves the run interrupted, as it would then.

A runner that starts one run at a time (`taskctl run`) never counts one: `hold` returns at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

HOLD_LIMIT = 0.5  # seconds an end waits at most for the starts in progress


class StartCounter:
    """How many runs are being started; ends wait for none to be (see the module docstring)."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._starting = 0

    def begin(self) -> Callable[[], None]:
        """Count one run being started; call the function returned once it has started (or failed to: calls
        after the first do nothing)."""
        with self._changed:
            self._starting += 1
        pending = [True]

        def started() -> None:
            with self._changed:
                if pending:
                    pending.clear()
                    self._starting -= 1
                    if self._starting == 0:
                        self._changed.notify_all()

        return started

    @property
    def starting(self) -> int:
        return self._starting

    def hold(self, limit: float | None = None) -> float:
        """Wait until no run is being started, at most `limit` seconds (`HOLD_LIMIT`); returns the seconds
        waited."""
        if self._starting == 0:  # read without the lock: a run starting right now does not need this end
            return 0.0
        began = time.monotonic()
        with self._changed:
            self._changed.wait_for(lambda: self._starting == 0, HOLD_LIMIT if limit is None else limit)
        return time.monotonic() - began


STARTS = StartCounter()
