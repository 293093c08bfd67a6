"""What a run is on disk: statuses, triggers, and `run.json`, the durable record of one run (DESIGN §4).

The run index in the state DB (`taskctl.store`) is a copy of these records and can be rebuilt from them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

RUN_JSON = "run.json"
CONSOLE_LOG = "console.log"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        """True once the run can no longer change."""
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


class ThreadStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


class Trigger(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    CATCH_UP = "catch-up"


def utc_text(moment: datetime | None) -> str | None:
    """A UTC instant as fixed-width ISO-8601 ending in Z (sorts as text, as the index relies on)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str | None) -> datetime | None:
    """The inverse of `utc_text` (also accepts any ISO-8601 with an offset)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Progress:
    """The latest `::progress` a thread reported: `done` of `total`, or a percentage."""

    done: float
    total: float | None = None

    @property
    def percent(self) -> float:
        if self.total:
            return max(0.0, min(100.0, 100.0 * self.done / self.total))
        return max(0.0, min(100.0, self.done))

    def text(self) -> str:
        if self.total:
            return f"{_number(self.done)}/{_number(self.total)} ({self.percent:.0f}%)"
        return f"{self.percent:.0f}%"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


@dataclass
class ThreadRecord:
    """One thread of a run, as kept in run.json."""

    name: str
    status: ThreadStatus = ThreadStatus.QUEUED
    exit_code: int | None = None
    signal: str | None = None  # e.g. "SIGKILL" when the thread died by a signal
    started: datetime | None = None
    finished: datetime | None = None
    duration: float | None = None
    attempts: int = 0
    progress: Progress | None = None
    log: str = ""
    error: str | None = None

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)

    def outcome(self) -> str:
        """`exit 3`, `signal SIGKILL`, or `-`."""
        if self.signal:
            return f"signal {self.signal}"
        if self.exit_code is not None:
            return f"exit {self.exit_code}"
        return "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "exit_code": self.exit_code,
            "signal": self.signal,
            "started": utc_text(self.started),
            "finished": utc_text(self.finished),
            "duration": self.duration,
            "attempts": self.attempts,
            "retries": self.retries,
            "progress": None
            if self.progress is None
            else {**asdict(self.progress), "percent": self.progress.percent},
            "log": self.log,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ThreadRecord:
        progress = data.get("progress")
        return cls(
            name=str(data["name"]),
            status=ThreadStatus(data.get("status", "queued")),
            exit_code=data.get("exit_code"),
            signal=data.get("signal"),
            started=parse_utc(data.get("started")),
            finished=parse_utc(data.get("finished")),
            duration=data.get("duration"),
            attempts=int(data.get("attempts", 0)),
            progress=None if not progress else Progress(progress["done"], progress.get("total")),
            log=str(data.get("log", "")),
            error=data.get("error"),
        )


@dataclass
class RunRecord:
    """One run of a process: the content of its run.json."""

    id: str
    process: str
    folder: Path
    trigger: Trigger
    status: RunStatus
    started: datetime
    scheduled_for: datetime | None = None
    finished: datetime | None = None
    config_revision: str = ""
    user: str = ""
    host: str = ""
    pid: int | None = None
    pid_start: int | None = None  # the runner's start time (clock ticks), to tell a reused pid apart
    owner: str = "cli"  # who runs it: "cli" (a `taskctl run` process) or "daemon"
    child_pgid: int | None = None  # the process group of the thread running now
    threads: list[ThreadRecord] = field(default_factory=list)
    error: str | None = None

    @property
    def duration(self) -> float | None:
        if self.finished is None:
            return None
        return max(0.0, (self.finished - self.started).total_seconds())

    @property
    def failed_thread(self) -> str | None:
        for thread in self.threads:
            if thread.status in (
                ThreadStatus.FAILED,
                ThreadStatus.TIMED_OUT,
                ThreadStatus.CANCELLED,
                ThreadStatus.INTERRUPTED,
            ):
                return thread.name
        return None

    @property
    def current(self) -> ThreadRecord | None:
        """The thread running now, if any."""
        return next((t for t in self.threads if t.status is ThreadStatus.RUNNING), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "process": self.process,
            "trigger": str(self.trigger),
            "scheduled_for": utc_text(self.scheduled_for),
            "started": utc_text(self.started),
            "finished": utc_text(self.finished),
            "duration": self.duration,
            "status": str(self.status),
            "config_revision": self.config_revision,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "owner": self.owner,
            "child_pgid": self.child_pgid,
            "error": self.error,
            "threads": [t.to_json() for t in self.threads],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> RunRecord:
        started = parse_utc(data["started"])
        if started is None:
            raise ValueError("'started' is empty")
        return cls(
            id=str(data["id"]),
            process=str(data["process"]),
            folder=folder,
            trigger=Trigger(data.get("trigger", "manual")),
            status=RunStatus(data["status"]),
            started=started,
            scheduled_for=parse_utc(data.get("scheduled_for")),
            finished=parse_utc(data.get("finished")),
            config_revision=str(data.get("config_revision", "")),
            user=str(data.get("user", "")),
            host=str(data.get("host", "")),
            pid=data.get("pid"),
            pid_start=data.get("pid_start"),
            owner=str(data.get("owner", "cli")),
            child_pgid=data.get("child_pgid"),
            error=data.get("error"),
            threads=[ThreadRecord.from_json(t) for t in data.get("threads", [])],
        )


class RunJsonError(Exception):
    """A run.json that cannot be read; str() says which file and why."""


def write_run_json(record: RunRecord) -> None:
    """Write `record` to its folder's run.json atomically (temp file + rename), so readers never see half."""
    data = json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n"
    fd, temp = tempfile.mkstemp(prefix=".run.json.", dir=record.folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(data)
        os.replace(temp, record.folder / RUN_JSON)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_run_json(folder: Path) -> RunRecord:
    """The record in `folder`/run.json; raises RunJsonError naming the file when it cannot be read."""
    path = folder / RUN_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        return RunRecord.from_json(data, folder)
    except FileNotFoundError:
        raise RunJsonError(f"{path} is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunJsonError(f"{path} is unreadable: {exc}") from None
