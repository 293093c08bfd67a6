"""Output capture on its own: stamped lines, partial lines, progress marks, the head and tail past the cap."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from taskctl.clock import FakeClock
from taskctl.runner.capture import LogCapture
from taskctl.runs import Progress

STAMP = b"2026-11-22T03:00:00.000+01:00 fetch | "  # 38 bytes


class Capture:
    """A LogCapture for thread `fetch` writing into `folder`, with the progress it reported."""

    def __init__(self, folder: Path, cap: int) -> None:
        self.folder = folder
        self.clock = FakeClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
        self.progress: list[Progress] = []
        self.console = (folder / "console.log").open("ab")
        self.logs = LogCapture(
            folder,
            "fetch",
            self.console,
            cap,
            ZoneInfo("Europe/Berlin"),
            self.clock,
            on_progress=self.progress.append,
        )

    def thread_log(self) -> bytes:
        return (self.folder / "fetch.log").read_bytes()

    def console_log(self) -> bytes:
        return (self.folder / "console.log").read_bytes()


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    opened = Capture(tmp_path, cap=50 * 1024 * 1024)
    yield opened
    opened.console.close()


def test_each_chunk_is_on_disk_as_soon_as_it_is_fed(capture: Capture) -> None:
    capture.logs.feed(b"page 1\npage 2\n")

    assert capture.thread_log() == STAMP + b"page 1\n" + STAMP + b"page 2\n"
    assert capture.console_log() == capture.thread_log()


def test_a_line_split_across_chunks_is_stamped_once_when_it_ends(capture: Capture) -> None:
    capture.logs.feed(b"hel")
    capture.clock.advance(1.5)
    capture.logs.feed(b"lo\nwor")
    capture.logs.feed(b"ld\n")
    capture.logs.feed(b"no newline at the end")
    capture.logs.close()

    stamp = b"2026-11-22T03:00:01.500+01:00 fetch | "
    assert (
        capture.thread_log() == stamp + b"hello\n" + stamp + b"world\n" + stamp + b"no newline at the end\n"
    )


def test_a_progress_mark_split_across_chunks_is_still_read(capture: Capture) -> None:
    capture.logs.feed(b"starting\n::prog")
    capture.logs.feed(b"ress 3/4\ndone\n")

    assert capture.progress == [Progress(3.0, 4.0)]


def test_a_progress_line_fed_a_few_bytes_at_a_time_is_read_once(capture: Capture) -> None:
    for piece in (b"::progress", b" 1/2", b"\n", b"::progress 2/2\n"):
        capture.logs.feed(piece)

    assert capture.progress == [Progress(1.0, 2.0), Progress(2.0, 2.0)]


def test_progress_lines_inside_a_big_chunk_are_read_in_order(capture: Capture) -> None:
    lines = b"x" * 199 + b"\n"
    capture.logs.feed(lines * 1000 + b"::progress 40%\n" + lines * 1000 + b"  ::progress 9/10  \n" + lines)

    assert capture.progress == [Progress(40.0), Progress(9.0, 10.0)]


def test_text_that_only_mentions_progress_is_not_progress(capture: Capture) -> None:
    capture.logs.feed(b"see ::progress 3/4 in the docs\n::progress soon\n")

    assert capture.progress == []


def test_a_huge_line_without_newline_is_written_in_pieces_as_it_comes(capture: Capture) -> None:
    capture.logs.feed(b"z" * 150_000)

    assert capture.thread_log() == (STAMP + b"z" * 65536 + b"\n") * 2
    capture.logs.close()
    assert capture.thread_log().splitlines()[-1] == STAMP + b"z" * 18928


@pytest.mark.parametrize("chunking", ["a line per chunk", "all in one chunk"])
def test_past_the_cap_the_head_and_the_newest_lines_are_kept_around_a_marker(
    tmp_path: Path, chunking: str
) -> None:
    capture = Capture(tmp_path, cap=400)  # head: 4 lines of 46 bytes; tail files: 2 lines each
    lines = [b"line %02d\n" % number for number in range(1, 21)]

    for chunk in lines if chunking == "a line per chunk" else [b"".join(lines)]:
        capture.logs.feed(chunk)
    capture.logs.close()
    capture.console.close()

    kept = [*lines[:4], b"[taskctl: 96 B of output omitted]\n", *lines[16:]]  # 12 lines of 8 bytes
    assert capture.thread_log() == b"".join(STAMP + line for line in kept)
    assert capture.console_log() == capture.thread_log()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["console.log", "fetch.log"]


def test_lines_kept_in_the_tail_carry_the_time_they_came_not_the_time_the_log_was_closed(
    tmp_path: Path,
) -> None:
    capture = Capture(tmp_path, cap=400)  # head: 4 lines of 46 bytes; the tail holds the newest four
    for number in range(1, 21):
        capture.logs.feed(b"line %02d\n" % number)
        capture.clock.advance(1)
    capture.logs.feed(b"::progress 20/20\n")
    capture.clock.advance(60)
    capture.logs.close()
    capture.console.close()

    def stamp(second: int) -> bytes:
        return b"2026-11-22T03:00:%02d.000+01:00 fetch | " % second

    assert capture.thread_log().endswith(stamp(19) + b"line 20\n" + stamp(20) + b"::progress 20/20\n")
    assert capture.progress == [Progress(20.0, 20.0)]
    assert capture.console_log() == capture.thread_log()


def test_hundreds_of_chunks_past_the_head_keep_head_marker_and_newest_lines(tmp_path: Path) -> None:
    capture = Capture(tmp_path, cap=1_000_000)
    chunk = b"".join(b"row %06d\n" % n for n in range(10_000))  # 110 kB a chunk
    for _ in range(200):  # 22 MB through a 1 MB cap
        capture.logs.feed(chunk)
    capture.logs.feed(b"last line\n")
    capture.logs.close()
    capture.console.close()

    log = capture.thread_log()
    assert len(log) <= 1_000_000 + 100  # the cap, and the marker line
    lines = log.splitlines()
    assert lines[0] == STAMP + b"row 000000"
    assert any(b"of output omitted]" in line for line in lines)
    assert lines[-1] == STAMP + b"last line"
    assert lines[-2] == STAMP + b"row 009999"
    assert all(line.startswith(STAMP) for line in lines)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["console.log", "fetch.log"]
