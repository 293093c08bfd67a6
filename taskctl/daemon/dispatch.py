"""The daemon's bookkeeping between the scheduler and the workers: pure, time is a parameter.

The loop feeds it what happened (slots due, runs created, waiting, ended, cancels asked, a stop) and asks
`step(now)` what to do next: which slots to claim and run, which waiting runs to decide again, which
processes' cursors may be saved, when retention runs, and when to look again. Nothing here reads the clock,
touches the state DB or starts a thread.

- At most `capacity` (`max_parallel_runs`) jobs hold a worker: creating a run, and running it if it starts.
  Due slots beyond that wait here, oldest first, unclaimed: nothing is in the run index for them yet.
- A run that the overlap policy makes wait (`queue`, `replace`) frees its worker; it is decided again when a
  run of its process ends, and at least every `POLL` while it waits (a run ahead may belong to a `taskctl
  run`, whose end the daemon does not hear of). A worker is kept free for each such decision, as it may start.
- A schedule's cursor is saved only while none of its process's due slots waits to be claimed, so a crash
  never leaves a cursor past a slot that has no run: on restart that slot is late and the catch-up policy
  decides it, like any slot missed while the daemon was down.
- Stopping: no more slots are claimed (those waiting are left to the catch-up of the next start), waiting runs
  are cancelled, running ones get `grace` to finish and are then cancelled (and so is any run that starts
  after that, from a slot a worker was already creating); `done` once no worker is busy.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from taskctl.config.models import CatchUp
from taskctl.daemon.scheduler import CATCH_UP_LIMIT, DueRun, MissedSlots, ScheduledProcess
from taskctl.units import format_duration

POLL = timedelta(seconds=1)  # while runs are active: how often cancel requests and waiting runs are looked at
RETENTION_EVERY = timedelta(hours=1)  # retention of every process, besides after each run
MISSED_ROWS = 10  # up to this many missed slots of a process (in one tick) get a row each; more get one row


class Created(StrEnum):
    """What became of a slot handed to a worker."""

    STARTED = "started"  # its run runs (the worker stays busy until it ends)
    WAITING = "waiting"  # its run waits for the runs ahead of it (overlap: queue or replace)
    SKIPPED = "skipped"  # its run was recorded skipped (overlap: skip, or allow at max_instances)
    TAKEN = "taken"  # the slot already had its run (before a restart)
    FAILED = "failed"  # the run could not be created (the error is logged)


@dataclass
class _Waiting:
    process: str
    since: datetime
    last_decided: datetime


@dataclass(frozen=True)
class Actions:
    """What the loop does now, in this order."""

    wake_at: datetime  # look again at this instant at the latest
    cancel_waiting: tuple[str, ...] = ()  # end these waiting runs as cancelled
    admit: tuple[str, ...] = ()  # decide again for these waiting runs; a worker is kept free for each
    create: tuple[DueRun, ...] = ()  # claim these slots and run them; a worker is free for each
    save_cursors: tuple[str, ...] = ()  # processes whose cursors may be saved now
    prune: tuple[str, ...] = ()  # apply retention to these processes (a run of theirs ended)
    prune_all: bool = False  # the hourly retention of every process
    cancel_running: bool = False  # the shutdown grace is over: cancel the runs still running
    done: bool = False  # stopping, and nothing runs or waits any more: exit


@dataclass
class Dispatcher:
    """Due slots waiting for a worker, runs in workers, runs waiting for their turn (module docstring)."""

    capacity: int
    now: datetime  # when the daemon started (the first retention pass is due at once)
    busy: int = 0  # jobs holding a worker
    running: set[str] = field(default_factory=set)  # run ids executing in workers
    stopping: bool = False
    _pending: list[tuple[datetime, str, int, DueRun]] = field(default_factory=list)  # a heap, oldest first
    _added: int = 0  # how many slots were added: breaks ties in the heap
    _unclaimed: dict[str, set[datetime]] = field(default_factory=dict)  # per process: pending or in a worker
    _unsaved: set[str] = field(default_factory=set)  # processes whose cursor moves wait for their claims
    _waiting: dict[str, _Waiting] = field(default_factory=dict)  # run id -> waiting run, oldest first
    _ended: set[str] = field(default_factory=set)  # processes with a run ended since the last step
    _cancel_asked: set[str] = field(default_factory=set)  # waiting runs to end as cancelled
    _deadline: datetime | None = None  # stopping: when running runs are cancelled
    _next_retention: datetime | None = None

    def __post_init__(self) -> None:
        self._next_retention = self.now

    # -- what happened ------------------------------------------------------------------------------

    def add_due(self, runs: Iterable[DueRun]) -> None:
        """Slots the scheduler found due: they wait for a worker, oldest first."""
        if self.stopping:
            return
        for run in runs:
            self._added += 1
            heapq.heappush(self._pending, (run.scheduled_for, run.process, self._added, run))
            self._unclaimed.setdefault(run.process, set()).add(run.scheduled_for)

    def holds(self, process: str) -> bool:
        """True if a due slot of `process` waits to be claimed: its cursors must not be saved now (they are
        once its last such slot is claimed, see `save_cursors` in `Actions`)."""
        if self._unclaimed.get(process) or self.stopping:
            self._unsaved.add(process)
            return True
        return False

    def last_claim(self, run: DueRun) -> bool:
        """True if `run` (handed to a worker) is the only unclaimed slot of its process: the transaction that
        claims it may then save the process's cursors (the loop saves them again only if they moved since)."""
        return not self.stopping and self._unclaimed.get(run.process, set()) == {run.scheduled_for}

    def created(self, run: DueRun, outcome: Created, run_id: str | None = None) -> None:
        """A worker has handled the slot of `run`."""
        self._forget(run)
        if outcome is Created.STARTED and run_id is not None:
            self.running.add(run_id)
            return
        self.busy -= 1
        if outcome is Created.WAITING and run_id is not None:
            self._waiting[run_id] = _Waiting(run.process, self.now, self.now)

    def started(self, run_id: str, held_worker: bool = True) -> None:
        """A waiting run was admitted and runs, on the worker kept free for it if `held_worker`."""
        self._waiting.pop(run_id, None)
        self._cancel_asked.discard(run_id)
        self.running.add(run_id)
        if not held_worker:
            self.busy += 1

    def still_waiting(self, run_id: str) -> None:
        """A waiting run was decided again and still waits: the worker kept for it is free."""
        self.busy -= 1

    def waiting_ended(self, run_id: str, held_worker: bool) -> None:
        """A waiting run ended without running (cancelled, or reaped); `held_worker` if a worker was kept for
        the decision that found it so."""
        self._waiting.pop(run_id, None)
        self._cancel_asked.discard(run_id)
        if held_worker:
            self.busy -= 1

    def ended(self, run_id: str, process: str) -> None:
        """A run ended in its worker."""
        if run_id in self.running:
            self.running.discard(run_id)
            self.busy -= 1
        self._ended.add(process)

    def cancel_asked(self, run_ids: Iterable[str]) -> None:
        """`taskctl cancel` asked to stop these runs; the waiting ones end without a worker."""
        self._cancel_asked.update(run_id for run_id in run_ids if run_id in self._waiting)

    def reconfigure(self, capacity: int, scheduled: Callable[[str], bool]) -> None:
        """A reload: the new `max_parallel_runs`; due slots of processes no longer `scheduled` are dropped."""
        self.capacity = capacity
        kept = [entry for entry in self._pending if scheduled(entry[1])]
        for _, process, _, run in self._pending:
            if not scheduled(process):
                self._forget(run)
        heapq.heapify(kept)
        self._pending = kept

    def stop(self, now: datetime, grace: float) -> None:
        """Stop claiming slots; cancel running runs after `grace` seconds (at once if asked a second time)."""
        deadline = now if self.stopping else now + timedelta(seconds=grace)
        self.stopping = True
        self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)
        for *_, run in self._pending:
            self._forget(run)
        self._pending = []

    def _forget(self, run: DueRun) -> None:
        slots = self._unclaimed.get(run.process)
        if slots is not None:
            slots.discard(run.scheduled_for)
            if not slots:
                del self._unclaimed[run.process]

    # -- what to do ----------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Due slots waiting for a worker."""
        return len(self._pending)

    @property
    def waiting(self) -> list[str]:
        """Runs waiting for the runs ahead of them, oldest first."""
        return list(self._waiting)

    def step(self, now: datetime) -> Actions:
        """What to do at `now`."""
        self.now = now
        if self.stopping:
            return self._stopping_step(now)
        cancel_waiting = tuple(sorted(self._cancel_asked))
        self._cancel_asked.clear()
        free = self.capacity - self.busy
        admit = []
        for run_id, waiting in self._waiting.items():
            if free <= 0:
                break
            if run_id in cancel_waiting:
                continue
            if waiting.process in self._ended or now - waiting.last_decided >= POLL:
                waiting.last_decided = now
                admit.append(run_id)
                free -= 1
        create = []
        while free > 0 and self._pending:
            create.append(heapq.heappop(self._pending)[3])
            free -= 1
        self.busy = self.capacity - free
        save = tuple(sorted(p for p in self._unsaved if p not in self._unclaimed))
        self._unsaved.difference_update(save)
        prune = tuple(sorted(self._ended))
        self._ended.clear()
        prune_all = self._next_retention is not None and now >= self._next_retention
        if prune_all:
            self._next_retention = now + RETENTION_EVERY
        wake = [self._next_retention or now + RETENTION_EVERY]
        if self.running or self._waiting:
            wake.append(now + POLL)
        return Actions(
            wake_at=min(wake),
            cancel_waiting=cancel_waiting,
            admit=tuple(admit),
            create=tuple(create),
            save_cursors=save,
            prune=prune,
            prune_all=prune_all,
        )

    def _stopping_step(self, now: datetime) -> Actions:
        assert self._deadline is not None
        cancel_running = now >= self._deadline and bool(self.running)
        done = self.busy <= 0 and not self._waiting
        wake = now + POLL if now >= self._deadline else min(now + POLL, self._deadline)
        return Actions(
            wake_at=wake, cancel_waiting=tuple(self._waiting), cancel_running=cancel_running, done=done
        )


# -- missed slots ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissedRecord:
    """One `skipped` row (reason `missed`) without a run folder: one slot, or several (`count`)."""

    process: str
    scheduled_for: datetime  # the slot it claims: the slot itself, or the newest of those it stands for
    count: int
    first: datetime  # the oldest slot it stands for
    reason: str  # its `error`, for history and show


def missed_records(
    missed: MissedSlots, slots: list[datetime] | None, process: ScheduledProcess, now: datetime
) -> list[MissedRecord]:
    """The rows that record `missed`: one per slot when its `slots` are known (see `MISSED_ROWS`), else one
    row standing for all of them."""
    if slots is not None:
        return [MissedRecord(missed.process, at, 1, at, missed_reason(process, at, now)) for at in slots]
    span = f"{_local(missed.first, process)} to {_local(missed.last, process)}"
    reason = missed_reason(process, missed.last, now)
    text = f"missed {missed.count} slots from {span}" + reason.removeprefix("missed")
    return [MissedRecord(missed.process, missed.last, missed.count, missed.first, text)]


def missed_reason(process: ScheduledProcess, slot: datetime, now: datetime) -> str:
    """Why a late slot of `process` did not start (the policies of `taskctl.daemon.scheduler`)."""
    if now - slot > process.misfire_grace:
        grace = format_duration(process.misfire_grace.total_seconds())
        return f"missed: it was more than misfire_grace ({grace}) late"
    if process.catch_up is CatchUp.NONE:
        return "missed: catch_up is none"
    if process.catch_up is CatchUp.LATEST:
        return "missed: catch_up is latest (only the newest late slot runs)"
    return f"missed: catch_up is all, which runs the newest {CATCH_UP_LIMIT} late slots"


def _local(at: datetime, process: ScheduledProcess) -> str:
    return at.astimezone(process.zone).strftime("%Y-%m-%d %H:%M:%S %Z")
