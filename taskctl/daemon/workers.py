"""The daemon's workers: threads that create the runs of due slots and execute them.

Each worker opens its own run service (a Store belongs to the thread that opened it) and keeps it for its
life. A job is one of:

- the due slots the loop hands out together (all those due at one instant, handed out `ahead` of it): one
  worker claims them all in ONE write transaction (each slot's run row, and the cursors the loop gave, as
  `RunService.claim_slots` does), waits for their instant, starts their first threads, then hands each run
  that starts to a worker of its own; a slot whose run would not start when claimed ahead (overlap) is
  claimed again at its instant;
- a run just claimed that starts: its folder and run.json, then its execution;
- a waiting run the loop has admitted.

Runs record their changes in the index through one `GroupWriter` shared by the workers: the ends of many
runs are committed together instead of in a transaction each. Workers report to the loop through its event
queue only; the loop decides everything else. The pool grows to as many threads as jobs are outstanding: the
loop never hands out more than `max_parallel_runs`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import SimpleQueue
from typing import TYPE_CHECKING

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.daemon.dispatch import Created
from taskctl.daemon.events import DaemonEvent, RunEnded, SlotHandled
from taskctl.daemon.state import save_cursors_in
from taskctl.errors import TaskctlError
from taskctl.runner.chain import FirstLaunch, FirstThread, RunHooks
from taskctl.runner.overlap import Admission
from taskctl.runner.process import CancelToken
from taskctl.runner.service import (
    ClaimLater,
    CreatedRun,
    RunRequest,
    RunService,
    SlotClaim,
    open_service,
)
from taskctl.runs import RunOwner, RunRecord, RunStatus, write_run_json
from taskctl.store import GroupWriter, SlotTakenError

if TYPE_CHECKING:
    from taskctl.config.loader import ResolvedProcess
    from taskctl.daemon.log import DaemonLog
    from taskctl.daemon.scheduler import CursorKey, DueRun
    from taskctl.workspace import Workspace

SPAWNERS = 4  # threads starting the runs claimed together
_OUTCOME = {Admission.START: Created.STARTED, Admission.SKIP: Created.SKIPPED}


@dataclass(frozen=True)
class CreateJob:
    """Claim a due slot by creating its run; run it if it starts."""

    due: DueRun
    definition: ResolvedProcess
    cursors: Mapping[CursorKey, datetime] | None  # saved in the claiming transaction, when given


@dataclass(frozen=True)
class ClaimJob:
    """Claim these due slots in one transaction; each run that starts goes on as a `StartJob`."""

    slots: tuple[CreateJob, ...]


@dataclass(frozen=True)
class StartJob:
    """Write the folder of a run just claimed that starts, then execute it."""

    slot: CreateJob
    created: CreatedRun
    token: CancelToken
    first: FirstThread | None  # its first thread, already started


@dataclass(frozen=True)
class ExecuteJob:
    """Run a waiting run that the loop has admitted (it is recorded running)."""

    record: RunRecord
    definition: ResolvedProcess


Job = ClaimJob | StartJob | ExecuteJob


class WorkerPool:
    """Worker threads fed by `create` and `execute`; `cancel` stops the runs they execute."""

    def __init__(
        self,
        workspace: Workspace,
        events: SimpleQueue[DaemonEvent],
        log: DaemonLog,
        clock: Clock = SYSTEM_CLOCK,
        ahead: timedelta = timedelta(0),
    ) -> None:
        self._workspace = workspace
        self._ahead = ahead  # how early the loop hands slots out: a claimed run waits at most this long
        self._events = events
        self._log = log
        self._clock = clock
        self._jobs: SimpleQueue[Job | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._tokens: dict[str, CancelToken] = {}
        self._writer: GroupWriter | None = None  # started with the first worker's service
        self._spawn_pool: ThreadPoolExecutor | None = None

    def create(self, slots: Sequence[CreateJob]) -> None:
        """Hand due slots to a worker, which claims them in one transaction."""
        if slots:
            self._submit(ClaimJob(tuple(slots)))

    def execute(self, record: RunRecord, definition: ResolvedProcess) -> None:
        """Hand an admitted waiting run to a worker."""
        self._submit(ExecuteJob(record, definition))

    def cancel(self, run_ids: Iterable[str]) -> list[str]:
        """Stop these runs (those executing here); returns the ids it asked."""
        with self._lock:
            tokens = [(run_id, self._tokens[run_id]) for run_id in run_ids if run_id in self._tokens]
        for _, token in tokens:
            token.cancel()
        return [run_id for run_id, _ in tokens]

    def cancel_all(self) -> list[str]:
        """Stop every run executing here; returns their ids."""
        with self._lock:
            run_ids = list(self._tokens)
        return self.cancel(run_ids)

    @property
    def threads(self) -> int:
        with self._lock:
            return len(self._threads)

    def close(self, timeout: float) -> bool:
        """Let the workers finish their jobs and end; False if some are still busy after `timeout` seconds."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        deadline = self._clock.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - self._clock.monotonic()))
        done = not any(thread.is_alive() for thread in threads)
        if done and self._writer is not None:  # else a worker still busy may yet save its run
            self._writer.close()
        if done and self._spawn_pool is not None:
            self._spawn_pool.shutdown()
        return done

    def _submit(self, job: Job) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            else:
                thread = threading.Thread(
                    target=self._work, name=f"taskctl-worker-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put(job)

    def _work(self) -> None:
        with ExitStack() as stack:
            service: RunService | None = None
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                try:
                    if service is None:
                        service = self._open(stack)
                    if isinstance(job, ClaimJob):
                        self._claim(service, job)
                    elif isinstance(job, StartJob):
                        self._start(service, job)
                    else:
                        self._execute(service, job.record, job.definition)
                finally:
                    with self._lock:
                        self._idle += 1

    def _open(self, stack: ExitStack) -> RunService | None:
        """This worker's run service; None (logged) if the run index cannot be opened now."""
        with self._lock:
            if self._writer is None:
                self._writer = GroupWriter(self._workspace)
            writer = self._writer
        try:
            return stack.enter_context(
                open_service(self._workspace, self._clock, on_warning=self._log.warning, run_index=writer)
            )
        except TaskctlError as error:
            self._log.error(f"a worker cannot open the run index: {error.message}")
            return None

    def _claim(self, service: RunService | None, job: ClaimJob, early: bool = True) -> None:
        """Claim the slots of `job` together; report each (a slot handed out is always reported).

        A slot still ahead of its instant (the loop hands them out `ahead` early) is claimed at once, and its
        run started at its instant; one whose run would not start yet is claimed at its instant instead.
        """
        try:
            if service is None:
                raise TaskctlError("the run index cannot be opened")
            claims = [
                SlotClaim(
                    slot.definition,
                    RunRequest(slot.due.trigger, slot.due.scheduled_for, owner=RunOwner.DAEMON),
                    functools.partial(save_cursors_in, cursors=slot.cursors) if slot.cursors else None,
                )
                for slot in job.slots
            ]
            results = service.claim_slots(claims, early=early)
        except Exception as error:
            reason = error.message if isinstance(error, TaskctlError) else _one_line(error)
            for slot in job.slots:
                self._events.put(SlotHandled(slot.due, Created.FAILED, slot.definition, error=reason))
            return
        assert service is not None
        now = self._clock.now()
        started_now: list[tuple[CreateJob, CreatedRun]] = []
        ahead: dict[datetime, list[tuple[CreateJob, CreatedRun]]] = {}  # by the instant they start at
        later: list[CreateJob] = []
        for slot, result in zip(job.slots, results, strict=True):
            if isinstance(result, ClaimLater):
                later.append(slot)
            elif isinstance(result, CreatedRun) and result.decision.admission is Admission.START:
                if result.record.started > now:
                    ahead.setdefault(result.record.started, []).append((slot, result))
                else:
                    started_now.append((slot, result))
        if started_now:
            self._start_firsts(service, started_now, None)
        for slot, result in zip(job.slots, results, strict=True):
            if isinstance(result, SlotTakenError):
                self._events.put(SlotHandled(slot.due, Created.TAKEN, slot.definition))
            elif isinstance(result, TaskctlError):
                self._events.put(SlotHandled(slot.due, Created.FAILED, slot.definition, error=result.message))
            elif isinstance(result, CreatedRun) and result.decision.admission is not Admission.START:
                self._created(service, slot, result)
        for at in sorted(ahead):
            # Before the instant, all but the spawns is done now, in this thread.
            launches = [self._prepare(service, slot, created) for slot, created in ahead[at]]
            self._wait_until(at)
            self._start_firsts(service, ahead[at], launches)
        if later:
            self._wait_until(max(slot.due.scheduled_for for slot in later))
            self._claim(service, ClaimJob(tuple(later)), early=False)

    def _start_firsts(
        self,
        service: RunService,
        starting: list[tuple[CreateJob, CreatedRun]],
        launches: list[FirstLaunch | None] | None,
    ) -> None:
        """Start the first threads of runs just claimed, several at once (the spawner threads), before any
        worker is woken to write their records: the last of them starts as soon as it can. Each StartJob
        reports its slot. `launches`: the threads as `_prepare` made them ready (None: not done yet)."""
        tokens = [self._register(created.record.id) for _, created in starting]
        if launches is None:
            firsts = self._spawners().map(lambda claimed: self._start_first(service, *claimed), starting)
        else:
            firsts = self._spawners().map(functools.partial(self._launch, service), starting, launches)
        for (slot, created), token, first in zip(starting, tokens, list(firsts), strict=True):
            self._submit(StartJob(slot, created, token, first))

    def _wait_until(self, at: datetime) -> None:
        """Sleep until the wall clock reads `at`, so that a run claimed ahead starts at its slot, never
        before it (its thread may name files by the time it reads); at most `ahead` (the wall clock may be
        stepped meanwhile)."""
        left = (at - self._clock.now()).total_seconds()
        if left <= 0:
            return
        deadline = self._clock.monotonic() + min(left, self._ahead.total_seconds())
        while (left := min(deadline - self._clock.monotonic(), (at - self._clock.now()).total_seconds())) > 0:
            time.sleep(left)

    def _spawners(self) -> ThreadPoolExecutor:
        """The threads that start the first threads of runs claimed together, several at once (a spawn waits
        for the exec of its child: the execs of several overlap)."""
        with self._lock:
            if self._spawn_pool is None:
                self._spawn_pool = ThreadPoolExecutor(SPAWNERS, thread_name_prefix="taskctl-spawn")
            return self._spawn_pool

    def _start_first(self, service: RunService, slot: CreateJob, created: CreatedRun) -> FirstThread | None:
        """Start the first thread of a run ahead of its records; None: its worker starts it."""
        try:
            return service.start_first_thread(slot.definition, created.record)
        except Exception as error:  # the worker starts it the usual way, and meets the problem again
            self._log.warning(f"run {created.record.id}: {_one_line(error)}")
            return None

    def _prepare(self, service: RunService, slot: CreateJob, created: CreatedRun) -> FirstLaunch | None:
        """`_start_first` but the spawn; None: its worker starts it (and meets the problem again)."""
        try:
            return service.prepare_first_thread(slot.definition, created.record)
        except Exception as error:
            self._log.warning(f"run {created.record.id}: {_one_line(error)}")
            return None

    def _launch(
        self, service: RunService, claimed: tuple[CreateJob, CreatedRun], launch: FirstLaunch | None
    ) -> FirstThread | None:
        """The spawn of `_start_first`; None: its worker starts it."""
        if launch is None:
            return None
        try:
            return service.launch_first_thread(launch)
        except Exception as error:
            self._log.warning(f"run {claimed[1].record.id}: {_one_line(error)}")
            return None

    def _start(self, service: RunService | None, job: StartJob) -> None:
        """The folder and run.json of a run that starts, then its execution."""
        if service is not None and self._created(service, job.slot, job.created, job.first):
            self._execute(service, job.created.record, job.slot.definition, job.token, job.first)
            return
        if job.first is not None:
            job.first.discard()
        with self._lock:
            self._tokens.pop(job.created.record.id, None)
        job.token.close()
        if service is None:
            self._events.put(
                SlotHandled(
                    job.slot.due, Created.FAILED, job.slot.definition, error="the run index cannot be opened"
                )
            )

    def _created(
        self, service: RunService, slot: CreateJob, created: CreatedRun, first: FirstThread | None = None
    ) -> bool:
        """Write the folder of a claimed run and tell the loop what became of its slot; False if the folder
        could not be written (the run is recorded failed). `first`: its first thread, started ahead."""
        try:
            service.make_folder(slot.definition, created, first)
        except TaskctlError as error:
            self._events.put(SlotHandled(slot.due, Created.FAILED, slot.definition, error=error.message))
            return False
        except Exception as error:
            self._events.put(SlotHandled(slot.due, Created.FAILED, slot.definition, error=_one_line(error)))
            return False
        outcome = _OUTCOME.get(created.decision.admission, Created.WAITING)
        self._events.put(
            SlotHandled(
                slot.due,
                outcome,
                slot.definition,
                created.record,
                created.decision,
                slot.cursors,
                started_at=first.spawned if first is not None else self._clock.now(),
            )
        )
        return True

    def _execute(
        self,
        service: RunService | None,
        record: RunRecord,
        definition: ResolvedProcess,
        token: CancelToken | None = None,
        first: FirstThread | None = None,
    ) -> None:
        token = token or self._register(record.id)
        try:
            if service is None:
                raise TaskctlError("the worker could not open the run index")
            final = service.execute(definition, record, token, RunHooks(on_warning=self._log.warning), first)
        except Exception as error:  # the run was recorded running: it must end, whatever happened
            if first is not None:
                first.discard()
            final = self._failed(service, record, error)
        finally:
            with self._lock:
                self._tokens.pop(record.id, None)
            token.close()
        self._events.put(RunEnded(final))

    def _register(self, run_id: str) -> CancelToken:
        token = CancelToken()
        with self._lock:
            self._tokens[run_id] = token
        return token

    def _failed(self, service: RunService | None, record: RunRecord, error: Exception) -> RunRecord:
        """Record as failed a run whose execution raised (a bug, or a run index that cannot be opened)."""
        reason = error.message if isinstance(error, TaskctlError) else _one_line(error)
        self._log.error(f"run {record.id} could not be executed: {reason}")
        record.status = RunStatus.FAILED
        record.finished = self._clock.now()
        record.error = f"the daemon could not execute it: {reason}"
        with contextlib.suppress(OSError):
            write_run_json(record)
        if service is not None:
            with contextlib.suppress(TaskctlError):
                service.store.save_run(record)
        return record


def _one_line(error: Exception) -> str:
    return "".join(traceback.format_exception_only(error)).strip().replace("\n", " ")
