"""Streaming a thread's output to its logs: time-stamped lines, bounded memory, capped keeping head and tail.

A chunk read from the pipe is split into lines, stamped and written at once. A line longer than `MAX_LINE` is
cut into pieces, so a huge line without a newline cannot grow memory. Past the cap, the first half of the cap
is kept as the head; of what follows only the newest lines are kept, in memory (at most TAIL_MEMORY: the rest
of the cap, up to 10 MiB), and when the thread ends they are written after a marker line saying how much was
left out. A thread printing hundreds of MB costs no disk writes past the head.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from zoneinfo import ZoneInfo

from taskctl.clock import Clock
from taskctl.runs import Progress
from taskctl.units import format_size

CHUNK = 1024 * 1024  # bytes per read; the pipe is enlarged to match where the OS allows
MAX_LINE = 64 * 1024
TAIL_MEMORY = 10 * 1024 * 1024

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


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Discard:
    """Where write_to writes when only its count is wanted."""

    def write(self, data: bytes, /) -> int:
        return len(data)


class _Tail:
    """The newest output past the head, in memory and not yet stamped: each write's lines kept together
    with the stamp they get, the oldest dropped first so that at most `limit` bytes are held. Only what is
    kept to the end is stamped (in `stamped`), not the hundreds of MB a noisy thread can push through."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._held = 0
        self._writes: deque[tuple[bytes, bytes, bool]] = deque()  # (stamp, lines, already stamped)

    def write(self, stamp: bytes, lines: bytes, stamped: bool = False) -> None:
        """Keep `lines` (whole lines, each ending in a newline) that get `stamp` in front of each (or have it
        already, if `stamped`)."""
        self._writes.append((stamp, lines, stamped))
        self._held += len(lines)
        while self._held > self.limit and len(self._writes) > 1:
            self._held -= len(self._writes.popleft()[1])
        if self._held > self.limit:  # one write of more than the limit: its newest lines
            stamp, lines, stamped = self._writes[0]
            cut = lines.find(b"\n", len(lines) - self.limit) + 1
            self._writes[0] = (stamp, lines[cut:] if cut else lines[-self.limit :], stamped)
            self._held = len(self._writes[0][1])

    def write_to(self, targets: Sequence[_Writable], room: int) -> int:
        """Write the newest kept lines that fit in `room` bytes, stamped, to each of `targets`, oldest
        first; returns how many bytes of output (without the stamps) they hold. One write is stamped at a
        time, so this takes little more memory than the tail itself."""
        first = len(self._writes)
        cut = 0  # where the oldest write that is kept starts: after a newline, if only part of it fits
        for index in range(len(self._writes) - 1, -1, -1):
            stamp, lines, stamped = self._writes[index]
            size = len(lines) if stamped else len(lines) + len(stamp) * lines.count(b"\n")
            if size <= room:
                first, room = index, room - size
                continue
            text = self._text(index)
            cut = text.find(b"\n", len(text) - room - 1) + 1 if room else 0
            if cut:
                first = index
            break
        raw = 0
        for index in range(first, len(self._writes)):
            text = self._text(index)[cut if index == first else 0 :]
            raw += len(text) - len(self._writes[index][0]) * text.count(b"\n")
            for target in targets:
                target.write(text)
        return raw

    def _text(self, index: int) -> bytes:
        stamp, lines, stamped = self._writes[index]
        return lines if stamped else (stamp + lines).replace(b"\n", b"\n" + stamp)[: -len(stamp)]


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
        self.produced = 0  # bytes of output (lines without their stamps)
        self.head_written = 0  # bytes written to the head, stamps and all
        self.head_raw = 0
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
                targets = [self._console, self._thread_log]
                room = self.cap - self.head_written
                kept = self._tail.write_to([_Discard()], room)  # to say first how much was left out
                omitted = self.produced - self.head_raw - kept
                marker = self._line([f"[taskctl: {format_size(omitted)} of output omitted]".encode()])
                self._write_both([marker])
                self._tail.write_to(targets, room)
            self._thread_log.flush()
            self._console.flush()
        except OSError as exc:
            raise LogWriteError(f"cannot write the logs of {self.thread}: {exc}") from exc
        finally:
            self._thread_log.close()

    def _prefix(self) -> bytes:
        now = datetime.fromtimestamp(self.clock.now().timestamp(), self.zone)
        return now.isoformat(timespec="milliseconds").encode() + b" " + self._name + b" | "

    def _line(self, lines: Sequence[Buffer]) -> bytes:
        prefix = self._prefix()
        return b"".join(part for line in lines for part in (prefix, line, b"\n"))

    def _emit(self, lines: Sequence[Buffer]) -> None:
        if self._into_tail():
            self._to_tail(b"".join(part for line in lines for part in (line, b"\n")))
            return
        raw = sum(len(line) + 1 for line in lines)
        self._write([self._line(lines)], raw, len(self._prefix()))

    def _into_tail(self) -> bool:
        """Whether output now goes to the tail unstamped: the head is full and nobody watches it live."""
        return self._tail is not None and self.echo is None

    def _to_tail(self, lines: bytes) -> None:
        assert self._tail is not None
        self.produced += len(lines)
        self._tail.write(self._prefix(), lines)

    def _emit_text(self, data: bytes, end: int) -> None:
        """Write the pending line and `data[:end]` (whole lines) with a prefix on each line.

        One `replace` stamps every line; its result is written through a memoryview, without the prefix it
        puts after the last newline and the unfinished line after that, so nothing is copied again.
        """
        if self._into_tail():
            lines, self._pending = self._pending + data[:end], b""
            self._to_tail(lines)
            return
        prefix = self._prefix()
        text = data.replace(b"\n", b"\n" + prefix)
        cut = len(text) - (len(data) - end) - len(prefix)
        parts: list[Buffer] = [prefix, memoryview(text)[:cut]]
        raw = end
        if self._pending:
            parts.insert(1, self._pending)
            raw += len(self._pending)
            self._pending = b""
        self._write(parts, raw, len(prefix))

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

    def _write(self, parts: Sequence[Buffer], raw: int, stamp_size: int) -> None:
        """Write `parts` (whole lines together, stamped: `raw` bytes of output with a stamp of `stamp_size`
        on each line) to the head while it has room, else to the tail."""
        size = sum(len(part) for part in parts)
        if self.echo is not None:
            self.echo(b"".join(parts))
        self.produced += raw
        try:
            if self.head_limit < 0:
                self._write_both(parts)
                return
            room = self.head_limit - self.head_written
            if room > 0:
                if size <= room:
                    self._write_both(parts)
                    self.head_written += size
                    self.head_raw += raw
                    return
                block = b"".join(parts)  # once per capture: the output that crosses the head limit
                cut = block.rfind(b"\n", 0, room) + 1
                if cut:
                    self._write_both([block[:cut]])
                    self.head_written += cut
                    self.head_raw += cut - stamp_size * block.count(b"\n", 0, cut)
                    block = block[cut:]
                parts = [block]
                self.head_limit = self.head_written  # the head is closed from here on
            if self._tail is None:
                self._tail = _Tail(min(self.cap - self.head_written, TAIL_MEMORY))
            self._tail.write(b" " * stamp_size, b"".join(parts), stamped=True)
        except OSError as exc:
            raise LogWriteError(f"cannot write the logs of {self.thread}: {exc}") from exc

    def _write_both(self, parts: Sequence[Buffer]) -> None:
        # flushed once per chunk, so `logs -f` sees each chunk as soon as it is read
        for file in (self._console, self._thread_log):
            for part in parts:
                file.write(part)
            file.flush()
