"""The daemon's log: one line per event on stderr, ready for journald or a terminal.

Under systemd (`$JOURNAL_STREAM` names stderr) each line starts with its syslog priority (`<6>`, `<4>`,
`<3>`), which journald strips and records, and carries no time stamp (journald adds its own). Elsewhere each
line starts with the local time, and warnings and errors say so in words.
"""

from __future__ import annotations

import os
import sys
import threading
from enum import IntEnum
from typing import TextIO

from taskctl.clock import SYSTEM_CLOCK, Clock


class Level(IntEnum):
    """Syslog priorities."""

    ERROR = 3
    WARNING = 4
    INFO = 6


class DaemonLog:
    """Writes log lines; safe to call from any thread. A failing stderr (a closed pipe) is ignored: losing a
    log line is no reason to stop scheduling."""

    def __init__(
        self, stream: TextIO | None = None, journald: bool | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._stream = stream or sys.stderr
        self._clock = clock
        self._journald = _writes_to_journal(self._stream) if journald is None else journald
        self._lock = threading.Lock()
        self._stamp: tuple[int, str] = (-1, "")  # the last second's time stamp, formatted once

    def info(self, message: str) -> None:
        self.write(Level.INFO, message)

    def warning(self, message: str) -> None:
        self.write(Level.WARNING, message)

    def error(self, message: str) -> None:
        self.write(Level.ERROR, message)

    def write(self, level: Level, message: str) -> None:
        """One line (a message spanning lines is folded onto one, so journald keeps it whole)."""
        text = " ".join(message.split("\n"))
        if self._journald:
            line = f"<{int(level)}>{text}\n"
        else:
            word = {Level.ERROR: "error: ", Level.WARNING: "warning: "}.get(level, "")
            line = f"{self._local_time()} {word}{text}\n"
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (OSError, ValueError):
                pass

    def _local_time(self) -> str:
        now = self._clock.now()
        second = int(now.timestamp())
        stamp = self._stamp
        if stamp[0] != second:  # a busy daemon logs hundreds of lines a second
            stamp = self._stamp = (second, f"{now.astimezone():%Y-%m-%d %H:%M:%S}")
        return stamp[1]


def _writes_to_journal(stream: TextIO) -> bool:
    """True if `stream` is the journal stream systemd connected (`$JOURNAL_STREAM` is `device:inode`)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"
