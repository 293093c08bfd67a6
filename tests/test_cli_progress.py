"""The display of a followed run: a status line and colours on a terminal, plain text elsewhere."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskctl.cli.progress import RunDisplay, bar, fancy_terminal
from taskctl.runs import Progress, RunId, RunRecord, RunStatus, ThreadRecord, ThreadStatus, Trigger

STARTED = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(*threads: ThreadRecord) -> RunRecord:
    return RunRecord(
        id=RunId("nightly/2026-11-22_02-30-00"),
        process="nightly",
        trigger=Trigger.MANUAL,
        status=RunStatus.RUNNING,
        started=STARTED,
        folder=Path("/nowhere"),
        threads=list(threads),
    )


def ended(name: str, status: ThreadStatus, seconds: float, exit_code: int = 0) -> ThreadRecord:
    thread = ThreadRecord(name=name, started=STARTED, exit_code=exit_code)
    thread.end(status, STARTED + timedelta(seconds=seconds))
    return thread


def running(name: str, progress: Progress | None = None) -> ThreadRecord:
    return ThreadRecord(name=name, status=ThreadStatus.RUNNING, started=STARTED, progress=progress)


def test_the_status_line_shows_a_bar_the_step_the_thread_and_its_progress() -> None:
    err = Terminal()
    display = RunDisplay(io.BytesIO(), err, fancy=True)

    display.update(
        record(
            ended("login", ThreadStatus.SUCCEEDED, 2.1),
            running("product_pages", Progress(40)),
            ThreadRecord("summary"),
        )
    )

    assert err.getvalue() == (
        "1/3 login \x1b[32msucceeded\x1b[0m in 2.1s\n[#########---------------] 2/3 product_pages 40%"
    )


def test_console_output_goes_to_stdout_under_the_status_line_which_follows_its_progress() -> None:
    out, err = io.BytesIO(), Terminal()
    display = RunDisplay(out, err, fancy=True)
    display.update(record(running("pages")))

    display.console(b"2026-11-22T01:30:01.000+00:00 pages | ::progress 3/4\n")

    assert out.getvalue() == b"2026-11-22T01:30:01.000+00:00 pages | ::progress 3/4\n"
    assert err.getvalue().endswith("\r\x1b[K[##################------] 1/1 pages 3/4 (75%)")


def test_a_failed_thread_is_red_with_its_outcome_and_closing_clears_the_line() -> None:
    err = Terminal()
    display = RunDisplay(io.BytesIO(), err, fancy=True)
    display.update(record(running("fetch")))

    display.update(record(ended("fetch", ThreadStatus.FAILED, 12, exit_code=3)))
    display.close()

    assert err.getvalue() == (
        "[------------------------] 1/1 fetch running\r\x1b[K1/1 fetch \x1b[31mfailed\x1b[0m in 12s (exit 3)\n"
    )


def test_plain_output_has_the_console_and_no_escape_codes() -> None:
    out, err = io.BytesIO(), io.StringIO()
    display = RunDisplay(out, err, fancy=False)

    display.update(record(running("pages", Progress(50))))
    display.console(b"x | ::progress 50%\n")
    display.close()

    assert (out.getvalue(), err.getvalue()) == (b"x | ::progress 50%\n", "")
    assert display.paint(RunStatus.FAILED) == "failed"


@pytest.mark.parametrize(
    ("stream", "environ", "fancy"),
    [
        (Terminal(), {"TERM": "xterm-256color"}, True),
        (Terminal(), {"TERM": "xterm", "NO_COLOR": "1"}, False),
        (Terminal(), {"TERM": "dumb"}, False),
        (io.StringIO(), {"TERM": "xterm"}, False),
    ],
    ids=["terminal", "NO_COLOR", "TERM=dumb", "a file or a pipe"],
)
def test_only_a_terminal_without_no_color_gets_the_fancy_display(
    stream: io.StringIO, environ: dict[str, str], fancy: bool
) -> None:
    assert fancy_terminal(stream, environ) is fancy


def test_the_bar_is_filled_in_proportion_and_stays_in_bounds() -> None:
    assert [bar(p, 4) for p in (0, 50, 100, 140)] == ["[----]", "[##--]", "[####]", "[####]"]
