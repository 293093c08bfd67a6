"""Streaming a thread's output to its logs: time-stamped lines, bounded memory, capped keeping head and tail.

Output is never held in memory: a chunk read from the pipe is split into lines, stamped and written at once. A
line longer than `MAX_LINE` is cut into pieces, so a huge line without a newline cannot grow memory. Past the
cap, the first half of the cap is kept as the head, and the newest output rotates through two tail files on
disk; when the thread ends they are appended after a marker line saying how much was left out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from taskctl.clock import Clock
from taskctl.runs import Progress
from taskctl.units import format_size

CHUNK = 1024 * 1024  # bytes per read; the pipe is enlarged to match where the OS allows
MAX_LINE = 64 * 1024

LogOpener = Callable[[Path, str], BinaryIO]
Buffer = bytes | memoryview

_PROGRESS_MARK = b"::progress"
_PROGRESS = re.compile(rb"^::progress\s+(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)|(%))\s*$")


def _mentions_progress(data: bytes) -> bool:
    """True if `data` contains `::progress`; a big chunk is searched with the C library's memmem, about
    four times faster than `in` (Python 3.11), as this search is otherwise the runner's largest cost."""
    memmem = _libc_memmem() if len(data) >= 64 * 1024 else None
    if memmem is None:
        return _PROGRESS_MARK in data
    return memmem(data, len(data), _PROGRESS_MARK, len(_PROGRESS_MARK)) is not None


@functools.cache
def _libc_memmem() -> Callable[[bytes, int, bytes, int], int | None] | None:
    try:
        import ctypes

        memmem = ctypes.CDLL(None).memmem
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    function: Callable[[bytes, int, bytes, int], int | None] = memmem
    return function


def open_log(path: Path, mode: str) -> BinaryIO:
    """The default way logs are opened (tests pass another, e.g. one that fills the disk)."""
    file: BinaryIO = open(path, mode)  # type: ignore[assignment]  # noqa: SIM115 - the capture closes it
    return file


class LogWriteError(Exception):
    """Writing a log failed (a full disk, say); str() says which file and why."""


def parse_progress(line: bytes) -> Progress | None:
    """The progress in a `::progress 40/100` or `::progress 40%` line, else None."""
    match = _PROGRESS.match(line.strip())
    if not match:
        return None
    done, total, percent = match.groups()
    if percent:
        return Progress(float(done))
    total_value = float(total)
    return Progress(float(done), total_value) if total_value > 0 else None


class _Tail:
    """The newest output past the head: two files used in turn, each at most `limit` bytes."""

    def __init__(self, folder: Path, thread: str, limit: int, opener: LogOpener) -> None:
        self.paths = [folder / f".{thread}.tail-0", folder / f".{thread}.tail-1"]
        self.files = [opener(p, "w+b") for p in self.paths]
        self.sizes = [0, 0]
        self.current = 0
        self.limit = max(1, limit)

    def write(self, parts: Sequence[Buffer]) -> None:
        """Append `parts` (whole lines together), rotating so that no file grows past `limit`."""
        size = sum(len(part) for part in parts)
        if size <= self.limit:  # the usual case: written as they are, no copy
            if self.sizes[self.current] + size > self.limit:
                self._rotate()
            for part in parts:
                self.files[self.current].write(part)
            self.sizes[self.current] += size
            return
        block = b"".join(parts)
        if len(block) > 2 * self.limit:  # only the newest 2 x limit bytes can be kept
            cut = block.find(b"\n", len(block) - 2 * self.limit) + 1
            block = block[cut:] if cut else block[-2 * self.limit :]
        while len(block) > self.limit:
            cut = block.rfind(b"\n", 0, self.limit) + 1 or self.limit
            self._put(block[:cut])
            block = block[cut:]
        if block:
            self._put(block)

    def _put(self, piece: bytes) -> None:
        if self.sizes[self.current] + len(piece) > self.limit:
            self._rotate()
        self.files[self.current].write(piece)
        self.sizes[self.current] += len(piece)

    def _rotate(self) -> None:
        self.current = 1 - self.current
        file = self.files[self.current]
        file.seek(0)  # overwritten in place: reusing its cached pages is cheaper than truncating
        self.sizes[self.current] = 0

    @property
    def kept(self) -> int:
        return sum(self.sizes)

    def copy_to(self, targets: list[BinaryIO]) -> None:
        for index in (1 - self.current, self.current):
            file = self.files[index]
            file.flush()
            file.seek(0)
            left = self.sizes[index]
            while left and (block := file.read(min(left, 1024 * 1024))):
                left -= len(block)
                for target in targets:
                    target.write(block)

    def remove(self) -> None:
        for file, path in zip(self.files, self.paths, strict=True):
            file.close()
            path.unlink(missing_ok=True)


class LogCapture:
    """One thread's output going to `console.log` (shared by the run) and `<thread>.log`, at most `cap` bytes.

    Each line is written as `<local time> <thread> | <text>`; `on_progress` is called for `::progress` lines.
    Raises LogWriteError when a log cannot be written.
    """

    def __init__(
        self,
        folder: Path,
        thread: str,
        console: BinaryIO,
        cap: int,
        zone: ZoneInfo,
        clock: Clock,
        opener: LogOpener = open_log,
        on_progress: Callable[[Progress], None] | None = None,
        echo: Callable[[bytes], None] | None = None,
    ) -> None:
        self.folder = folder
        self.thread = thread
        self.zone = zone
        self.clock = clock
        self.opener = opener
        self.on_progress = on_progress
        self.echo = echo
        self.cap = cap
        self.head_limit = cap // 2 if cap > 0 else -1
        self.produced = 0
        self.head_written = 0
        self.log_name = f"{thread}.log"
        self._console = console
        self._pending = b""
        self._tail: _Tail | None = None
        self._name = thread.encode()
        try:
            self._thread_log = opener(folder / self.log_name, "ab")
        except OSError as exc:
            raise LogWriteError(f"cannot open {self.log_name}: {exc}") from exc

    def feed(self, data: bytes) -> None:
        """Take a chunk of raw output: whole lines are written now, a partial line waits for the rest."""
        end = data.rfind(b"\n") + 1
        if end:
            if self.on_progress is not None:
                self._find_progress(data, end)
            self._emit_text(data, end)  # the pending line goes first, and is done with
            data = data[end:]
        pending = self._pending + data
        cut = max(0, len(pending) - 1) // MAX_LINE * MAX_LINE  # at most MAX_LINE bytes wait for a newline
        self._pending = pending[cut:]
        if cut:
            view = memoryview(pending)
            self._emit([view[start : start + MAX_LINE] for start in range(0, cut, MAX_LINE)])

    def note(self, text: str) -> None:
        """A line of taskctl's own (an attempt starting, a timeout), written in order with the output."""
        self.end_line()
        self._emit([f"[taskctl: {text}]".encode()])

    def end_line(self) -> None:
        """Write a partial last line (output that did not end with a newline)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            self._emit([pending])

    def close(self) -> None:
        """Finish the logs: the pending line, then the marker and the kept tail if output was cut."""
        try:
            self.end_line()
            if self._tail is not None:
                omitted = self.produced - self.head_written - self._tail.kept
                marker = self._line([f"[taskctl: {format_size(omitted)} of output omitted]".encode()])
                self._write_both([marker])
                self._tail.copy_to([self._console, self._thread_log])
            self._thread_log.flush()
            self._console.flush()
        except OSError as exc:
            raise LogWriteError(f"cannot write the logs of {self.thread}: {exc}") from exc
        finally:
            if self._tail is not None:
                self._tail.remove()
            self._thread_log.close()

    def _prefix(self) -> bytes:
        now = datetime.fromtimestamp(self.clock.now().timestamp(), self.zone)
        return now.isoformat(timespec="milliseconds").encode() + b" " + self._name + b" | "

    def _line(self, lines: Sequence[Buffer]) -> bytes:
        prefix = self._prefix()
        return b"".join(part for line in lines for part in (prefix, line, b"\n"))

    def _emit(self, lines: Sequence[Buffer]) -> None:
        self._write([self._line(lines)])

    def _emit_text(self, data: bytes, end: int) -> None:
        """Write the pending line and `data[:end]` (whole lines) with a prefix on each line.

        One `replace` stamps every line; its result is written through a memoryview, without the prefix it
        puts after the last newline and the unfinished line after that, so nothing is copied again.
        """
        prefix = self._prefix()
        text = data.replace(b"\n", b"\n" + prefix)
        cut = len(text) - (len(data) - end) - len(prefix)
        parts: list[Buffer] = [prefix, memoryview(text)[:cut]]
        if self._pending:
            parts.insert(1, self._pending)
            self._pending = b""
        self._write(parts)

    def _find_progress(self, data: bytes, end: int) -> None:
        """Call `on_progress` for each `::progress` line among the pending line and `data[:end]`."""
        assert self.on_progress is not None
        # `data` is searched whole; the pending line may hold a mark too, or start one that `data` ends
        joint = self._pending + data[: len(_PROGRESS_MARK) - 1]
        if not _mentions_progress(data) and _PROGRESS_MARK not in joint:
            return
        whole = self._pending + data[:end]
        start = whole.find(_PROGRESS_MARK)
        while start >= 0:
            line_end = whole.find(b"\n", start)  # found: `whole` ends with a newline
            progress = parse_progress(whole[whole.rfind(b"\n", 0, start) + 1 : line_end])
            if progress is not None:
                self.on_progress(progress)
            start = whole.find(_PROGRESS_MARK, line_end)

    def _write(self, parts: Sequence[Buffer]) -> None:
        """Write `parts` (whole lines together) to the head while it has room, else to the tail."""
        size = sum(len(part) for part in parts)
        if self.echo is not None:
            self.echo(b"".join(parts))
        self.produced += size
        try:
            if self.head_limit < 0:
                self._write_both(parts)
                return
            room = self.head_limit - self.head_written
            if room > 0:
                if size <= room:
                    self._write_both(parts)
                    self.head_written += size
                    return
                block = b"".join(parts)  # once per capture: the output that crosses the head limit
                cut = block.rfind(b"\n", 0, room) + 1
                if cut:
                    self._write_both([block[:cut]])
                    self.head_written += cut
                    block = block[cut:]
                parts = [block]
                self.head_limit = self.head_written  # the head is closed from here on
            if self._tail is None:
                self._tail = _Tail(self.folder, self.thread, (self.cap - self.head_written) // 2, self.opener)
            self._tail.write(parts)
        except OSError as exc:
            raise LogWriteError(f"cannot write the logs of {self.thread}: {exc}") from exc

    def _write_both(self, parts: Sequence[Buffer]) -> None:
        # flushed once per chunk, so `logs -f` sees each chunk as soon as it is read
        for file in (self._console, self._thread_log):
            for part in parts:
                file.write(part)
            file.flush()
