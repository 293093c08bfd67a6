"""Retention: which finished runs to remove (a pure choice), and removing or archiving them (`taskctl prune`).

`retention:` in config/taskctl.yaml applies to every process; a process's own `retention:` overrides it key by
key (`keep_runs: null` there lifts the workspace's limit). Every limit is per process. Runs still queued or
running are never touched, and the newest finished run of each process is always kept, whatever the limits.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from taskctl.config.models import Retention
from taskctl.errors import TaskctlError
from taskctl.runs import RunStatus

if TYPE_CHECKING:
    from taskctl.archive import ArchiveFormat
    from taskctl.config.loader import LoadedConfig
    from taskctl.store import Store


class RemovalReason(StrEnum):
    """The limit that chose a run for removal (the first one it breaks, in this order)."""

    KEEP_RUNS = "keep_runs"
    MAX_AGE = "max_age"
    MAX_TOTAL_SIZE = "max_total_size"


@dataclass(frozen=True)
class RetentionPolicy:
    """The limits for one process; None = no limit."""

    keep_runs: int | None = None
    max_age: float | None = None  # seconds
    max_total_size: int | None = None  # bytes

    @property
    def limits_anything(self) -> bool:
        return (self.keep_runs, self.max_age, self.max_total_size) != (None, None, None)


@dataclass(frozen=True)
class RunEntry:
    """What the choice needs to know of one run. `size` (bytes) matters only under `max_total_size`."""

    id: str
    started: datetime
    status: RunStatus
    size: int = 0


@dataclass(frozen=True)
class Removal:
    run: RunEntry
    reason: RemovalReason


def select_removals(runs: Iterable[RunEntry], policy: RetentionPolicy, now: datetime) -> list[Removal]:
    """The runs of one process that `policy` removes at `now`, oldest first.

    Finished runs are walked newest first: the newest is always kept; after it a run goes when it is past
    `keep_runs`, older than `max_age`, or does not fit in `max_total_size` beside the newer runs kept (and
    then every older run goes too: the newest runs that fit are kept, not a patchwork). Unfinished runs are
    never removed, but their folders count against the size budget.
    """
    runs = list(runs)
    newest_first = sorted(
        (r for r in runs if r.status.finished), key=lambda r: (r.started, r.id), reverse=True
    )
    total = sum(r.size for r in runs if not r.status.finished)
    over_budget = False
    removals: list[Removal] = []
    for index, run in enumerate(newest_first):
        reason: RemovalReason | None = None
        if index == 0:
            reason = None
        elif policy.keep_runs is not None and index >= policy.keep_runs:
            reason = RemovalReason.KEEP_RUNS
        elif policy.max_age is not None and now - run.started > timedelta(seconds=policy.max_age):
            reason = RemovalReason.MAX_AGE
        elif policy.max_total_size is not None and (over_budget or total + run.size > policy.max_total_size):
            over_budget = True
            reason = RemovalReason.MAX_TOTAL_SIZE
        if reason is None:
            total += run.size
        else:
            removals.append(Removal(run, reason))
    return removals[::-1]


def policy_for(config: LoadedConfig, process: str) -> RetentionPolicy:
    """The workspace's retention, overridden key by key by the keys the process sets (even to null)."""
    merged = config.settings.retention
    own = config.processes[process].retention if process in config.processes else None
    if own is not None:
        merged = merged._replace(**{key: getattr(own, key) for key in own.keys_set})
    return _policy(merged)


def _policy(retention: Retention) -> RetentionPolicy:
    return RetentionPolicy(retention.keep_runs, retention.max_age, retention.max_total_size)


# -- applying it ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrunedRun:
    """One run that a prune removes (or would, on a dry run)."""

    id: str
    process: str
    started: datetime
    status: RunStatus
    size: int
    reason: RemovalReason
    folder: Path
    archive: Path | None = None

    def to_json(self) -> dict[str, object]:
        from taskctl.runs import utc_text

        return {
            "id": self.id,
            "process": self.process,
            "started": utc_text(self.started),
            "status": str(self.status),
            "size": self.size,
            "reason": str(self.reason),
            "archive": None if self.archive is None else str(self.archive),
        }


@dataclass
class PruneReport:
    """What a prune removed (or would), the archives it wrote, and one sentence per thing it could not do."""

    dry_run: bool
    removed: list[PrunedRun] = field(default_factory=list)
    archives: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(r.size for r in self.removed)

    def to_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "runs": len(self.removed),
            "size": self.size,
            "removed": [r.to_json() for r in self.removed],
            "archives": [str(a) for a in self.archives],
            "problems": self.problems,
        }


def plan_prune(
    config: LoadedConfig, store: Store, now: datetime, processes: Sequence[str] | None = None
) -> list[PrunedRun]:
    """The runs that retention removes at `now`, per process in name order, oldest first within each.

    Processes that are no longer in the config keep the workspace's retention for the runs they left.
    """
    names = sorted(set(store.processes()) | set(config.processes)) if processes is None else processes
    planned: list[PrunedRun] = []
    for process in names:
        policy = policy_for(config, process)
        if not policy.limits_anything:
            continue
        runs_dir = config.workspace.runs_dir(process)
        present = _entries(runs_dir)  # one listing instead of a failed scandir per run without a folder
        measure = policy.max_total_size is not None
        entries = [
            RunEntry(run_id, started, status, _size(runs_dir, present, run_id) if measure else 0)
            for run_id, started, status in store.run_ages(process)
        ]
        for removal in select_removals(entries, policy, now):
            run = removal.run
            folder = _run_folder(runs_dir, run.id)
            size = run.size if measure else _size(runs_dir, present, run.id)
            planned.append(PrunedRun(run.id, process, run.started, run.status, size, removal.reason, folder))
    return planned


def prune(
    config: LoadedConfig,
    store: Store,
    now: datetime,
    processes: Sequence[str] | None = None,
    dry_run: bool = False,
    archive_dir: Path | None = None,
    archive_format: ArchiveFormat | None = None,
) -> PruneReport:
    """Apply retention at `now`: remove the chosen runs' folders and index rows, or list them (`dry_run`).

    With `archive_dir`, each process's removed runs are first packed into one archive there
    (`<process>_<oldest>_to_<newest>.zip`); a process whose archive cannot be written keeps its runs. A folder
    is first moved into `.taskctl/trash/` (one rename), so an interrupted prune never leaves half a run folder
    among the runs; the trash is emptied at the end and at the start of the next prune. Archives are zip
    unless `archive_format` says otherwise.
    """
    workspace = config.workspace
    if archive_dir is not None and not archive_dir.is_dir():
        raise TaskctlError(f"cannot archive into {archive_dir}: it is not a folder; create it first.")
    planned = plan_prune(config, store, now, processes)
    report = PruneReport(dry_run=dry_run)
    if dry_run:
        report.removed = planned
        return report
    trash = workspace.state_dir / "trash"
    _empty(trash, report)
    trash.mkdir(parents=True, exist_ok=True)
    by_process: dict[str, list[PrunedRun]] = {}
    for run in planned:
        by_process.setdefault(run.process, []).append(run)
    for process, runs in by_process.items():
        if archive_dir is not None and any(r.folder.is_dir() for r in runs):
            try:
                archive = _archive(process, runs, archive_dir, archive_format)
            except TaskctlError as error:
                report.problems.append(f"{process}: {error.message} Its runs were kept.")
                continue
            report.archives.append(archive)
            runs = [_with_archive(r, archive) for r in runs]
        report.removed.extend(run for run in runs if _move_to_trash(run.folder, trash, report))
    # One transaction for all: a row whose folder is already in the trash when a prune is interrupted here
    # is removed by the next prune, which finds its folder missing.
    store.delete_runs([run.id for run in report.removed])
    _empty(trash, report)
    return report


def _with_archive(run: PrunedRun, archive: Path) -> PrunedRun:
    return PrunedRun(run.id, run.process, run.started, run.status, run.size, run.reason, run.folder, archive)


def _run_folder(runs_dir: Path, run_id: str) -> Path:
    """The folder of `run_id`, a run of the process whose runs are in `runs_dir` (checked: no escape)."""
    process, _, stamp = run_id.partition("/")
    if process != runs_dir.name or not stamp or "/" in stamp or stamp in (".", ".."):
        raise TaskctlError(
            f"the run index holds a malformed run id '{run_id}'; run 'taskctl history --rebuild'."
        )
    return runs_dir / stamp


def _archive(process: str, runs: list[PrunedRun], archive_dir: Path, fmt: ArchiveFormat | None) -> Path:
    from taskctl.archive import ArchiveFormat, PackedRun, pack_runs  # only when archiving: ~14 ms to import

    fmt = fmt or ArchiveFormat.ZIP
    present = [PackedRun(r.id, r.folder) for r in runs if r.folder.is_dir()]
    oldest, newest = runs[0].id.split("/")[1], runs[-1].id.split("/")[1]
    stem = f"{process}_{oldest}_to_{newest}"
    dest = archive_dir / f"{stem}.{fmt.value}"
    number = 2
    while dest.exists():
        dest = archive_dir / f"{stem}-{number}.{fmt.value}"
        number += 1
    pack_runs(present, dest, fmt)
    return dest


def _move_to_trash(folder: Path, trash: Path, report: PruneReport) -> bool:
    """Move `folder` out of the way (True once it is gone from process/, or was already)."""
    try:
        folder.rename(trash / f"{folder.parent.name}_{folder.name}_{os.urandom(4).hex()}")
        return True
    except FileNotFoundError:
        return not folder.exists()
    except OSError as error:
        if error.errno != errno.EXDEV:  # process/ may be on another file system than .taskctl/
            report.problems.append(f"could not remove {folder}: {error.strerror}; it was kept.")
            return False
    try:
        shutil.rmtree(folder)
    except OSError as error:
        report.problems.append(f"could not remove all of {folder}: {error}; remove it by hand.")
    return True


def _empty(trash: Path, report: PruneReport) -> None:
    if not trash.is_dir():
        return
    for entry in trash.iterdir():
        try:
            shutil.rmtree(entry)
        except OSError as error:
            report.problems.append(f"could not empty {entry}: {error}; remove it by hand.")


def _size(runs_dir: Path, present: set[str], run_id: str) -> int:
    """The size of a run's folder; 0 without a stat when its name is not among `present`."""
    return folder_size(_run_folder(runs_dir, run_id)) if run_id.partition("/")[2] in present else 0


def _entries(folder: Path) -> set[str]:
    """The names in `folder`; none if it is missing or not a folder."""
    try:
        return set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def folder_size(folder: Path) -> int:
    """Bytes in the regular files under `folder` (symlinks not followed); 0 if it is missing."""
    total = 0
    stack = [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                for entry in listing:
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    elif stat.S_ISREG(st.st_mode):
                        total += st.st_size
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total
