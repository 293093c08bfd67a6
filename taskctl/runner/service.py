"""The run service: the one seam through which the CLI, the daemon, a web API and a multi-host executor start,
select, load, cancel and reap runs.

Creating a run is one step a crash cannot split. SQLite and the file system cannot commit together, so the
order is chosen so that every crash leaves something the next reader repairs:

1. one write transaction decides admission (the overlap policy), picks a free id and inserts the index row
   with this process as its runner; the daemon's slot claim is that same insert (a unique
   `(process, scheduled_for)`), and `within=` adds its own statements to the transaction;
2. then the run folder and run.json are written.

A crash before 1 commits leaves nothing. A crash after it leaves a row whose runner is dead: the reaper (any
reader, the daemon at start) stops what is left of the run, marks it interrupted and writes its run.json,
creating the folder if need be. From then on run.json is the record and the index follows it; where they
disagree, run.json wins.

A `RunService` holds a `Store`, so it belongs to one thread, like the store: open one per thread.

Notifications: a run of a process that names notify targets tells them of its start, of a failed attempt
that will be retried and of its end (a run skipped by its overlap policy is a missed slot), in the
background; each outcome lands in the run's console log and run.json. A short-lived caller (`taskctl run`)
calls `wait_for_notifications` before it exits, or the deliveries still going die with it.

How the daemon uses it: at start, `reap()` (runs left running by a dead daemon become interrupted, what is
left of their processes is stopped); for the slots due at one instant, `claim_slots` (one transaction: per
slot what `create(definition, RunRequest(trigger, scheduled_for, owner=RunOwner.DAEMON))` does in its own,
SlotTakenError for a slot that already has its run, `within=` to advance its cursor), then
`start_first_thread` for each run that starts (all of them before anything else), `make_folder` and
`execute(first=...)` in a worker thread of its own, whose service records through the daemon's shared
`GroupWriter`; `record_missed` for a slot that will not run; a QUEUE or REPLACE run stays in memory and is
decided again with `admit` when a run of its process ends (after `request_stop` of the blockers for REPLACE);
`cancel_requests` tells which of its runs `taskctl cancel` asked to stop, and `CancelToken.cancel()` stops
one. Notifications need nothing more: `execute` sends a run's, `make_folder` (and so `create`) a skipped run's
(`missed`), `admit` those of a queued run
cancelled while waiting; a slot recorded with `record_missed` is the daemon's to announce
(`taskctl.notify.Notifier.slot_missed`), and before it exits it calls `wait_for_all_notifications` (the runs
of every worker's service).
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.errors import NotFoundError, TaskctlError, UsageError, closest, not_found
from taskctl.runner.control import executing_here, is_alive, own_start_ticks, this_host
from taskctl.runs import (
    RUN_JSON,
    RunFields,
    RunId,
    RunJsonError,
    RunOwner,
    RunRecord,
    RunStatus,
    ThreadRecord,
    ThreadStatus,
    Trigger,
    read_run_json,
    run_stamp,
    write_run_json,
)
from taskctl.store import (
    IndexCorruptError,
    IndexUnavailableError,
    RebuildReport,
    RunIndex,
    RunRow,
    Store,
    Transaction,
    move_aside,
    open_index,
)
from taskctl.workspace import Workspace

# Starting runs needs the config models and the process machinery; reading, reaping and cancelling runs
# (`history`, `show`, `logs`, `cancel`) does not, so those are imported where a run is started.
if TYPE_CHECKING:
    from taskctl.config.loader import ResolvedProcess
    from taskctl.runner.chain import FirstLaunch, FirstThread, RunHooks
    from taskctl.runner.notices import RunNotices
    from taskctl.runner.overlap import OverlapDecision
    from taskctl.runner.process import CancelToken

CANCEL_POLL = 0.05  # seconds between looks at a run being cancelled
QUEUE_POLL = 0.2  # seconds between admission decisions of a run waiting in a `taskctl run`


@dataclass(frozen=True)
class RunRequest:
    """Who asks for a run, and why."""

    trigger: Trigger = Trigger.MANUAL
    scheduled_for: datetime | None = None  # the slot (aware UTC); one slot, one run
    owner: RunOwner = RunOwner.CLI
    force: bool = False  # start whatever the overlap policy says


@dataclass(frozen=True)
class SlotClaim:
    """One run to create in `RunService.claim_slots`, with what its transaction adds (`within`)."""

    definition: ResolvedProcess
    request: RunRequest
    within: Callable[[Transaction], None] | None = None


@dataclass(frozen=True)
class CreatedRun:
    """A run just created: its record (as in run.json) and the admission decided in the same transaction.

    START: it is running (execute it); QUEUE or REPLACE: it is queued (decide again with `admit`); SKIP: it
    has been recorded as skipped.
    """

    record: RunRecord
    decision: OverlapDecision


class ClaimLater(Exception):
    """A slot claimed ahead of its instant whose run would not start now (see `RunService.claim_slots`)."""

    def __init__(self, slot: datetime) -> None:
        super().__init__(f"the slot {slot.isoformat()} is claimed at its instant")
        self.slot = slot


def _start_of(request: RunRequest, now: datetime, early: bool) -> datetime:
    """When a run claimed at `now` starts: at its slot if claimed `early`, ahead of it; else now."""
    slot = request.scheduled_for
    return slot if early and slot is not None and slot > now else now


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # the runner stopped it and recorded it
    REQUESTED = "requested"  # the runner was asked and is still stopping it
    INTERRUPTED = "interrupted"  # the runner was gone: the run is now marked interrupted


@dataclass(frozen=True)
class CancelResult:
    run_id: RunId
    outcome: CancelOutcome
    status: RunStatus

    def to_json(self) -> dict[str, str]:
        """`cancel --json`."""
        return {"id": self.run_id, "outcome": str(self.outcome), "status": str(self.status)}


@dataclass(frozen=True)
class LoadedRun:
    """A run as `show` and `logs` read it: run.json, or what the index knows when run.json cannot be read."""

    record: RunRecord
    problem: str | None = None  # why run.json was not used
    has_folder: bool = True  # False: a schedule slot recorded as missed (an index row, never run)


class RunService:
    """Starting, selecting, loading, cancelling and reaping the runs of one workspace, for one thread."""

    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        clock: Clock = SYSTEM_CLOCK,
        on_warning: Callable[[str], None] | None = None,
        run_index: RunIndex | None = None,
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.clock = clock
        self.on_warning = on_warning
        # where executing runs record their changes (the daemon's workers share one GroupWriter)
        self.run_index: RunIndex = run_index or store
        self._notices: list[RunNotices] = []  # of the runs this service started or ended

    # -- starting ------------------------------------------------------------------------------------

    def create(
        self,
        definition: ResolvedProcess,
        request: RunRequest,
        within: Callable[[Transaction], None] | None = None,
    ) -> CreatedRun:
        """Create a run: index row, run folder and run.json, as one step (see the module docstring).

        Raises SlotTakenError when `request.scheduled_for` already has its run, IndexUnavailableError when the
        index cannot be written (nothing is created then).
        """
        created = self._insert(definition, request, within, give_way_to_stale=True)
        if created is None:  # a run in the way needs reaping: outside the transaction, as that takes time
            self.reap(definition.name)
            created = self._insert(definition, request, within, give_way_to_stale=False)
        assert created is not None
        return self.make_folder(definition, CreatedRun(*created))

    def claim_slots(
        self, claims: Sequence[SlotClaim], early: bool = False
    ) -> list[CreatedRun | TaskctlError | ClaimLater]:
        """Claim many schedule slots in ONE write transaction: for each, what `create` does in its transaction
        (admission, id, index row, its `within`), in order, so that a later claim of a process sees the runs
        of the earlier ones. Nothing is written to disk: call `make_folder` for each run created, before
        anything else (the reaper creates the folder of a run whose runner died first).

        `early`: slots may be claimed ahead of their instant. Such a run is created as starting at its slot
        (its id and `started` are the slot's), to be started then by the caller; one that would not start now
        (the overlap policy, with the runs active now, which may end before its instant) is not created:
        ClaimLater, claim it again at its instant.

        One result per claim: the run created, SlotTakenError (the slot has its run), ClaimLater, or the
        TaskctlError that kept it from being created (IndexUnavailableError for all of them when the index
        cannot be written). A claim whose process has an active run needing the reaper is created on its own,
        after the reaping.
        """
        results: list[CreatedRun | TaskctlError | ClaimLater | None] = [None] * len(claims)
        alone: list[int] = []
        try:
            with self.store.transaction() as tx:
                stale: dict[str, bool] = {}
                # Read together; a process's second claim reads them again, with the run its first added.
                first_active = tx.active_of({claim.definition.name for claim in claims})
                now = self.clock.now()  # a claim made in the next second reads its own
                numbers = tx.highest_numbers(
                    {
                        RunId.of(
                            c.definition.name,
                            run_stamp(_start_of(c.request, now, early), ZoneInfo(c.definition.zone_name)),
                        )
                        for c in claims
                    }
                )
                for index, claim in enumerate(claims):
                    name = claim.definition.name
                    active = first_active.pop(name) if name in first_active else tx.active(name)
                    if name not in stale:
                        stale[name] = any(self._stale(row) for row in active)
                    if stale[name]:
                        alone.append(index)
                        continue
                    tx.execute("SAVEPOINT claim")  # a claim that fails leaves nothing of itself
                    try:
                        record, decision = self._insert_in(
                            tx, claim.definition, claim.request, active, numbers, early
                        )
                        if claim.within is not None:
                            claim.within(tx)
                    except (TaskctlError, ClaimLater) as error:
                        tx.execute("ROLLBACK TO claim")
                        results[index] = error
                    else:
                        results[index] = CreatedRun(record, decision)
                    tx.execute("RELEASE claim")
        except IndexUnavailableError as error:
            return [error] * len(claims)
        for index in alone:
            claim = claims[index]
            try:
                results[index] = self.create(claim.definition, claim.request, claim.within)
            except TaskctlError as error:
                results[index] = error
        return [result for result in results if result is not None]

    def make_folder(
        self, definition: ResolvedProcess, created: CreatedRun, first: FirstThread | None = None
    ) -> CreatedRun:
        """Write the folder and run.json of a run just created (`create` does it itself; `claim_slots`
        leaves it to the caller). Raises TaskctlError, having recorded the run failed, if it cannot.

        `first`: the run's first thread, started ahead: its run.json is left to the run's execution
        (`FirstThread.unrecorded`), which writes it a second later or at the end."""
        record, decision = created.record, created.decision
        try:
            record.folder.mkdir(parents=True, exist_ok=True)
            if first is None:
                write_run_json(record)
            else:
                first.unrecorded = True
        except OSError as exc:
            error = f"cannot create the run folder {self.workspace.relative(record.folder)}/: {exc.strerror}"
            _end_unstarted(record, RunStatus.FAILED, error, self.clock.now())
            with contextlib.suppress(IndexUnavailableError):
                self.store.save_run(record)
            raise TaskctlError(f"{error}.") from None
        from taskctl.runner.overlap import Admission

        if decision.admission is Admission.SKIP:
            self._notify_end(definition, record)  # a slot skipped by the overlap policy is a missed one
        return created

    def _insert(
        self,
        definition: ResolvedProcess,
        request: RunRequest,
        within: Callable[[Transaction], None] | None,
        give_way_to_stale: bool,
    ) -> tuple[RunRecord, OverlapDecision] | None:
        """The creating transaction: decide admission, insert the row. None (nothing written) if an active run
        must be reaped first and `give_way_to_stale`."""
        with self.store.transaction() as tx:
            active = tx.active(definition.name)
            if give_way_to_stale and any(self._stale(row) for row in active):
                return None
            created = self._insert_in(tx, definition, request, active)
            if within is not None:
                within(tx)
        return created

    def _insert_in(
        self,
        tx: Transaction,
        definition: ResolvedProcess,
        request: RunRequest,
        active: list[RunRow],
        numbers: dict[RunId, int] | None = None,
        early: bool = False,
    ) -> tuple[RunRecord, OverlapDecision]:
        """Within `tx`: decide admission, pick the id, insert the row. Raises SlotTakenError, or ClaimLater
        if `early` (see `claim_slots`). `active`: the process's active runs, as the caller has just read them
        in `tx`; `numbers`: `tx.highest_numbers` read for several runs (each used once)."""
        from taskctl.runner.chain import mark_started
        from taskctl.runner.overlap import ActiveRun, Admission, decide_overlap

        now = self.clock.now()
        started = _start_of(request, now, early)
        runs = [ActiveRun(row.id, row.status) for row in active]
        decision = decide_overlap(definition.overlap, definition.max_instances, runs, request.force)
        if started > now and decision.admission is not Admission.START:
            raise ClaimLater(started)
        run_id = self._free_id(
            tx, definition.name, run_stamp(started, ZoneInfo(definition.zone_name)), numbers
        )
        record = self._new_record(definition, request, run_id, started)
        if decision.admission is Admission.START:
            mark_started(record, started)
        elif decision.admission is Admission.SKIP:
            blockers = ", ".join(decision.blockers)
            message = f"skipped: {blockers} still active (overlap: {definition.overlap})"
            _end_unstarted(record, RunStatus.SKIPPED, message, started)
        tx.insert_run(RunRow.of(record))
        return record, decision

    def _stale(self, row: RunRow) -> bool:
        """True if the reaper would change this active row (its runner died, or its run.json has finished)."""
        if not row.has_folder or (row.host and row.host != this_host()):
            return False
        if executing_here(row.id):  # this process runs it and will record its end
            return False
        if not is_alive(row.pid, row.pid_start):
            return True
        record = _read_or_none(self.workspace.run_folder(row.id))
        return record is not None and record.status.finished

    def _free_id(
        self, tx: Transaction, process: str, stamp: str, numbers: dict[RunId, int] | None = None
    ) -> RunId:
        """The first id of this second after those the index has, whose folder does not exist either."""
        base = RunId.of(process, stamp)
        number = (numbers.pop(base) if numbers and base in numbers else tx.highest_number(process, stamp)) + 1
        while True:
            run_id = RunId.of(process, stamp if number == 1 else f"{stamp}-{number}")
            if not os.path.lexists(f"{self.workspace.process_dir}/{run_id}"):  # no Path: the daemon does 100s
                return run_id
            number += 1

    def _new_record(
        self, definition: ResolvedProcess, request: RunRequest, run_id: RunId, started: datetime
    ) -> RunRecord:
        pid, pid_start = own_start_ticks()
        return RunRecord(
            id=run_id,
            process=definition.name,
            folder=self.workspace.run_folder(run_id),
            trigger=request.trigger,
            status=RunStatus.QUEUED,
            started=started,
            scheduled_for=request.scheduled_for,
            config_revision=definition.revision,
            user=_user(),
            host=this_host(),
            owner=request.owner,
            pid=pid,
            pid_start=pid_start,
            threads=[ThreadRecord(name=t.name, log=f"{t.name}.log") for t in definition.threads],
        )

    def record_missed(
        self,
        process: str,
        scheduled_for: datetime,
        zone_name: str,
        reason: str = "missed",
        trigger: Trigger = Trigger.SCHEDULE,
        within: Callable[[Transaction], None] | None = None,
    ) -> RunId:
        """Record a schedule slot that will never run as a `skipped` index row without a run folder.

        It claims the slot like a run would (SlotTakenError if the slot has its run already).
        """
        run_id = RunId.of(process, f"{run_stamp(scheduled_for, ZoneInfo(zone_name))}-{reason}")
        row = RunRow(
            id=run_id,
            process=process,
            trigger=trigger,
            status=RunStatus.SKIPPED,
            started=scheduled_for,
            scheduled_for=scheduled_for,
            finished=scheduled_for,
            host=this_host(),
            owner=RunOwner.DAEMON,
            error=reason,
            has_folder=False,
        )
        with self.store.transaction() as tx:
            tx.insert_run(row)
            if within is not None:
                within(tx)
        return run_id

    def wait_for_notifications(self, timeout: float, cancel: CancelToken | None = None) -> bool:
        """Wait up to `timeout` seconds (less if `cancel` fires) for the deliveries of the runs this service
        started or ended; True if none is left."""
        deadline = time.monotonic() + timeout
        for notices in self._notices:
            while notices.pending():
                left = deadline - time.monotonic()
                if left <= 0 or (cancel is not None and cancel.is_set()):
                    return not any(n.pending() for n in self._notices)
                notices.wait(min(left, CANCEL_POLL * 2))
        self._notices = [n for n in self._notices if n.pending()]
        return not self._notices

    def pending_notifications(self) -> int:
        """How many deliveries of this service's runs are still going."""
        return sum(notices.pending() for notices in self._notices)

    def _run_notices(self, definition: ResolvedProcess, record: RunRecord) -> RunNotices | None:
        if not definition.notify:
            return None
        from taskctl.runner.notices import RunNotices

        notices = RunNotices(definition, record, self.workspace.root.name, self.clock)
        self._notices = [n for n in self._notices if n.pending()] + [notices]
        return notices

    def _notify_end(self, definition: ResolvedProcess, record: RunRecord) -> None:
        """Tell the targets of a run that ended without executing (skipped, or cancelled while queued)."""
        notices = self._run_notices(definition, record)
        if notices is not None:
            notices.close()
            notices.finished()

    def admit(self, record: RunRecord, definition: ResolvedProcess) -> OverlapDecision:
        """Decide again for a queued run, without waiting. On START it is running (recorded), on SKIP it has
        ended (it was cancelled or reaped meanwhile: `record.status` says which)."""
        from taskctl.runner.chain import mark_started
        from taskctl.runner.overlap import ActiveRun, Admission, OverlapDecision, decide_overlap

        self.reap(record.process)  # a run ahead whose runner died must not keep this one waiting
        with self.store.transaction() as tx:
            row = tx.get(record.id)
            if row is None or row.status is not RunStatus.QUEUED or row.cancel_requested:
                ended = None if row is None or row.status is RunStatus.QUEUED else row.status
                decision = OverlapDecision(Admission.SKIP)
            else:
                ended = None
                active = [ActiveRun(r.id, r.status) for r in tx.active(record.process)]
                decision = decide_overlap(
                    definition.overlap, definition.max_instances, active, waiting=record.id
                )
                if decision.admission is Admission.START:
                    mark_started(record, self.clock.now())
                    tx.save_run(record)
        if decision.admission is Admission.START:
            self._write(record)
        elif decision.admission is Admission.SKIP:
            if ended is not None:
                record.status = ended
            else:
                self._end_waiting(
                    record, RunStatus.CANCELLED, "cancelled while waiting for the runs ahead of it"
                )
                self._notify_end(definition, record)
        return decision

    def wait_for_admission(
        self, created: CreatedRun, definition: ResolvedProcess, cancel: CancelToken, poll: float = QUEUE_POLL
    ) -> bool:
        """Wait (outside any transaction) until a queued run may start; True once it runs, False if it was
        cancelled while waiting (then recorded so). REPLACE asks the runs in the way to stop, once each."""
        from taskctl.runner.overlap import Admission

        decision = created.decision
        asked: set[str] = set()
        while decision.admission in (Admission.QUEUE, Admission.REPLACE):
            if decision.admission is Admission.REPLACE:
                for blocker in decision.blockers:
                    if blocker not in asked:
                        asked.add(blocker)
                        row = self.store.get(blocker)
                        if row is not None and not row.status.finished:
                            self.request_stop(row)
            if cancel.wait(poll):
                self._end_waiting(
                    created.record, RunStatus.CANCELLED, "cancelled while waiting for the runs ahead of it"
                )
                self._notify_end(definition, created.record)
                return False
            decision = self.admit(created.record, definition)
        return decision.admission is Admission.START

    def execute(
        self,
        definition: ResolvedProcess,
        record: RunRecord,
        cancel: CancelToken | None = None,
        hooks: RunHooks | None = None,
        first: FirstThread | None = None,
    ) -> RunRecord:
        """Run the threads of a started run; returns the finished record. Its notifications go on in the
        background (see `wait_for_notifications`). `first`: its first thread, from `start_first_thread`."""
        from taskctl.runner.chain import execute_run

        notices = self._run_notices(definition, record)
        return execute_run(
            self.workspace, definition, record, self.run_index, self.clock, cancel, hooks, notices, first
        )

    def start_first_thread(self, definition: ResolvedProcess, record: RunRecord) -> FirstThread | None:
        """Start the first thread of a run created by `claim_slots` and admitted, before its run.json and
        logs are written (`make_folder`, then `execute(first=...)` follow); None if it must start the usual
        way. See `taskctl.runner.chain.start_first_thread`."""
        from taskctl.runner.chain import start_first_thread

        return start_first_thread(self.workspace, definition, record, self.clock)

    def prepare_first_thread(self, definition: ResolvedProcess, record: RunRecord) -> FirstLaunch | None:
        """`start_first_thread` in two steps: all but the spawn (None: it must start the usual way)..."""
        from taskctl.runner.chain import prepare_first_thread

        return prepare_first_thread(self.workspace, definition, record)

    def launch_first_thread(self, launch: FirstLaunch) -> FirstThread | None:
        """...then the spawn (None: it must start the usual way)."""
        from taskctl.runner.chain import launch_first_thread

        return launch_first_thread(launch, self.clock)

    def run(
        self,
        definition: ResolvedProcess,
        request: RunRequest | None = None,
        cancel: CancelToken | None = None,
        hooks: RunHooks | None = None,
        on_created: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Create, admit (waiting if the policy says queue or replace) and execute a run; the finished
        record."""
        from taskctl.runner.overlap import Admission
        from taskctl.runner.process import CancelToken

        created = self.create(definition, request or RunRequest())
        if on_created is not None:
            on_created(created.record)
        if created.decision.admission is Admission.SKIP:
            return created.record
        if created.decision.admission is not Admission.START:
            own_cancel = cancel is None
            token = cancel or CancelToken()
            try:
                if not self.wait_for_admission(created, definition, token):
                    return created.record
            finally:
                if own_cancel:
                    token.close()
        return self.execute(definition, created.record, cancel, hooks)

    # -- selecting and loading ------------------------------------------------------------------------

    def resolve(self, text: str, latest_for_name: bool = False) -> RunId:
        """The run id meant by `text`: an exact id, a unique prefix, or `NAME@latest` (or a bare NAME, with
        `latest_for_name`). Raises NotFoundError (naming the closest process) or UsageError (ambiguous)."""
        text = text.strip().rstrip("/")
        if latest_for_name and "/" not in text and "@" not in text and self.store.latest_id(text):
            text = f"{text}@latest"
        if text.endswith("@latest"):
            process = text.removesuffix("@latest")
            latest = self.store.latest_id(process)
            if latest is None:
                raise self._unknown_process(process)
            return latest
        exact = RunId.parse(text)
        if exact is not None and (
            self.store.get(exact) is not None or self.workspace.run_folder(exact).is_dir()
        ):
            return exact
        matches = self.store.ids_with_prefix(text, limit=11)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = "\n  ".join(matches[:10]) + ("\n  ..." if len(matches) > 10 else "")
            raise UsageError(f"'{text}' matches several runs; give more of the id:\n  {shown}")
        process = text.split("/", 1)[0]
        if "/" in text and process in self.store.processes():
            raise not_found("run", text, [r.id for r in self.store.runs(process, limit=200)])
        raise self._unknown_process(process, run_text=text)

    def _unknown_process(self, process: str, run_text: str | None = None) -> NotFoundError:
        known = set(self.store.processes())
        if self.workspace.process_dir.is_dir():
            known.update(p.name for p in self.workspace.process_dir.iterdir() if p.is_dir())
        hint = closest(process, known)
        what = f"run '{run_text}'" if run_text else f"run of '{process}'"
        if hint:
            return NotFoundError(f"no {what}; did you mean '{hint}'?")
        if known:
            return NotFoundError(f"no {what}; processes with runs: {', '.join(sorted(known)[:8])}.")
        return NotFoundError(f"no {what}: nothing has run in this workspace yet.")

    def check_process(self, name: str, known: Callable[[], Iterable[str]] = tuple) -> None:
        """Raise NotFoundError unless `name` has runs or is among `known()` (the configured names)."""
        names = set(self.store.processes())
        if name in names:
            return
        names.update(known())
        if name not in names:
            raise not_found("process", name, names)

    def history(
        self,
        process: str | None = None,
        statuses: Sequence[RunStatus] = (),
        since: datetime | None = None,
        limit: int | None = 20,
        known: Callable[[], Iterable[str]] = tuple,
    ) -> list[RunRow]:
        """The newest runs first (after bringing the index up to date with the runs on this host)."""
        if process is not None:
            self.check_process(process, known)
        self.reap()
        return self.store.runs(process, statuses, since, limit)

    def select(
        self,
        targets: Sequence[str],
        latest: bool = False,
        since: datetime | None = None,
        since_text: str = "",
        allow_running: bool = True,
        known: Callable[[], Iterable[str]] = tuple,
    ) -> list[RunId]:
        """The runs named by `targets` (ids, prefixes, NAME@latest), or by one process NAME with `latest` or
        `since`, oldest first. Unless `allow_running`, a run still active is an error."""
        if latest and since is not None:
            raise UsageError("--latest and --since choose runs in different ways; give one of them.")
        self.reap()
        if latest or since is not None:
            if len(targets) != 1 or "/" in targets[0] or "@" in targets[0]:
                raise UsageError("--latest and --since take one process NAME, not run ids.")
            name = targets[0]
            self.check_process(name, known)
            rows = self.store.runs(name, since=since, limit=1 if latest else None)
            if not rows:
                raise TaskctlError(
                    f"process '{name}' has no runs{f' since {since_text} ago' if since else ''}."
                )
            run_ids = [row.id for row in reversed(rows)]
        else:
            bare = len(targets) == 1 and "/" not in targets[0] and "@" not in targets[0]
            if bare and self.store.latest_id(targets[0]) is not None:
                raise UsageError(
                    f"'{targets[0]}' is a process; add --latest or --since 7d to choose which of its runs."
                )
            run_ids = list(dict.fromkeys(self.resolve(t) for t in targets))
        if not allow_running:
            for run_id in run_ids:
                row = self.store.get(run_id)
                if row is not None and not row.status.finished:
                    raise TaskctlError(
                        f"run {run_id} is still {row.status}; "
                        "wait for it, cancel it, or pass --allow-running."
                    )
        return run_ids

    def load(self, text: str, latest_for_name: bool = False) -> LoadedRun:
        """The run meant by `text` (see `resolve`), from its run.json; if that cannot be read, what the index
        knows, with the reason."""
        self.reap()
        run_id = self.resolve(text, latest_for_name)
        folder = self.workspace.run_folder(run_id)
        row = self.store.get(run_id)
        if row is not None and not row.has_folder:
            return LoadedRun(_record_of(row, folder), has_folder=False)
        try:
            return LoadedRun(read_run_json(folder))
        except RunJsonError as exc:
            if row is not None and not row.status.finished and not (folder / RUN_JSON).exists():
                return LoadedRun(_record_of(row, folder))  # a daemon run's first second: the index has it
            if row is None:
                raise TaskctlError(
                    f"{exc}; the run's record is lost (the run index does not know it either): "
                    "restore the file from a backup or remove the run folder."
                ) from None
            return LoadedRun(_record_of(row, folder), problem=str(exc))

    # -- cancelling ----------------------------------------------------------------------------------

    def request_stop(self, row: RunRow) -> bool:
        """Ask the runner of an active run to stop it; False if that runner is gone.

        A daemon's run is asked through `cancel_requested`, which the daemon polls; a `taskctl run` gets
        SIGTERM. A runner on another host can only be asked through the index.
        """
        self.store.request_cancel(row.id)
        if row.host and row.host != this_host():
            return True
        if not is_alive(row.pid, row.pid_start):
            return False
        if row.owner is RunOwner.DAEMON or row.pid == os.getpid():
            return True  # it polls cancel_requested (and a runner never signals itself)
        assert row.pid is not None
        try:
            os.kill(row.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def cancel(self, run_id: RunId, wait: float = 15.0) -> CancelResult:
        """Stop a queued or running run: ask its runner, and wait up to `wait` seconds for it to record the
        end."""
        row = self.store.get(run_id)
        if row is None:
            raise NotFoundError(f"no run with id '{run_id}'.")
        if row.status.finished:
            raise TaskctlError(f"run {run_id} already finished ({row.status}); there is nothing to cancel.")
        if not self.request_stop(row):
            self._interrupt(row)
            return CancelResult(run_id, CancelOutcome.INTERRUPTED, RunStatus.INTERRUPTED)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            status = self._current_status(row)
            if status.finished:
                return CancelResult(run_id, CancelOutcome.CANCELLED, status)
            time.sleep(CANCEL_POLL)
        return CancelResult(run_id, CancelOutcome.REQUESTED, row.status)

    def cancel_requests(self, run_ids: Iterable[str]) -> set[RunId]:
        """Which of `run_ids` were asked to stop (the daemon polls this for its runs)."""
        return self.store.cancel_requested(run_ids)

    def _current_status(self, row: RunRow) -> RunStatus:
        """run.json's status if it can be read (it is written first), else the index's."""
        try:
            return read_run_json(self.workspace.run_folder(row.id)).status
        except RunJsonError:
            current = self.store.get(row.id)
            return row.status if current is None else current.status

    # -- reaping -------------------------------------------------------------------------------------

    def reap(self, process: str | None = None) -> list[RunId]:
        """Bring the index up to date with the active runs recorded on this host; returns the ids changed.

        A run whose run.json has finished is copied from it (run.json wins). A run whose runner has died is
        marked interrupted, after what is left of its processes has been stopped. Runs of other hosts are left
        to their own hosts. Best effort: when the index cannot be written, readers still read it.
        """
        changed: list[RunId] = []
        if self.store.read_only:
            return changed
        try:
            for row in self.store.active(process):
                if not self._stale(row):
                    continue
                record = _read_or_none(self.workspace.run_folder(row.id))
                if record is not None and record.status.finished:
                    self.store.save_run(record)
                else:
                    self._interrupt(row, record)
                changed.append(row.id)
        except IndexUnavailableError:
            pass
        return changed

    def _interrupt(self, row: RunRow, record: RunRecord | None = None) -> None:
        """Record that a run's runner died before finishing it, in run.json (if it can be) and the index."""
        from taskctl.runner.descendants import stop_run_processes

        stop_run_processes(row.id, row.child_pgid)
        folder = self.workspace.run_folder(row.id)
        record = record or _read_or_none(folder)
        now = self.clock.now()
        error = f"the runner (pid {row.pid}) stopped before the run finished"
        if record is not None and record.status.finished:
            self.store.save_run(record)
            return
        if record is None and (folder / "run.json").exists():
            self.store.set_status(row.id, RunStatus.INTERRUPTED, now, error)  # unreadable: leave the file be
            return
        record = record or _record_of(row, folder)
        record.status = RunStatus.INTERRUPTED
        record.finished = now
        record.error = error
        record.child_pgid = None
        for thread in record.threads:
            if thread.status is ThreadStatus.RUNNING:
                thread.end(ThreadStatus.INTERRUPTED, now)
            elif thread.status is ThreadStatus.QUEUED:
                thread.status = ThreadStatus.NOT_RUN
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_run_json(record)
        except OSError:
            self.store.set_status(row.id, RunStatus.INTERRUPTED, now, error)
            return
        self.store.save_run(record)

    # -- recording -----------------------------------------------------------------------------------

    def _end_waiting(self, record: RunRecord, status: RunStatus, error: str) -> None:
        _end_unstarted(record, status, error, self.clock.now())
        self._write(record)
        try:
            self.store.save_run(record)
        except IndexUnavailableError as exc:
            self._warn(exc.message)

    def _write(self, record: RunRecord) -> None:
        try:
            write_run_json(record)
        except OSError as exc:
            self._warn(f"cannot write {record.folder / 'run.json'}: {exc.strerror or exc}.")

    def _warn(self, message: str) -> None:
        if self.on_warning is not None:
            self.on_warning(message)


def rebuild_index(workspace: Workspace, clock: Clock = SYSTEM_CLOCK) -> RebuildReport:
    """Recreate the run index from the run folders; a damaged index is first moved aside to
    `state.db.corrupt-<stamp>`."""
    moved: Path | None = None
    try:
        store = Store(workspace.state_db, label=workspace.relative(workspace.state_db))
    except IndexCorruptError:
        moved = move_aside(workspace.state_db, clock.now().strftime("%Y%m%d-%H%M%S"))
        store = Store(workspace.state_db, label=workspace.relative(workspace.state_db))
    with store:
        report = store.rebuild(workspace.process_dir)
    report.moved_aside = moved
    return report


def wait_for_all_notifications(timeout: float) -> bool:
    """Wait up to `timeout` seconds for the webhook deliveries of every run this process executed or ended,
    whichever service did it (for a daemon about to exit); True if none is left."""
    from taskctl.runner.notices import wait_for_deliveries

    return wait_for_deliveries(timeout)


@contextmanager
def open_service(
    workspace: Workspace,
    clock: Clock = SYSTEM_CLOCK,
    read_only: bool = False,
    on_warning: Callable[[str], None] | None = None,
    run_index: RunIndex | None = None,
) -> Iterator[RunService]:
    """A run service over the workspace's index, for this thread. `read_only` (commands that only read): when
    the index cannot be written, read it anyway (or an in-memory copy rebuilt from the run folders).
    `run_index`: where the runs it executes record their changes (default: its own store)."""
    with open_index(workspace, read_only_fallback=read_only) as store:
        yield RunService(workspace, store, clock, on_warning, run_index)


def _end_unstarted(record: RunRecord, status: RunStatus, error: str, moment: datetime) -> None:
    record.status = status
    record.finished = moment
    record.error = error
    for thread in record.threads:
        thread.status = ThreadStatus.NOT_RUN
        thread.started = None


def _read_or_none(folder: Path) -> RunRecord | None:
    try:
        return read_run_json(folder)
    except RunJsonError:
        return None


def _record_of(row: RunRow, folder: Path) -> RunRecord:
    """A record holding what the index knows of a run (no threads)."""
    values = {item.name: getattr(row, item.name) for item in fields(RunFields)}
    return RunRecord(**values, folder=folder)


@functools.cache
def _user() -> str:
    """Who runs the runs of this process (asked once: without $USER it reads the password database)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
