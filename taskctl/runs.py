"""What a run is: its id, statuses, triggers, owner, and `run.json`, its durable record (docs/runs.md).

The fields of a run are declared once, in `RunFields`. `run.json` (`RunRecord`), the run index columns and the
index row (`RunRow`, in `taskctl.store`) all follow from that declaration: adding a field there adds it to
each. The run index in the state DB is a copy of these records and can be rebuilt from them.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

RUN_JSON = "run.json"
CONSOLE_LOG = "console.log"
STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
_STAMP_LENGTH = len("2026-11-22_02-30-00")
_RUN_ID = re.compile(r"^([a-z0-9][a-z0-9_-]*)/([^/.][^/]*)$")


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


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


def parse_statuses(values: Iterable[str], option: str = "--status") -> list[RunStatus]:
    """The run statuses `values` name; a UsageError naming `option` and the closest status otherwise."""
    from taskctl.errors import UsageError, closest

    known = [s.value for s in RunStatus]
    chosen = []
    for value in values:
        if value not in known:
            hint = closest(value, known)
            tail = f"did you mean '{hint}'?" if hint else f"use one of {', '.join(known)}."
            raise UsageError(f"{option} '{value}' is not a run status; {tail}")
        chosen.append(RunStatus(value))
    return chosen


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


class RunOwner(StrEnum):
    """Who runs a run, which decides how it is cancelled."""

    CLI = "cli"  # a `taskctl run` process: cancelled by a signal to its pid
    DAEMON = "daemon"  # the daemon: cancelled by setting `cancel_requested`, which it polls


class RunId(str):
    """A run's id, `<process>/<stamp>`: the run folder `process/<process>/<stamp>/` relative to the workspace.

    The stamp is the start time in the workspace zone, with `-2`, `-3`... when runs start in the same second.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> RunId:
        if not _RUN_ID.match(text):
            raise ValueError(f"'{text}' is not a run id (PROCESS/YYYY-MM-DD_HH-MM-SS)")
        return super().__new__(cls, text)

    @classmethod
    def of(cls, process: str, stamp: str) -> RunId:
        return cls(f"{process}/{stamp}")

    @classmethod
    def parse(cls, text: str) -> RunId | None:
        """The run id `text` spells, or None if it is not one."""
        return cls(text) if _RUN_ID.match(text) else None

    @property
    def process(self) -> str:
        return self.split("/", 1)[0]

    @property
    def stamp(self) -> str:
        return self.split("/", 1)[1]

    def sort_key(self) -> tuple[str, str, int, str]:
        """Orders runs of one process by stamp, then by suffix as a number (`-2` before `-10`)."""
        stamp = self.stamp
        base, suffix = stamp[:_STAMP_LENGTH], stamp[_STAMP_LENGTH:].removeprefix("-")
        return (self.process, base, int(suffix) if suffix.isdigit() else 0, suffix)


def run_stamp(moment: datetime, zone: ZoneInfo) -> str:
    """The run folder name for a run starting at `moment`, in the workspace zone."""
    return moment.astimezone(zone).strftime(STAMP_FORMAT)


def utc_text(moment: datetime | None) -> str | None:
    """A UTC instant as fixed-width ISO-8601 ending in Z (sorts as text, as the index relies on)."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat ("...ffffff+00:00"), not strftime: a third faster, and the daemon formats several per run
    return f"{moment.isoformat(timespec='microseconds')[:26]}Z"


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
class TestCounts:
    """The counts of a test thread's pytest run (from its JUnit XML); `junit`: the file in the run folder."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    junit: str | None = None

    def __add__(self, other: TestCounts) -> TestCounts:
        return TestCounts(
            self.passed + other.passed,
            self.failed + other.failed,
            self.skipped + other.skipped,
            self.errors + other.errors,
        )

    def text(self) -> str:
        """`3 passed, 1 failed, 0 skipped, 0 errors`."""
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped, {self.errors} errors"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "errors": self.errors,
        }
        if self.junit is not None:
            data["junit"] = self.junit
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestCounts:
        return cls(
            int(data.get("passed", 0)),
            int(data.get("failed", 0)),
            int(data.get("skipped", 0)),
            int(data.get("errors", 0)),
            data.get("junit"),
        )


@dataclass
class SkuImport:
    """What became of a thread's output file in the SKU table: the counts of an import, or the problems that
    rejected it (then nothing was imported)."""

    file: str
    into_skus: str
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    summary: str = ""  # the import's own sentence, as `sku import` prints it
    ignored_columns: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        """`results.csv into the SKU table: imported 3 rows: 2 updated, 1 unchanged` (or why it was
        rejected)."""
        if self.rejected:
            more = f" (and {len(self.rejected) - 1} more)" if len(self.rejected) > 1 else ""
            return f"{self.file} rejected, nothing imported: {self.rejected[0]}{more}"
        return f"{self.file} into the SKU table: {self.summary}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SkuImport:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


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
    note: str | None = None  # what taskctl did instead of running it (an empty SKU selection, say)
    input_skus: int | None = None  # how many SKU table rows its input CSV holds
    skus_import: SkuImport | None = None  # its output file, imported into the SKU table
    result: Any = None  # a `func` thread's return value (JSON)
    tests: TestCounts | None = None  # a `test` thread's counts

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

    def end(self, status: ThreadStatus, moment: datetime) -> None:
        """Record that the thread ended at `moment` (its duration follows from its start)."""
        self.status = status
        self.finished = moment
        if self.started is not None and self.duration is None:
            self.duration = round(max(0.0, (moment - self.started).total_seconds()), 3)

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
            "note": self.note,
            "input_skus": self.input_skus,
            "skus_import": None if self.skus_import is None else self.skus_import.to_json(),
            "result": self.result,
            "tests": None if self.tests is None else self.tests.to_json(),
        }

    def details(self) -> list[str]:
        """What `show` says of the thread beyond its status: a note, its SKU input and output, its callable's
        return value, its tests."""
        lines = []
        if self.note:
            lines.append(self.note)
        if self.input_skus is not None:
            noun = "row" if self.input_skus == 1 else "rows"
            lines.append(f"input: {self.input_skus} {noun} of the SKU table")
        if self.skus_import is not None:
            lines.append(self.skus_import.sentence())
            lines.extend(f"  {problem}" for problem in self.skus_import.rejected[1:])
            if self.skus_import.ignored_columns:
                ignored = ", ".join(self.skus_import.ignored_columns)
                lines.append(f"ignored columns (not SKU columns): {ignored}")
        if self.result is not None:
            shown = json.dumps(self.result, ensure_ascii=False)
            lines.append(f"returned {shown if len(shown) <= 200 else shown[:197] + '...'}")
        if self.tests is not None:
            junit = f" ({self.tests.junit})" if self.tests.junit else ""
            lines.append(f"tests: {self.tests.text()}{junit}")
        return lines

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ThreadRecord:
        progress = data.get("progress")
        skus_import = data.get("skus_import")
        tests = data.get("tests")
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
            note=data.get("note"),
            input_skus=data.get("input_skus"),
            skus_import=SkuImport.from_json(skus_import) if isinstance(skus_import, dict) else None,
            result=data.get("result"),
            tests=TestCounts.from_json(tests) if isinstance(tests, dict) else None,
        )


# -- the one declaration of a run's fields -----------------------------------------------------------


@dataclass(kw_only=True)
class RunFields:
    """The fields every shape of a run has: run.json keys, index columns, `RunRow` attributes."""

    id: RunId
    process: str
    trigger: Trigger
    status: RunStatus
    started: datetime
    scheduled_for: datetime | None = None  # the schedule slot this run fills (the daemon's runs)
    finished: datetime | None = None
    config_revision: str = ""
    user: str = ""
    host: str = ""  # the machine the runner runs on; only that machine may declare it dead
    owner: RunOwner = RunOwner.CLI
    pid: int | None = None  # the runner's pid
    pid_start: int | None = None  # the runner's start time (clock ticks), to tell a reused pid apart
    child_pgid: int | None = None  # the process group of the thread running now
    error: str | None = None

    @property
    def duration(self) -> float | None:
        if self.finished is None:
            return None
        return round(max(0.0, (self.finished - self.started).total_seconds()), 3)


@dataclass(frozen=True)
class Codec:
    """How one field's value is written to JSON/SQLite and read back."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _optional(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else decode(value)


def same(value: Any) -> Any:
    """The encoder of values that JSON and SQLite keep as they are."""
    return value


_PLAIN = Codec(same, same)
_CODECS: dict[object, Codec] = {
    datetime: Codec(utc_text, parse_utc),
    RunId: Codec(str, RunId),
    bool: Codec(int, bool),
    Trigger: Codec(str, Trigger),
    RunStatus: Codec(str, RunStatus),
    RunOwner: Codec(str, RunOwner),
    # kept in SQLite as JSON text (`RunRow.to_json` shows the mapping)
    TestCounts: Codec(
        lambda counts: None if counts is None else json.dumps(counts.to_json()),
        lambda text: TestCounts.from_json(json.loads(text)),
    ),
}


def field_codecs(cls: type) -> dict[str, Codec]:
    """Each field of the dataclass `cls` with its codec, in declaration order."""
    hints = typing.get_type_hints(cls)
    codecs: dict[str, Codec] = {}
    for item in fields(cls):
        hint = hints[item.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = bool(args) and len(args) < len(typing.get_args(hint))
        base = args[0] if optional and len(args) == 1 else hint
        codec = _CODECS.get(base, _PLAIN)
        codecs[item.name] = Codec(codec.encode, _optional(codec.decode)) if optional else codec
    return codecs


RUN_FIELDS = field_codecs(RunFields)


def encode_fields(run: RunFields) -> dict[str, Any]:
    """The declared fields of `run` as JSON/SQLite values."""
    return {name: codec.encode(getattr(run, name)) for name, codec in RUN_FIELDS.items()}


def decode_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The declared fields from JSON/SQLite values (missing optional ones take their defaults)."""
    return {name: codec.decode(data[name]) for name, codec in RUN_FIELDS.items() if name in data}


@dataclass(kw_only=True)
class RunRecord(RunFields):
    """One run of a process: the content of its run.json."""

    folder: Path
    threads: list[ThreadRecord] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # webhook delivery outcomes

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
    def tests(self) -> TestCounts | None:
        """The test counts of its test threads added up, or None if it has none."""
        counts = [t.tests for t in self.threads if t.tests is not None]
        return sum(counts, TestCounts()) if counts else None

    @property
    def current(self) -> ThreadRecord | None:
        """The thread running now, if any."""
        return next((t for t in self.threads if t.status is ThreadStatus.RUNNING), None)

    def to_json(self) -> dict[str, Any]:
        return {
            **encode_fields(self),
            "duration": self.duration,
            "threads": [t.to_json() for t in self.threads],
            "notifications": list(self.notifications),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> RunRecord:
        values = decode_fields(data)
        if values.get("started") is None:
            raise ValueError("'started' is empty")
        values.setdefault("trigger", Trigger.MANUAL)
        return cls(
            **values,
            folder=folder,
            threads=[ThreadRecord.from_json(t) for t in data.get("threads", [])],
            notifications=[n for n in data.get("notifications", []) if isinstance(n, dict)],
        )


class RunJsonError(Exception):
    """A run.json that cannot be read; str() says which file and why."""


def write_run_json(record: RunRecord) -> None:
    """Write `record` to its folder's run.json atomically (temp file + rename), so readers never see half.

    The file is created like any other (mode 0666 less the umask), not 0600 as a temp file would be.
    """
    data = _layout(record.to_json()).encode()
    temp = record.folder / f".run.json.{os.urandom(4).hex()}"  # as secrets.token_hex, without random
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:  # a regular file takes it all at once; a file object per write cost more than this
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, record.folder / RUN_JSON)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _layout(data: dict[str, Any]) -> str:
    """JSON with one key per line and one thread per line: readable, and written by the C encoder (`indent=`
    would switch to the pure-Python one, the largest cost of a record write)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {_compact(item)}" for item in value)
            lines.append(f"  {_compact(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {_compact(key)}: {_compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# One encoder for every value: `json.dumps` with options builds a new one per call, which doubled the cost
# of a record write (tens of values per run.json, written at a run's start and end).
_compact = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


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
