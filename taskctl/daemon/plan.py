"""What a reload would change: the config the daemon applied against the config on disk.

The daemon records what it applied in `.taskctl/daemon/applied.json` (written atomically at start and after
each reload): the config revision, when it was applied, and each process, thread and setting as resolved
values.
`make_plan` is a pure diff of that record against a freshly loaded config; `render_plan` gives the lines that
`taskctl plan` prints and the daemon logs when it reloads.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from taskctl.config.models import to_json
from taskctl.daemon import daemon_dir
from taskctl.errors import TaskctlError
from taskctl.schedule import Schedule, ScheduleError, next_fire_after, parse_schedule

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.workspace import Workspace

APPLIED_FILE = "applied.json"
APPLIED_FORMAT = 1


class SnapshotError(TaskctlError):
    """The record of the applied config exists but cannot be used."""


@dataclass(frozen=True)
class ConfigView:
    """A config as plain values, comparable key by key: what the daemon records and what `plan` compares."""

    revision: str
    settings: Mapping[str, Any]
    threads: Mapping[str, Mapping[str, Any]]
    processes: Mapping[
        str, Mapping[str, Any]
    ]  # each with its zone in `timezone`, schedules as canonical texts

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "settings": dict(self.settings),
            "threads": {name: dict(values) for name, values in self.threads.items()},
            "processes": {name: dict(values) for name, values in self.processes.items()},
        }


@dataclass(frozen=True)
class AppliedConfig:
    """The config a daemon applied, and when."""

    view: ConfigView
    applied_at: datetime  # aware, UTC
    pid: int


def applied_now(config: LoadedConfig, applied_at: datetime) -> AppliedConfig:
    """`config` as this process applies it at `applied_at`."""
    return AppliedConfig(view_of(config), applied_at, os.getpid())


def view_of(config: LoadedConfig) -> ConfigView:
    """`config` as plain, resolved values (defaults filled in, schedules in their canonical text)."""
    processes = {}
    for name, process in sorted(config.processes.items()):
        values = to_json(process)
        values["timezone"] = config.zone_of(name).key
        values["schedule"] = [schedule.text for schedule in config.schedules.get(name, ())]
        processes[name] = values
    settings = to_json(config.settings)
    settings["timezone"] = config.zone_name
    return ConfigView(
        revision=config.revision,
        settings=settings,
        threads={name: to_json(thread) for name, thread in sorted(config.threads.items())},
        processes=processes,
    )


def applied_path(workspace: Workspace) -> Path:
    return daemon_dir(workspace) / APPLIED_FILE


def write_applied(workspace: Workspace, applied: AppliedConfig) -> Path:
    """Record the config a daemon runs. Atomic: readers see the old record or the new one."""
    path = applied_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "format": APPLIED_FORMAT,
        "applied_at": _utc(applied.applied_at),
        "pid": applied.pid,
        **applied.view.to_json(),
    }
    # compact: json's C encoder does not indent, and a thousand processes took the pure-Python one ~0.1 s
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path


def read_applied(workspace: Workspace) -> AppliedConfig | None:
    """The record of the config the daemon applied, or None if no daemon has applied one yet.

    Raises SnapshotError if the record is there but unreadable."""
    path = applied_path(workspace)
    shown = workspace.relative(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnapshotError(f"{shown} cannot be read ({error})") from None
    if not isinstance(document, dict) or document.get("format") != APPLIED_FORMAT:
        raise SnapshotError(
            f"{shown} is not a record this version of taskctl writes (format {APPLIED_FORMAT})"
        )
    try:
        view = ConfigView(
            revision=str(document["revision"]),
            settings=dict(document["settings"]),
            threads={str(k): dict(v) for k, v in document["threads"].items()},
            processes={str(k): dict(v) for k, v in document["processes"].items()},
        )
        applied_at = datetime.fromisoformat(str(document["applied_at"]).replace("Z", "+00:00")).astimezone(
            UTC
        )
        return AppliedConfig(view, applied_at, int(document["pid"]))
    except KeyError as error:
        raise SnapshotError(f"{shown} is incomplete (it has no '{error.args[0]}')") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise SnapshotError(f"{shown} is damaged ({error})") from None


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class EntryChange:
    """How one thread (or process) differs between the applied config and the one on disk."""

    name: str
    change: Change
    keys: tuple[str, ...] = ()  # the keys whose values differ, for CHANGED


@dataclass(frozen=True)
class ProcessChange(EntryChange):
    schedules_added: tuple[str, ...] = ()
    schedules_removed: tuple[str, ...] = ()
    next_before: datetime | None = None  # aware, UTC; None: not scheduled
    next_after: datetime | None = None
    zone: str = "UTC"  # for showing the next runs in local time
    enabled: bool = True  # on disk (in the applied config, for a removed process)


@dataclass(frozen=True)
class Plan:
    """The difference between what the daemon runs and what a reload would apply."""

    on_disk: ConfigView
    applied: AppliedConfig | None  # None: no daemon has applied a config yet (or its record is unreadable)
    processes: tuple[ProcessChange, ...]
    threads: tuple[EntryChange, ...]  # changed threads only
    settings: tuple[str, ...]  # changed settings
    note: str | None = None  # why there is no applied config to compare with

    @property
    def changed(self) -> bool:
        return bool(
            self.settings or self.threads or any(p.change is not Change.UNCHANGED for p in self.processes)
        )


def make_plan(applied: AppliedConfig | None, on_disk: ConfigView, now: datetime) -> Plan:
    """What applying `on_disk` would change for a daemon that applied `applied`; pure."""
    before = applied.view if applied else ConfigView("", {}, {}, {})
    processes = tuple(
        _process_change(name, before.processes.get(name), on_disk.processes.get(name), now)
        for name in sorted({*before.processes, *on_disk.processes})
    )
    threads = tuple(
        change
        for name in sorted({*before.threads, *on_disk.threads})
        if (change := _entry_change(name, before.threads.get(name), on_disk.threads.get(name))).change
        is not Change.UNCHANGED
    )
    settings = _changed_keys(before.settings, on_disk.settings) if applied else ()
    note = None if applied else "no daemon has applied a config yet; everything on disk is new"
    return Plan(on_disk, applied, processes, threads, settings, note)


def plan_with_unreadable_record(on_disk: ConfigView, reason: str, now: datetime) -> Plan:
    """The plan when the daemon's record cannot be read: everything on disk shows as new, with the reason."""
    plan = make_plan(None, on_disk, now)
    note = (
        f"the daemon's record of its applied config is unusable: {reason}; everything on disk is shown as new"
    )
    return Plan(plan.on_disk, None, plan.processes, plan.threads, plan.settings, note)


def _entry_change(name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> EntryChange:
    if old is None:
        return EntryChange(name, Change.ADDED)
    if new is None:
        return EntryChange(name, Change.REMOVED)
    keys = _changed_keys(old, new)
    return EntryChange(name, Change.CHANGED if keys else Change.UNCHANGED, keys)


def _process_change(
    name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, now: datetime
) -> ProcessChange:
    entry = _entry_change(name, old, new)
    old_schedules, new_schedules = _schedules(old), _schedules(new)
    return ProcessChange(
        name,
        entry.change,
        entry.keys,
        schedules_added=tuple(s for s in new_schedules if s not in old_schedules),
        schedules_removed=tuple(s for s in old_schedules if s not in new_schedules),
        next_before=next_run(old, now),
        next_after=next_run(new, now),
        zone=str((new or old or {}).get("timezone") or "UTC"),
        enabled=bool((new or old or {}).get("enabled", True)),
    )


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(key for key in {*old, *new} if old.get(key) != new.get(key)))


def _schedules(values: Mapping[str, Any] | None) -> list[str]:
    return [str(text) for text in (values or {}).get("schedule", [])]


def next_run(values: Mapping[str, Any] | None, now: datetime) -> datetime | None:
    """The next slot of a process as described by `values` (None if it is disabled or never fires again)."""
    if values is None or not values.get("enabled", True):
        return None
    zone = str(values.get("timezone") or "UTC")
    found = [at for text in _schedules(values) if (at := _next_after(text, zone, now)) is not None]
    return min(found, default=None)


@functools.lru_cache(maxsize=4096)
def _next_after(text: str, zone: str, now: datetime) -> datetime | None:
    """The next slot of one schedule, computed once for the processes that share it (status lists the next
    fires of every process: a thousand of them often share a few schedules)."""
    schedule = _parsed(text)
    return None if schedule is None else next_fire_after(schedule, ZoneInfo(zone), now)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Schedule | None:
    """A schedule from its canonical text, parsed once (a config repeats the same few texts), or None for a
    record written by another version that this one cannot read."""
    try:
        return parse_schedule(text)
    except ScheduleError:
        return None


# --- showing a plan -------------------------------------------------------------------------------


def render_plan(plan: Plan) -> list[str]:
    """The plan as lines of text: what `taskctl plan` prints and what the daemon logs when it reloads."""
    lines = []
    if plan.applied is not None:
        applied_at = plan.applied.applied_at.astimezone(ZoneInfo(str(plan.on_disk.settings.get("timezone"))))
        lines.append(
            f"applied: revision {plan.applied.view.revision} ({_local(applied_at)}); "
            f"on disk: revision {plan.on_disk.revision}"
        )
    else:
        lines.append(f"{plan.note}; on disk: revision {plan.on_disk.revision}")
    if plan.applied is not None and not plan.changed:
        lines.append("no changes")
    for process in plan.processes:
        if process.change is not Change.UNCHANGED:
            lines.append(_process_line(process))
    for thread in plan.threads:
        lines.append(_entry_line("thread", thread))
    if plan.settings:
        lines.append(f"~ settings: changed {', '.join(plan.settings)}")
    unchanged = sum(process.change is Change.UNCHANGED for process in plan.processes)
    if unchanged and plan.changed:
        lines.append(f"{unchanged} process{'' if unchanged == 1 else 'es'} unchanged")
    return lines


_SIGNS = {Change.ADDED: "+", Change.REMOVED: "-", Change.CHANGED: "~", Change.UNCHANGED: " "}


def _entry_line(kind: str, entry: EntryChange) -> str:
    line = f"{_SIGNS[entry.change]} {kind} {entry.name}: {entry.change.value}"
    if entry.keys:
        line += " " + ", ".join(entry.keys)
    return line


def _process_line(process: ProcessChange) -> str:
    parts = [_entry_line("process", process)]
    if process.change is Change.CHANGED and (process.schedules_added or process.schedules_removed):
        moved = [f"- '{text}'" for text in process.schedules_removed]
        moved += [f"+ '{text}'" for text in process.schedules_added]
        parts.append("schedule " + " ".join(moved))
    if process.change is not Change.CHANGED or process.next_before != process.next_after:
        parts.append(_next_runs(process))
    return "; ".join(parts)


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    return "none" if at is None else _local(at.astimezone(zone))


def _next_runs(process: ProcessChange) -> str:
    zone = ZoneInfo(process.zone)
    after = _when(process.next_after, zone) + ("" if process.enabled else " (disabled)")
    if process.change is Change.ADDED:
        return f"next run {after}"
    if process.change is Change.REMOVED:
        return f"was next {_when(process.next_before, zone)}"
    return f"next run {_when(process.next_before, zone)} -> {after}"


def _local(moment: datetime) -> str:
    return moment.strftime("%a %Y-%m-%d %H:%M %Z")


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan for `taskctl plan --json`: stable snake_case keys, instants in UTC."""
    return {
        "applied": None
        if plan.applied is None
        else {"revision": plan.applied.view.revision, "applied_at": _utc(plan.applied.applied_at)},
        "on_disk": {"revision": plan.on_disk.revision},
        "changed": plan.changed,
        "note": plan.note,
        "processes": [
            {
                "name": p.name,
                "change": p.change.value,
                "keys": list(p.keys),
                "schedules_added": list(p.schedules_added),
                "schedules_removed": list(p.schedules_removed),
                "next_before": _utc(p.next_before),
                "next_after": _utc(p.next_after),
            }
            for p in plan.processes
        ],
        "threads": [{"name": t.name, "change": t.change.value, "keys": list(t.keys)} for t in plan.threads],
        "settings": list(plan.settings),
    }


def _utc(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def current_plan(workspace: Workspace, config: LoadedConfig, now: datetime) -> Plan:
    """What the daemon of `workspace` would change if it reloaded `config` (the config on disk) at `now`."""
    on_disk = view_of(config)
    try:
        applied = read_applied(workspace)
    except SnapshotError as error:
        return plan_with_unreadable_record(on_disk, error.message, now)
    return make_plan(applied, on_disk, now)


__all__ = [
    "AppliedConfig",
    "Change",
    "ConfigView",
    "Plan",
    "ProcessChange",
    "applied_now",
    "current_plan",
    "make_plan",
    "plan_json",
    "read_applied",
    "render_plan",
    "view_of",
    "write_applied",
]
