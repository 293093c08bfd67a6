"""What `run --follow` and `logs --follow` show around a run's console.

On a terminal: a status line kept at the bottom of stderr, with a bar and the step of the thread that runs
(`[#########---------------] 2/3 product_pages 40%`), a line as each thread ends, and the status words in
colour. Otherwise (output to a file or a pipe, `NO_COLOR` set, `TERM=dumb`): plain text only, no escape
codes. The console itself always goes to stdout, unchanged.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, TextIO

if TYPE_CHECKING:  # taskctl.runs is heavy to import, and `sku import` shows a WorkBar without it
    from taskctl.runs import RunRecord, RunStatus, ThreadRecord, ThreadStatus

BAR_WIDTH = 24
_CLEAR = "\r\x1b[K"
_COLOURS = {
    "succeeded": "32",  # green
    "failed": "31",  # red
    "timed_out": "31",
    "interrupted": "33",  # yellow
    "cancelled": "33",
    "skipped": "33",
    "not_run": "2",  # dim
    "running": "36",  # cyan
    "queued": "2",
}


def fancy_terminal(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """True if `stream` is a terminal that may get a redrawn status line and colours."""
    env = os.environ if environ is None else environ
    if "NO_COLOR" in env or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bar(percent: float, width: int = BAR_WIDTH) -> str:
    """`[######------]`: `percent` (0-100) of `width` filled."""
    filled = max(0, min(width, int(width * percent / 100)))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def step_line(record: RunRecord, thread: ThreadRecord) -> str:
    """`2/3 product_pages 40%`: the thread's place in the chain, its name, its progress (or its status)."""
    shown = thread.progress.text() if thread.progress is not None else str(thread.status)
    return f"{_step(record, thread)} {shown}"


def _step(record: RunRecord, thread: ThreadRecord) -> str:
    place = next(i for i, t in enumerate(record.threads, start=1) if t.name == thread.name)
    return f"{place}/{len(record.threads)} {thread.name}"


@dataclass
class RunDisplay:
    """Shows the console (stdout) and a run's progress (stderr), fancy or plain (see the module docstring)."""

    out: BinaryIO
    err: TextIO
    fancy: bool
    shown: str = ""  # the status line on screen now
    record: RunRecord | None = None  # the latest record seen
    ended: dict[str, ThreadStatus] = field(default_factory=dict)  # threads already reported as ended

    @classmethod
    def here(cls) -> RunDisplay:
        """A display on this process's stdout and stderr."""
        return cls(sys.stdout.buffer, sys.stderr, fancy_terminal(sys.stderr))

    def paint(self, status: RunStatus | ThreadStatus | str) -> str:
        """A status word, in its colour on a fancy terminal."""
        word = str(status)
        colour = _COLOURS.get(word)
        return f"\x1b[{colour}m{word}\x1b[0m" if self.fancy and colour else word

    def console(self, block: bytes) -> None:
        """Console output, on stdout; the status line steps aside for it, and follows the `::progress` lines
        in it at once (run.json records progress at most once a second)."""
        self._clear()
        self.out.write(block)
        self.out.flush()
        self._draw(self.shown)
        if self.fancy and self.record is not None and b"::progress" in block:
            self._follow_progress(block)

    def _follow_progress(self, block: bytes) -> None:
        from taskctl.runner.capture import parse_progress

        current = self.record.current if self.record is not None else None
        if current is None:
            return
        marker = b" " + current.name.encode() + b" | "
        for line in block.splitlines():
            _, found, text = line.partition(marker)
            progress = parse_progress(text) if found else None
            if progress is not None:
                current.progress = progress
        assert self.record is not None
        self._show(self.record)

    def update(self, record: RunRecord) -> None:
        """A run record changed: report the threads that ended since, and redraw the status line."""
        if not self.fancy:
            return
        self.record = copy.deepcopy(record)  # the runner goes on changing its own
        endings = []
        for thread in record.threads:
            if thread.finished is not None and thread.name not in self.ended:
                self.ended[thread.name] = thread.status
                endings.append(self._ended_line(record, thread))
        self._show(record, endings)

    def _show(self, record: RunRecord, above: list[str] | None = None) -> None:
        """Print the lines `above`, and the status line of `record` below them."""
        current = record.current
        line = ""
        if current is not None:
            percent = current.progress.percent if current.progress is not None else 0.0
            line = f"{bar(percent)} {step_line(record, current)}"
        if line == self.shown and not above:
            return
        self._clear()
        for text in above or []:
            self.err.write(text + "\n")
        self.shown = line
        self._draw(line)
        self.err.flush()

    def say(self, line: str) -> None:
        """A line on stderr, above the status line."""
        self._clear()
        self.err.write(line + "\n")
        self.err.flush()
        self._draw(self.shown)

    def close(self) -> None:
        """Take the status line off the screen."""
        self._set("")

    def clear_sequence(self) -> bytes:
        """What to write before a line that bypasses this display (a signal handler's os.write)."""
        return _CLEAR.encode() if self.fancy and self.shown else b""

    def _ended_line(self, record: RunRecord, thread: ThreadRecord) -> str:
        from taskctl.runs import ThreadStatus
        from taskctl.units import format_duration

        step = _step(record, thread)
        outcome = "" if thread.status is ThreadStatus.SUCCEEDED else f" ({thread.outcome()})"
        took = f" in {format_duration(thread.duration)}" if thread.duration is not None else ""
        return f"{step} {self.paint(thread.status)}{took}{outcome}"

    def _set(self, line: str) -> None:
        if line != self.shown:
            self._clear()
            self.shown = line
            self._draw(line)

    def _clear(self) -> None:
        if self.fancy and self.shown:
            self.err.write(_CLEAR)
            self.err.flush()

    def _draw(self, line: str) -> None:
        if self.fancy and line:
            width = shutil.get_terminal_size((80, 24)).columns
            self.err.write(line[: max(10, width - 1)])  # one row: a wrapped line could not be redrawn
            self.err.flush()


@dataclass
class WorkBar:
    """`[#####-----]  40% reading products.csv` on stderr while a long SKU import or export works: redrawn
    only when it changes, taken off the screen by `close` (so that lines printed afterwards start clean)."""

    label: str
    err: TextIO
    shown: str = ""

    @classmethod
    def here(cls, label: str, wanted: bool = True) -> WorkBar | None:
        """A bar on this process's stderr, if `wanted` and both stdout and stderr are fancy terminals (output
        read by a program, or kept in a file, gets no escape codes)."""
        if wanted and fancy_terminal(sys.stderr) and fancy_terminal(sys.stdout):
            return cls(label, sys.stderr)
        return None

    def __call__(self, phase: str, done: int, total: int) -> None:
        """Show `done` of `total` in `phase` (the import's or export's progress callback)."""
        percent = min(100.0, 100.0 * done / total) if total else 100.0
        line = f"{bar(percent)} {int(percent):3d}% {phase} {self.label}"  # a narrow terminal cuts the label
        if line != self.shown:
            width = shutil.get_terminal_size((80, 24)).columns
            self.err.write(_CLEAR + line[: max(10, width - 1)])
            self.err.flush()
            self.shown = line

    def close(self) -> None:
        """Take the bar off the screen."""
        if self.shown:
            self.err.write(_CLEAR)
            self.err.flush()
            self.shown = ""
