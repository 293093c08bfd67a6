"""The daemon's log lines: journald priorities under systemd, time stamps on a terminal, one line each."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskctl.clock import FakeClock
from taskctl.daemon.log import DaemonLog


def test_under_journald_each_line_carries_its_priority_and_no_time() -> None:
    out = io.StringIO()
    log = DaemonLog(out, journald=True)
    log.info("run a/1 started")
    log.warning("poll: 3 slot(s) missed")
    log.error("config rejected:\nline two")
    assert out.getvalue() == "<6>run a/1 started\n<4>poll: 3 slot(s) missed\n<3>config rejected: line two\n"


def test_elsewhere_each_line_starts_with_the_local_time() -> None:
    out = io.StringIO()
    log = DaemonLog(out, journald=False, clock=FakeClock(datetime(2027, 6, 1, 8, 0, 5, tzinfo=UTC)))
    log.info("started")
    log.warning("late")
    assert out.getvalue() == "2027-06-01 10:00:05 started\n2027-06-01 10:00:05 warning: late\n"


def test_journald_is_recognised_by_the_stream_systemd_connected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "log").open("w") as stream:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        DaemonLog(stream).info("hello")
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        DaemonLog(stream).info("there")
    assert (tmp_path / "log").read_text().splitlines()[0] == "<6>hello"
    assert (tmp_path / "log").read_text().splitlines()[1].endswith(" there")
