"""`taskctl daemon`: the loop, and its edges (the clock, sleeping, signals, files, threads, systemd).

One thread runs the loop; everything else only puts items on its queue (signals, the config watcher, the
workers). Each pass:

1. take what happened off the queue: stop, reload, slots handled and runs ended by workers;
2. `Scheduler.tick(now + CLAIM_AHEAD)`: slots due by then go to the `Dispatcher` (unclaimed until a worker
   creates their run; one due ahead is claimed at once and started at its instant);
3. poll `taskctl cancel` requests for the daemon's runs (at least every `POLL` while any are active);
4. `Dispatcher.step(now)` -> actions: cancel or admit waiting runs, hand due slots to workers (each claims
   its slot and saves its cursors in one transaction), save held cursors, retention, shutdown;
5. record the tick's missed slots (`skipped` rows without a folder) and notify them, then commit its
   cursors, held back for processes whose due slots are not claimed yet;
6. sleep on the queue until the earliest of the scheduler's and the dispatcher's wake-ups (at most a
   minute; the systemd watchdog is pinged on the way).

An invalid config at start does not stop the daemon: it runs with nothing scheduled, says why in its log, in
`taskctl status` and in its systemd status line, and applies the config as soon as an edit fixes it. (Exiting
would only make `Restart=on-failure` start it again every few seconds with the same error, and the saved
cursors would be no different after the fix.) A bad edit later keeps the last good config running.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.config import load_config
from taskctl.daemon.dispatch import (
    MISSED_ROWS,
    POLL,
    Actions,
    Created,
    Dispatcher,
    MissedRecord,
    missed_reason,
    missed_records,
)
from taskctl.daemon.events import (
    ConfigChanged,
    DaemonEvent,
    ReloadRequested,
    RunEnded,
    SlotHandled,
    StopRequested,
    install_signal_handlers,
)
from taskctl.daemon.lock import acquire_daemon_lock
from taskctl.daemon.log import DaemonLog, Level
from taskctl.daemon.plan import (
    AppliedConfig,
    SnapshotError,
    applied_now,
    make_plan,
    read_applied,
    render_plan,
)
from taskctl.daemon.scheduler import (
    CursorKey,
    DueRun,
    MissedSlots,
    OneShotKey,
    Scheduler,
    Tick,
    scheduled_processes,
)
from taskctl.daemon.state import SqliteSchedulerState, set_missed_count
from taskctl.daemon.status import DaemonRecord, DaemonState, write_record
from taskctl.daemon.systemd import SystemdNotifier
from taskctl.daemon.watch import ConfigWatcher
from taskctl.daemon.workers import CreateJob, WorkerPool
from taskctl.errors import ConfigError, TaskctlError
from taskctl.runner.overlap import Admission
from taskctl.runner.service import wait_for_all_notifications
from taskctl.store import SlotTakenError, Transaction
from taskctl.units import format_duration

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.config.loader import ResolvedProcess
    from taskctl.notify import DeliveryOutcome, Notifier
    from taskctl.runner.service import RunService
    from taskctl.runs import RunRecord
    from taskctl.workspace import Workspace

MAX_WAIT = 60.0  # seconds the loop sleeps at most (the scheduler wakes it once a minute anyway)
RECORD_EVERY = 2.0  # seconds between rewrites of status.json for a changed load alone
TICK_BUDGET = 256  # due slots one tick looks at before it hands them to workers (claimed in one transaction)
# Slots are handed out this long before their instant: their runs are claimed meanwhile and start at the
# instant (claiming 200 slots takes ~60 ms, which would otherwise delay every start of that instant).
CLAIM_AHEAD = 0.25
NOTIFY_WAIT = 5.0  # seconds the daemon waits at exit for webhook deliveries still going


@dataclass(frozen=True)
class DaemonOptions:
    """How the daemon watches and ticks (tests and benches change them)."""

    polling: bool = False  # watch config/ by polling instead of inotify
    debounce: float = 0.1  # seconds of quiet after a config change before it is read
    tick_budget: int = TICK_BUDGET
    claim_ahead: float = CLAIM_AHEAD  # seconds


def run_daemon(
    workspace: Workspace,
    clock: Clock = SYSTEM_CLOCK,
    log: DaemonLog | None = None,
    notifier: SystemdNotifier | None = None,
    options: DaemonOptions | None = None,
) -> int:
    """Run the daemon of `workspace` in the foreground until SIGTERM or SIGINT; returns the exit code (0).

    Raises DaemonRunningError if another daemon holds the workspace, TaskctlError if its state DB cannot be
    used.
    """
    notifier = notifier or SystemdNotifier.from_environment()
    log = log or DaemonLog(clock=clock)
    with acquire_daemon_lock(workspace):
        return Daemon(workspace, clock, log, notifier, options or DaemonOptions()).run()


class _HeldState:
    """The scheduler's state as the loop hands it to the `Scheduler`: cursors of a process with a due slot
    not claimed yet are not saved now (the dispatcher asks for them later), and the cursors saved are kept,
    so that the same values are never written twice."""

    def __init__(self, state: SqliteSchedulerState, dispatcher: Dispatcher) -> None:
        self.state = state
        self.dispatcher = dispatcher
        self.saved: dict[CursorKey, datetime] = {}

    def load_cursors(self) -> dict[CursorKey, datetime]:
        cursors = self.state.load_cursors()
        self.saved.update(cursors)
        return cursors

    def save_cursors(self, cursors: Mapping[CursorKey, datetime]) -> None:
        free = {key: at for key, at in cursors.items() if not self.dispatcher.holds(key[0])}
        self.save_now(free)

    def save_now(self, cursors: Mapping[CursorKey, datetime]) -> None:
        changed = {key: at for key, at in cursors.items() if self.saved.get(key) != at}
        if changed:
            self.state.save_cursors(changed)
            self.saved.update(changed)

    def drop_cursors(self, keys: Collection[CursorKey]) -> None:
        self.state.drop_cursors(keys)
        for key in keys:
            self.saved.pop(key, None)

    def load_fired_one_shots(self) -> set[OneShotKey]:
        return self.state.load_fired_one_shots()

    def add_fired_one_shots(self, fired: Mapping[OneShotKey, datetime]) -> None:
        self.state.add_fired_one_shots(fired)

    def claimed_slots(self, process: str, after: datetime, until: datetime) -> set[datetime]:
        return self.state.claimed_slots(process, after, until)

    def latest_claim(self, process: str) -> datetime | None:
        return self.state.latest_claim(process)


@dataclass
class _WaitingRun:
    record: RunRecord
    definition: ResolvedProcess
    asked_to_stop: set[str]  # replace: the runs in its way already asked to stop


class Daemon:
    """The loop of one daemon process (see the module docstring). Use `run_daemon`."""

    service: RunService  # the loop's own, opened by `run`
    state: _HeldState

    def __init__(
        self,
        workspace: Workspace,
        clock: Clock,
        log: DaemonLog,
        notifier: SystemdNotifier,
        options: DaemonOptions,
    ) -> None:
        self.workspace = workspace
        self.clock = clock
        self.log = log
        self.systemd = notifier
        self.options = options
        self.events: SimpleQueue[DaemonEvent] = SimpleQueue()
        now = clock.now()
        self.record = DaemonRecord(pid=os.getpid(), started=now, state=DaemonState.STARTING)
        self.dispatcher = Dispatcher(capacity=1, now=now)
        self.config: LoadedConfig | None = None
        self.applied: AppliedConfig | None = None
        # The config applied but not yet recorded in applied.json (with the one before it, for the plan).
        self._unrecorded: tuple[AppliedConfig | None, LoadedConfig, datetime] | None = None
        self._limits: dict[str, bool] = {}  # per process: whether retention limits its runs
        self._uncommitted: Tick | None = None  # the tick whose due slots are being handed out
        # Nothing is due before this instant (the last tick's wake-up): passes woken earlier by the workers'
        # events skip the scheduler, whose tick looks at every process. None: tick on the next pass.
        self._next_tick: datetime | None = None
        self.scheduler: Scheduler | None = None
        self.notifier: Notifier | None = None
        self.waiting: dict[str, _WaitingRun] = {}
        self.cancelled: set[str] = set()  # runs whose cancel was already passed on
        self.ahead = timedelta(seconds=options.claim_ahead)
        self.pool = WorkerPool(workspace, self.events, log, clock, self.ahead)
        self.retention = _Retention(workspace, log, clock)
        self._inbox: list[DaemonEvent] = []
        self._last_poll = float("-inf")
        self._last_ping = float("-inf")
        self._record_dirty = False
        self._last_record = float("-inf")

    # -- the loop ------------------------------------------------------------------------------------

    def run(self) -> int:
        from taskctl.runner.service import open_service

        restore_signals = install_signal_handlers(self.events)
        watcher = ConfigWatcher(
            self.workspace, self.events, debounce=self.options.debounce, polling=self.options.polling
        )
        try:
            with open_service(self.workspace, self.clock, on_warning=self.log.warning) as service:
                self.service = service
                self.state = _HeldState(SqliteSchedulerState(service.store), self.dispatcher)
                self.log.info(f"taskctl daemon starting: pid {os.getpid()}, workspace {self.workspace.root}")
                watcher.start()  # before the config is read, so no edit falls between the two
                if watcher.polling_reason:
                    self.log.warning(f"config watcher: {watcher.polling_reason}")
                self._reap_at_start()
                self._load(self.clock.now(), "start")
                _freeze_startup_objects()
                self._loop()
        finally:
            watcher.stop()
            self.pool.close(timeout=5.0)
            self.retention.close()
            if self.notifier is not None:
                self.notifier.wait(NOTIFY_WAIT)
            if not wait_for_all_notifications(NOTIFY_WAIT):  # what the runs of every worker still send
                self.log.warning("some run notifications were still being sent at exit")
            restore_signals()
            self.record.state = DaemonState.STOPPED
            self._write_record(force=True)
            self.systemd.close()
        self.log.info("taskctl daemon stopped")
        return 0

    def _loop(self) -> None:
        wake_at = self.clock.now()
        while True:
            self._wait(wake_at)
            now = self.clock.now()
            self._handle(now)
            tick = self._tick(now)
            self._poll_cancels(now)
            actions = self.dispatcher.step(now)
            self._act(actions, now)
            self._commit(tick, now)  # after the due slots are handed out: the first runs do not wait
            if actions.done:
                return
            self._record_applied()
            self._ping_watchdog()
            self._write_record()
            next_tick = (
                tick.wake_at - self.ahead if tick else self._next_tick or now + timedelta(seconds=MAX_WAIT)
            )
            wake_at = min(actions.wake_at, next_tick)
            if self._record_dirty:
                wake_at = min(wake_at, now + timedelta(seconds=RECORD_EVERY))

    def _wait(self, wake_at: datetime) -> None:
        """Sleep on the queue until `wake_at` (at most a minute, and no longer than the watchdog allows)."""
        timeout = min(MAX_WAIT, (wake_at - self.clock.now()).total_seconds())
        interval = self.systemd.watchdog_interval
        if interval is not None:
            timeout = min(timeout, self._last_ping + interval - self.clock.monotonic())
        try:
            if timeout > 0:
                self._inbox.append(self.events.get(timeout=timeout))
            while True:
                self._inbox.append(self.events.get_nowait())
        except Empty:
            pass

    def _ping_watchdog(self) -> None:
        interval = self.systemd.watchdog_interval
        if interval is not None and self.clock.monotonic() - self._last_ping >= interval:
            self.systemd.watchdog()
            self._last_ping = self.clock.monotonic()

    # -- events ----------------------------------------------------------------------------------------

    def _handle(self, now: datetime) -> None:
        events, self._inbox = self._inbox, []
        reload_reason: str | None = None
        for event in events:
            if isinstance(event, SlotHandled):
                self._slot_handled(event, now)
            elif isinstance(event, RunEnded):
                self._run_ended(event.record)
            elif isinstance(event, StopRequested):
                self._stop(event.signal, now)
            elif isinstance(event, ReloadRequested):
                reload_reason = event.signal
            elif isinstance(event, ConfigChanged):
                reload_reason = reload_reason or "config/ changed"
        if reload_reason is not None and not self.dispatcher.stopping:
            self._reload(now, reload_reason)

    def _slot_handled(self, event: SlotHandled, now: datetime) -> None:
        due, record = event.due, event.record
        run_id = record.id if record is not None else None
        self.dispatcher.created(due, event.outcome, run_id)
        if event.saved_cursors and event.outcome not in (Created.TAKEN, Created.FAILED):
            self.state.saved.update(event.saved_cursors)
        slot = self._slot_text(due.process, due.scheduled_for)
        if event.outcome is Created.STARTED and record is not None:
            late = _lateness(((event.started_at or record.started) - due.scheduled_for).total_seconds())
            self.log.info(f"run {record.id} started ({due.trigger}, slot {slot}, {late})")
        elif event.outcome is Created.WAITING and record is not None and event.decision is not None:
            policy = event.definition.overlap
            blockers = ", ".join(event.decision.blockers)
            self.log.info(f"run {record.id} (slot {slot}) waits for {blockers} (overlap: {policy})")
            self.waiting[record.id] = _WaitingRun(record, event.definition, set())
            if event.decision.admission is Admission.REPLACE:
                self._ask_to_stop(record.id, event.decision.blockers)
        elif event.outcome is Created.SKIPPED and record is not None:
            self.log.info(f"run {record.id} (slot {slot}) {record.error}")
        elif event.outcome is Created.TAKEN:
            self.log.info(f"slot {slot} of {due.process} already has its run; not started again")
        else:
            self.log.error(f"slot {slot} of {due.process} could not be started: {event.error}")
        self._record_dirty = True

    def _run_ended(self, record: RunRecord) -> None:
        self.dispatcher.ended(record.id, record.process)
        self.cancelled.discard(record.id)
        took = format_duration(record.duration)
        detail = f" ({record.error})" if record.error else ""
        failed = record.failed_thread
        if failed and not detail:
            thread = next(t for t in record.threads if t.name == failed)
            detail = f" (thread {failed}: {thread.outcome()})"
        self.log.write(_level_of(str(record.status)), f"run {record.id} {record.status} after {took}{detail}")
        self._record_dirty = True

    def _stop(self, signal_name: str, now: datetime) -> None:
        grace = self.config.settings.daemon.shutdown_grace if self.config else 0.0
        running = len(self.dispatcher.running)
        if self.dispatcher.stopping:
            self.log.info(f"{signal_name} again: cancelling the {running} running run(s) now")
        else:
            self.log.info(
                f"stopping ({signal_name}): no new runs; {running} running run(s) get "
                f"{format_duration(grace)} to finish, then are cancelled (signal again to cancel them now)"
            )
            self.systemd.stopping(f"stopping: {running} run(s) finishing")
            self.record.state = DaemonState.STOPPING
            self._write_record(force=True)
        self.dispatcher.stop(now, grace)

    # -- config ----------------------------------------------------------------------------------------

    def _load(self, now: datetime, reason: str) -> None:
        """Load config/ and apply it whole, or keep what runs (at start: nothing) and say why."""
        self.record.last_reload = now
        try:
            config = load_config(self.workspace, now=now)
        except ConfigError as error:
            problems = [problem.render() for problem in error.problems]
            self.record.config_errors = problems
            keeps = f"keeping revision {self.config.revision}" if self.config else "nothing is scheduled"
            self.log.error(
                f"config rejected ({reason}): {len(problems)} problem(s) in config/; {keeps} until fixed"
            )
            for problem in problems:
                self.log.error(problem)
            self.systemd.status(f"config/ is invalid ({problems[0]}); {keeps}")
        except TaskctlError as error:
            self.record.config_errors = [error.message]
            self.log.error(f"config rejected ({reason}): {error.message}")
        else:
            self._apply(config, now, reason)
        self.record.state = DaemonState.RUNNING
        self._write_record(force=True)
        self.systemd.ready(self._status_line())

    def _reload(self, now: datetime, reason: str) -> None:
        self.systemd.reloading(f"reloading ({reason})")
        self.record.state = DaemonState.RELOADING
        self._write_record(force=True)
        self._load(now, reason)

    def _apply(self, config: LoadedConfig, now: datetime, reason: str) -> None:
        from taskctl.notify import Notifier

        self.log.info(f"config revision {config.revision} applied ({reason})")
        for warning in config.warnings:
            self.log.warning(warning.render())
        processes = scheduled_processes(config)
        if self.scheduler is None:
            self.scheduler = Scheduler(self.state, processes, now)
        else:
            self.scheduler.apply(processes, now)
        self._next_tick = None
        scheduled = {name for name, process in processes.items() if process.enabled and process.schedules}
        self.dispatcher.reconfigure(config.settings.max_parallel_runs, scheduled.__contains__)
        # the plan against the config applied before (its view is made when recorded, after the first runs)
        previous = self.applied if self._unrecorded is None else self._unrecorded[0]
        self._unrecorded = (previous, config, now)
        self.config = config
        self._limits = {}
        self.notifier = Notifier(config, on_outcome=self._notified)
        self.record.revision = config.revision
        self.record.applied_at = now
        self.record.capacity = config.settings.max_parallel_runs
        self.record.config_errors = []
        if self.record.state is not DaemonState.STARTING:
            self._record_applied()

    def _record_applied(self) -> None:
        """Log the plan of the config just applied and record it for `taskctl plan`. At start this waits
        until the first due slots are handed out: with a thousand processes it takes a few tenths of a
        second."""
        from taskctl.daemon.plan import write_applied

        if self._unrecorded is None:
            return
        previous, config, now = self._unrecorded
        self._unrecorded = None
        if previous is None:
            try:
                previous = read_applied(self.workspace)
            except SnapshotError:
                previous = None
        self.applied = applied_now(config, now)
        for line in render_plan(make_plan(previous, self.applied.view, now)):
            self.log.info(f"plan: {line}")
        try:
            write_applied(self.workspace, self.applied)
        except OSError as error:
            self.log.error(
                f"cannot record the applied config ({error}); `taskctl plan` may show it as pending"
            )

    def _status_line(self) -> str:
        if self.config is None:
            return "no valid config: nothing is scheduled (see taskctl status)"
        scheduled = len(self.scheduler.processes) if self.scheduler else 0
        running = len(self.dispatcher.running)
        line = f"revision {self.config.revision}: {scheduled} process(es), {running} running"
        if self.record.config_errors:
            line += "; the config on disk is invalid (see taskctl status)"
        return line

    # -- scheduling ----------------------------------------------------------------------------------

    def _tick(self, now: datetime) -> Tick | None:
        """The scheduler's look at `now` (and `CLAIM_AHEAD` beyond: slots due by then are handed out now, and
        start at their instant): its due slots go to the dispatcher; `_commit` does the rest."""
        if self.scheduler is None or self.dispatcher.stopping:
            return None
        if self._next_tick is not None and now < self._next_tick:
            return None
        try:
            tick = self.scheduler.tick(now + self.ahead, budget=self.options.tick_budget)
        except TaskctlError as error:  # the state DB cannot be read now: look again in a while
            self.log.error(f"scheduling paused: {error.message}")
            tick = Tick(now, (), (), now + self.ahead + timedelta(seconds=MAX_WAIT / 6))
        self._next_tick = None if tick.more else tick.wake_at - self.ahead
        self.dispatcher.add_due(tick.due)
        self._uncommitted = tick
        return tick

    def _commit(self, tick: Tick | None, now: datetime) -> None:
        """Record the missed slots of `tick`, then save its cursors (held back for due slots not claimed)."""
        self._uncommitted = None
        if tick is None or self.scheduler is None:
            return
        try:
            for missed in tick.missed:
                self._record_missed(missed, now)
            self.scheduler.commit(tick)
        except TaskctlError as error:  # the state DB is locked or full: the same slots come again next tick
            self.log.error(f"scheduling paused: {error.message}")
            self._next_tick = None
        if tick.due or tick.missed:
            self._record_dirty = True

    def _record_missed(self, missed: MissedSlots, now: datetime) -> None:
        assert self.scheduler is not None and self.config is not None
        process = self.scheduler.processes[missed.process]
        slots = self.scheduler.missed_slots(missed, limit=MISSED_ROWS)
        rows = missed_records(missed, slots, process, now)
        recorded = sum(row.count for row in rows if self._missed_row(row))
        span = self._slot_text(missed.process, missed.first)
        if missed.last != missed.first:
            span += f" to {self._slot_text(missed.process, missed.last)}"
        reason = missed_reason(process, missed.last, now).removeprefix("missed: ")
        already = f" ({missed.count - recorded} already recorded)" if recorded < missed.count else ""
        self.log.warning(f"{missed.process}: {missed.count} slot(s) missed, {span}: {reason}{already}")

    def _missed_row(self, missed: MissedRecord) -> bool:
        """Record one missed row (and notify it); False if its slot was already recorded."""
        assert self.config is not None

        def count_it(tx: Transaction) -> None:
            set_missed_count(tx, missed.process, missed.scheduled_for, missed.count, missed.reason)

        try:
            self.service.record_missed(
                missed.process, missed.scheduled_for, self.config.zone_name, within=count_it
            )
        except SlotTakenError:
            return False
        if self.notifier is not None:
            self.notifier.slot_missed(missed.process, missed.scheduled_for, missed.reason)
        return True

    def _slot_text(self, process: str, at: datetime) -> str:
        zone = (
            self.scheduler.processes[process].zone
            if self.scheduler and process in self.scheduler.processes
            else None
        )
        return _local_text(at, zone)

    # -- acting ------------------------------------------------------------------------------------------

    def _act(self, actions: Actions, now: datetime) -> None:
        for run_id in actions.cancel_waiting:
            self._end_waiting(run_id)
        for run_id in actions.admit:
            self._admit(run_id)
        self.pool.create([job for due in actions.create if (job := self._hand_out(due)) is not None])
        if actions.save_cursors and self.scheduler is not None:
            held: dict[CursorKey, datetime] = {}
            for process in actions.save_cursors:
                held.update(self.scheduler.cursors_of(process))
            try:
                self.state.save_now(held)
            except TaskctlError as error:
                self.log.error(f"cannot save schedule cursors: {error.message}")
        if self.config is not None:
            limited = [name for name in actions.prune if self._retention_limits(name)]
            if actions.prune_all or limited:
                self.retention.request(self.config, None if actions.prune_all else limited)
        if actions.cancel_running:
            asked = [run_id for run_id in self.pool.cancel_all() if run_id not in self.cancelled]
            if asked:
                self.cancelled.update(asked)
                self.log.info(f"shutdown grace over: cancelling {', '.join(asked)}")
        self.record.busy = self.dispatcher.busy
        if self.record.pending != self.dispatcher.pending:
            self.record.pending = self.dispatcher.pending
            self._record_dirty = True

    def _retention_limits(self, process: str) -> bool:
        """True if retention may remove runs of `process` (most workspaces set no limits: then a run's end
        costs no prune)."""
        from taskctl.retention import policy_for

        assert self.config is not None
        cached = self._limits.get(process)
        if cached is None:
            cached = self._limits[process] = policy_for(self.config, process).limits_anything
        return cached

    def _hand_out(self, due: DueRun) -> CreateJob | None:
        """A due slot's job for the workers, with the cursors its claim may save (when it is its process's
        last unclaimed slot); None if its process went away in a reload."""
        if self.config is None or self.scheduler is None or due.process not in self.config.definitions:
            self.dispatcher.created(due, Created.FAILED)
            return None
        cursors = None
        if self.dispatcher.last_claim(due):
            cursors = self.scheduler.cursors_of(due.process)
            moves = self._uncommitted.cursors if self._uncommitted is not None else {}
            for key in cursors:  # the tick that found the slot is committed after this
                if key in moves:
                    cursors[key] = max(cursors[key], moves[key])
        return CreateJob(due, self.config.definitions[due.process], cursors)

    def _admit(self, run_id: str) -> None:
        waiting = self.waiting.get(run_id)
        if waiting is None:
            self.dispatcher.waiting_ended(run_id, held_worker=True)
            return
        try:
            decision = self.service.admit(waiting.record, waiting.definition)
        except TaskctlError as error:
            self.log.error(f"cannot decide whether {run_id} may start: {error.message}")
            self.dispatcher.still_waiting(run_id)
            return
        if decision.admission is Admission.START:
            del self.waiting[run_id]
            self.dispatcher.started(run_id)
            self.log.info(f"run {run_id} started: the runs ahead of it have ended")
            self.pool.execute(waiting.record, waiting.definition)
        elif decision.admission is Admission.SKIP:
            del self.waiting[run_id]
            self.dispatcher.waiting_ended(run_id, held_worker=True)
            self.log.info(f"run {run_id} {waiting.record.status} while waiting: {waiting.record.error}")
        else:
            self.dispatcher.still_waiting(run_id)
            if decision.admission is Admission.REPLACE:
                self._ask_to_stop(run_id, decision.blockers)

    def _end_waiting(self, run_id: str) -> None:
        """End a waiting run as cancelled (`taskctl cancel`, or the daemon stopping)."""
        waiting = self.waiting.pop(run_id, None)
        if waiting is None:
            self.dispatcher.waiting_ended(run_id, held_worker=False)
            return
        try:
            self.service.store.request_cancel(run_id)
            decision = self.service.admit(waiting.record, waiting.definition)
        except TaskctlError as error:
            self.log.error(f"cannot cancel the waiting run {run_id}: {error.message}")
            self.waiting[run_id] = waiting
            return
        if decision.admission is Admission.START:  # cannot happen once cancel is asked; run it then
            self.dispatcher.started(run_id, held_worker=False)
            self.pool.execute(waiting.record, waiting.definition)
            return
        self.dispatcher.waiting_ended(run_id, held_worker=False)
        self.log.info(f"run {run_id} {waiting.record.status} while waiting")

    def _ask_to_stop(self, run_id: str, blockers: Iterable[str]) -> None:
        """overlap: replace: ask the runs in the way of `run_id` to stop, each once."""
        waiting = self.waiting[run_id]
        for blocker in blockers:
            if blocker in waiting.asked_to_stop:
                continue
            waiting.asked_to_stop.add(blocker)
            row = self.service.store.get(blocker)
            if row is not None and not row.status.finished:
                self.service.request_stop(row)
                self.log.info(f"asked {blocker} to stop: {run_id} replaces it (overlap: replace)")

    def _poll_cancels(self, now: datetime) -> None:
        """Pass `taskctl cancel` requests for the daemon's runs on (every POLL while any are active)."""
        active = [*self.dispatcher.running, *self.waiting]
        if not active or self.clock.monotonic() - self._last_poll < POLL.total_seconds() * 0.9:
            return
        self._last_poll = self.clock.monotonic()
        try:
            asked = self.service.cancel_requests(active)
        except TaskctlError as error:
            self.log.error(f"cannot read cancel requests: {error.message}")
            return
        new = sorted(asked - self.cancelled)
        if not new:
            return
        self.cancelled.update(new)
        running = self.pool.cancel(new)
        if running:
            self.log.info(f"cancel asked: stopping {', '.join(running)}")
        self.dispatcher.cancel_asked(new)

    def _notified(self, outcome: DeliveryOutcome) -> None:
        write = self.log.info if outcome.delivered else self.log.warning
        write(outcome.summary())

    # -- the record and systemd ----------------------------------------------------------------------

    def _reap_at_start(self) -> None:
        try:
            reaped = self.service.reap()
        except TaskctlError as error:
            self.log.error(f"cannot check the runs left by an earlier runner: {error.message}")
            return
        for run_id in reaped:
            row = self.service.store.get(run_id)
            status = row.status if row is not None else "updated"
            self.log.warning(f"run {run_id} was left unfinished by a runner that died: now {status}")

    def _write_record(self, force: bool = False) -> None:
        if not force and (
            not self._record_dirty or self.clock.monotonic() - self._last_record < RECORD_EVERY
        ):
            return
        self.record.updated = self.clock.now()
        self.record.busy = self.dispatcher.busy
        self.record.pending = self.dispatcher.pending
        try:
            write_record(self.workspace, self.record)
        except OSError as error:
            self.log.warning(f"cannot write the daemon's status record: {error}")
        self._record_dirty = False
        self._last_record = self.clock.monotonic()


def _freeze_startup_objects() -> None:
    """Leave what start-up created (the imported modules, the config) out of every later garbage collection.

    The cyclic collector otherwise walks those hundreds of thousands of objects again and again while runs
    come and go: at 200 runs a second that was a third of the daemon's time, spent holding the GIL.
    """
    import gc

    gc.collect()
    gc.freeze()


@functools.lru_cache(maxsize=1024)
def _local_text(at: datetime, zone: ZoneInfo | None) -> str:
    """A slot as the log shows it (the slots of one instant are logged once per process)."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _lateness(seconds: float) -> str:
    if seconds < 1:
        return f"{max(0.0, seconds) * 1000:.0f} ms late"
    return f"{format_duration(seconds)} late"


def _level_of(status: str) -> Level:
    return Level.INFO if status in ("succeeded", "cancelled", "skipped") else Level.WARNING


class _Retention:
    """Applies retention on a thread of its own (removing folders can take a while; the loop must not wait):
    after runs end, for their processes, and hourly for all. Requests made while one is applied are merged."""

    def __init__(self, workspace: Workspace, log: DaemonLog, clock: Clock) -> None:
        self._workspace = workspace
        self._log = log
        self._clock = clock
        self._lock = threading.Condition()
        self._config: LoadedConfig | None = None
        self._processes: set[str] | None = set()  # None: all
        self._closing = False
        self._thread: threading.Thread | None = None

    def request(self, config: LoadedConfig, processes: Iterable[str] | None) -> None:
        with self._lock:
            self._config = config
            if processes is None or self._processes is None:
                self._processes = None
            else:
                self._processes.update(processes)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="taskctl-retention", daemon=True)
                self._thread.start()
            self._lock.notify()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(10.0)

    def _work(self) -> None:
        from taskctl.retention import prune
        from taskctl.store import open_index

        store = None
        try:
            while True:
                with self._lock:
                    self._lock.wait_for(
                        lambda: self._closing or self._processes is None or bool(self._processes)
                    )
                    if self._closing:
                        return
                    config, processes = self._config, self._processes
                    self._processes = set()
                assert config is not None
                try:
                    store = store or open_index(self._workspace)
                    names = None if processes is None else sorted(processes)
                    report = prune(config, store, self._clock.now(), names)
                except TaskctlError as error:
                    self._log.error(f"retention: {error.message}")
                    continue
                if report.removed:
                    self._log.info(
                        f"retention: removed {len(report.removed)} run(s) of "
                        f"{', '.join(sorted({run.process for run in report.removed}))}"
                    )
                for problem in report.problems:
                    self._log.warning(f"retention: {problem}")
        finally:
            if store is not None:
                store.close()
