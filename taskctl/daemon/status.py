"""The daemon's status: the record it keeps in `.taskctl/daemon/status.json`, and what `taskctl status` shows.

The daemon rewrites its record (atomically: readers see the old or the new one) when its state, its config
or its load changes: pid, start, state, the config revision it runs, the last reload and, when the config on
disk was rejected, its problems. Whether a daemon runs at all is the lock's answer, not the record's: a daemon
killed with SIGKILL leaves a record that still says `running`.

`status_report` gathers the rest from the run index (running and waiting runs with their thread, progress
and elapsed time; missed slots, skipped and failed runs in the last 24 hours) and from the config the daemon
applied (the next fires, and the tags `--tag` filters by).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from taskctl.daemon import daemon_dir
from taskctl.daemon.lock import running_daemon
from taskctl.daemon.state import MISSED_BY_PROCESS
from taskctl.runs import RunStatus, parse_utc, utc_text
from taskctl.units import format_duration

if TYPE_CHECKING:
    from pathlib import Path

    from taskctl.config import LoadedConfig
    from taskctl.daemon.plan import ConfigView
    from taskctl.store import RunRow, Store
    from taskctl.workspace import Workspace

STATUS_FILE = "status.json"
STATUS_FORMAT = 1
NEXT_FIRES = 5
RECENT = timedelta(hours=24)
FAILED_STATUSES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)


class DaemonState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RELOADING = "reloading"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass
class DaemonRecord:
    """What the daemon says about itself in status.json."""

    pid: int
    started: datetime  # aware, UTC
    state: DaemonState
    revision: str | None = None  # the config it runs; None while no valid config has been loaded
    applied_at: datetime | None = None
    last_reload: datetime | None = None  # the last time it loaded config/ (at start, or a reload)
    config_errors: list[str] = field(default_factory=list)  # why the config on disk was rejected
    busy: int = 0  # workers creating or running a run
    capacity: int = 0  # max_parallel_runs
    pending: int = 0  # due slots waiting for a worker
    updated: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATUS_FORMAT,
            "pid": self.pid,
            "started": utc_text(self.started),
            "state": str(self.state),
            "config_revision": self.revision,
            "applied_at": utc_text(self.applied_at),
            "last_reload": utc_text(self.last_reload),
            "config_errors": list(self.config_errors),
            "busy": self.busy,
            "max_parallel_runs": self.capacity,
            "pending": self.pending,
            "updated": utc_text(self.updated),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DaemonRecord:
        started = parse_utc(data["started"])
        assert started is not None
        return cls(
            pid=int(data["pid"]),
            started=started,
            state=DaemonState(data["state"]),
            revision=data.get("config_revision"),
            applied_at=parse_utc(data.get("applied_at")),
            last_reload=parse_utc(data.get("last_reload")),
            config_errors=[str(line) for line in data.get("config_errors", [])],
            busy=int(data.get("busy", 0)),
            capacity=int(data.get("max_parallel_runs", 0)),
            pending=int(data.get("pending", 0)),
            updated=parse_utc(data.get("updated")),
        )


def status_path(workspace: Workspace) -> Path:
    return daemon_dir(workspace) / STATUS_FILE


def write_record(workspace: Workspace, record: DaemonRecord) -> None:
    """Replace status.json with `record` (a temporary file renamed over it; not synced: it is rewritten at
    every start)."""
    path = status_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(record.to_json(), indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_record(workspace: Workspace) -> DaemonRecord | None:
    """The daemon's last record, or None if there is none (or it cannot be read)."""
    try:
        data = json.loads(status_path(workspace).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != STATUS_FORMAT:
            return None
        return DaemonRecord.from_json(data)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError):
        return None


# -- taskctl status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextFire:
    at: datetime  # aware, UTC
    process: str
    zone: str  # the process's zone, for showing the time as its schedule reads


@dataclass
class StatusReport:
    """Everything `taskctl status` shows."""

    now: datetime
    zone: ZoneInfo  # the workspace zone, for showing instants
    pid: int | None  # the running daemon (None: none runs; 0: one runs but its pid cannot be read)
    record: DaemonRecord | None
    active: list[RunRow]  # running and queued runs, oldest first
    next_fires: list[NextFire]
    missed: dict[str, int]  # slots recorded missed in the last 24 h, per process
    skipped: int  # runs skipped by their overlap policy in the last 24 h
    failed: list[RunRow]  # failed, timed out or interrupted in the last 24 h, newest first
    failed_count: int
    tags: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)  # why something could not be shown

    @property
    def running(self) -> bool:
        return self.pid is not None


def status_report(
    workspace: Workspace,
    store: Store,
    view: ConfigView | None,
    now: datetime,
    tags: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> StatusReport:
    """The daemon's status at `now`: its record and lock, the run index, and `view`, the config it applied (or
    the config on disk when no daemon has applied one; None if neither can be read)."""
    zone = _zone_of(view)
    wanted = _tagged(view, tags) if tags else None
    pid = running_daemon(workspace)
    record = read_record(workspace)

    def keep(process: str) -> bool:
        return wanted is None or process in wanted

    active = [row for row in store.active() if keep(row.process)]
    since = utc_text(now - RECENT)
    missed = {
        process: int(count) for process, count in store.query(MISSED_BY_PROCESS, (since,)) if keep(process)
    }
    skipped = sum(
        int(count)
        for process, count in store.query(
            "SELECT process, COUNT(*) FROM runs WHERE status = 'skipped' AND has_folder = 1 AND started >= ? "
            "GROUP BY process",
            (since,),
        )
        if keep(process)
    )
    failed = [row for row in store.runs(statuses=FAILED_STATUSES, since=now - RECENT, limit=None)]
    failed = [row for row in failed if keep(row.process)]
    return StatusReport(
        now=now,
        zone=zone,
        pid=pid,
        record=record,
        active=active,
        next_fires=_next_fires(view, now, keep),
        missed=missed,
        skipped=skipped,
        failed=failed[:10],
        failed_count=len(failed),
        tags=tuple(tags),
        notes=list(notes),
    )


def _zone_of(view: ConfigView | None) -> ZoneInfo:
    from taskctl.clock import machine_zone_name

    name = str(view.settings.get("timezone") or "") if view is not None else ""
    return ZoneInfo(name or machine_zone_name())


def _tagged(view: ConfigView | None, tags: Sequence[str]) -> set[str]:
    """The names whose runs `--tag` keeps (any of `tags`, as in every listing): the processes that carry one
    (a scheduled thread is a process with the thread's tags), and the threads that do, whose runs alone are
    one-thread processes of their own name."""
    if view is None:
        return set()
    wanted = set(tags)
    processes = {name for name, values in view.processes.items() if wanted & set(values.get("tags", []))}
    threads = {name for name, values in view.threads.items() if wanted & set(values.get("tags", []))}
    return processes | threads


def _next_fires(view: ConfigView | None, now: datetime, keep: Any) -> list[NextFire]:
    from taskctl.daemon.plan import next_run

    if view is None:
        return []
    fires = []
    for name, values in view.processes.items():
        if keep(name):
            at = next_run(values, now)
            if at is not None:
                fires.append(NextFire(at, name, str(values.get("timezone") or "UTC")))
    return sorted(fires, key=lambda fire: (fire.at, fire.process))[:NEXT_FIRES]


# -- showing it ----------------------------------------------------------------------------------------


def render_status(report: StatusReport) -> list[str]:
    """The report as text: a few `key  value` lines, then tables of runs and fires."""
    from tabulate import tabulate

    lines = [f"daemon    {_daemon_line(report)}"]
    record = report.record if report.running else None
    if record is not None:
        if record.revision is not None:
            applied = f", applied {_local(record.applied_at, report.zone)}" if record.applied_at else ""
            lines.append(f"config    revision {record.revision}{applied}")
        else:
            lines.append("config    none applied: nothing is scheduled")
        if record.config_errors:
            when = _local(record.last_reload, report.zone)
            keeps = f"keeps revision {record.revision}" if record.revision else "schedules nothing"
            lines.append(f"reload    rejected {when}: the config on disk is invalid; the daemon {keeps}")
            lines.extend(f"          {problem}" for problem in record.config_errors)
        elif record.last_reload is not None:
            lines.append(f"reload    {_local(record.last_reload, report.zone)}: applied")
        pending = f"; {record.pending} due slot(s) waiting for a worker" if record.pending else ""
        lines.append(f"workers   {record.busy} of {record.capacity} busy{pending}")
    if report.tags:
        lines.append(f"tags      {', '.join(report.tags)}")
    lines.extend(f"note      {note}" for note in report.notes)
    lines.append("")
    lines.append("RUNNING")
    if report.active:
        rows = [
            [
                row.id,
                str(row.status),
                row.current_thread or "-",
                row.progress or "-",
                format_duration(_elapsed(report.now, row.started)),
            ]
            for row in report.active
        ]
        lines.extend(
            tabulate(rows, ["ID", "STATUS", "THREAD", "PROGRESS", "ELAPSED"], disable_numparse=True).split(
                "\n"
            )
        )
    else:
        lines.append("nothing runs")
    lines.append("")
    lines.append("NEXT" if report.running else "NEXT (once the daemon runs)")
    if report.next_fires:
        rows = [
            [fire.process, _local(fire.at, ZoneInfo(fire.zone), zone_name=True), _utc(fire.at)]
            for fire in report.next_fires
        ]
        lines.extend(tabulate(rows, ["PROCESS", "AT", "UTC"], disable_numparse=True).split("\n"))
    else:
        lines.append("nothing scheduled")
    lines.append("")
    missed = sum(report.missed.values())
    by_process = ", ".join(f"{process} {count}" for process, count in report.missed.items())
    lines.append(
        f"LAST 24 H: {missed} missed slot(s){f' ({by_process})' if by_process else ''}, "
        f"{report.skipped} run(s) skipped by overlap, {report.failed_count} failed run(s)"
    )
    if report.failed:
        rows = [
            [
                row.id,
                str(row.status),
                _local(row.started, report.zone),
                row.failed_thread or "-",
                row.error or "",
            ]
            for row in report.failed
        ]
        lines.extend(
            tabulate(
                rows, ["ID", "STATUS", "STARTED", "FAILED THREAD", "ERROR"], disable_numparse=True
            ).split("\n")
        )
    return lines


def _ended_uncleanly(report: StatusReport) -> int | None:
    """The last daemon's pid when none runs now and it ended without stopping cleanly (killed, crashed)."""
    record = report.record
    if report.running or record is None or record.state is DaemonState.STOPPED:
        return None
    return record.pid


def _daemon_line(report: StatusReport) -> str:
    record = report.record
    if not report.running:
        unclean = _ended_uncleanly(report)
        if unclean is not None:
            return f"not running (pid {unclean} ended without stopping cleanly)"
        return "not running"
    if record is None or record.pid != report.pid:
        return f"running, pid {report.pid or 'unknown'}"
    uptime = format_duration((report.now - record.started).total_seconds())
    return f"{record.state}, pid {record.pid}, up {uptime} (since {_local(record.started, report.zone)})"


def _local(at: datetime | None, zone: ZoneInfo, zone_name: bool = False) -> str:
    if at is None:
        return "-"
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M:%S %Z" if zone_name else "%Y-%m-%d %H:%M:%S")


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def status_json(report: StatusReport) -> dict[str, Any]:
    """The report for `taskctl status --json`: snake_case keys, instants in UTC, durations in seconds."""
    record = report.record if report.running else None
    daemon: dict[str, Any] = {"running": report.running, "pid": report.pid or None}
    unclean = _ended_uncleanly(report)
    if unclean is not None:
        daemon["ended_uncleanly_pid"] = unclean
    if record is not None:
        daemon.update(record.to_json())
        del daemon["format"]
        daemon["uptime"] = round((report.now - record.started).total_seconds(), 3)
    return {
        "daemon": daemon,
        "tags": list(report.tags),
        "running": [
            {
                "id": row.id,
                "process": row.process,
                "status": str(row.status),
                "trigger": str(row.trigger),
                "thread": row.current_thread,
                "progress": row.progress,
                "started": utc_text(row.started),
                "elapsed": round(_elapsed(report.now, row.started), 3),
            }
            for row in report.active
        ],
        "next": [{"process": fire.process, "at": utc_text(fire.at)} for fire in report.next_fires],
        "last_24h": {
            "missed": sum(report.missed.values()),
            "missed_by_process": dict(report.missed),
            "skipped": report.skipped,
            "failed": report.failed_count,
            "failed_runs": [row.to_json() for row in report.failed],
        },
        "notes": report.notes,
    }


def current_status(
    workspace: Workspace,
    now: datetime,
    tags: Sequence[str] = (),
    config_on_disk: Callable[[], LoadedConfig] | None = None,
) -> StatusReport:
    """`status_report` for `taskctl status`: the run index brought up to date (runs whose runner died become
    interrupted), and the config the running daemon applied, or else the config on disk: loaded here, or by
    `config_on_disk` (raising ConfigError when it is invalid) for a caller that keeps it loaded, as
    `taskctl serve` does."""
    from taskctl.config import load_config
    from taskctl.daemon.plan import SnapshotError, read_applied, view_of
    from taskctl.errors import ConfigError
    from taskctl.runner.service import open_service

    notes: list[str] = []
    try:
        applied = read_applied(workspace)
    except SnapshotError as error:
        applied = None
        notes.append(error.message)
    record = read_record(workspace)
    view = None
    if running_daemon(workspace) is not None and record is not None:
        if applied is not None and applied.view.revision == record.revision:
            view = applied.view
    else:
        try:
            view = view_of(config_on_disk() if config_on_disk else load_config(workspace, now=now))
        except ConfigError as error:
            first = error.problems[0].render() if error.problems else "it cannot be loaded"
            notes.append(f"config/ is invalid ({first}); run 'taskctl validate'")
    if tags and view is not None:
        known = {
            tag
            for entry in (*view.processes.values(), *view.threads.values())
            for tag in entry.get("tags", [])
        }
        notes.extend(f"nothing has the tag '{tag}'" for tag in tags if tag not in known)
    with open_service(workspace, read_only=True) as service:
        service.reap()
        return status_report(workspace, service.store, view, now, tags, notes)


def _elapsed(now: datetime, started: datetime) -> float:
    """Seconds a run has run; 0 for one the daemon claimed ahead of its slot, which starts at the slot."""
    return max(0.0, (now - started).total_seconds())
