"""Executing one admitted run: its threads in series in its run folder. Knows nothing of
schedules.

`run.json` is the record that must survive, so it is written first and the run index (a cache) after it, and
only at the run's start, at each boundary between threads and at its end (plus, at most once a second, the
progress a thread reports). A failed index write never stops or changes the run: it is retried once, reported
once, and the next reader brings the index up to date from run.json.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from taskctl import inherited_env
from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.config.loader import ResolvedProcess
from taskctl.config.models import OnFailure
from taskctl.deps import (
    DependencyError,
    InstallStopped,
    build_environment,
)
from taskctl.errors import TaskctlError
from taskctl.runner import descendants, kinds
from taskctl.runner.capture import LogCapture, LogOpener, LogWriteError, open_log
from taskctl.runner.control import executing
from taskctl.runner.notices import RunNotices
from taskctl.runner.plan import ThreadPlan, plan_chain
from taskctl.runner.process import AttemptLimits, AttemptResult, CancelToken, StopReason, run_attempt
from taskctl.runs import (
    CONSOLE_LOG,
    Progress,
    RunRecord,
    RunStatus,
    ThreadRecord,
    ThreadStatus,
    write_run_json,
)
from taskctl.store import IndexCorruptError, IndexUnavailableError, RunIndex
from taskctl.workspace import Workspace

PROGRESS_SAVE_INTERVAL = 1.0  # seconds between records of progress alone
# A run whose first thread was started ahead has its first run.json written this long after, by the attempt
# supervising it, or at its end if that comes first: a run of a few milliseconds writes run.json once, with no
# temporary file replaced (on ext4 each deleted inode slows the creation of files near it for a minute).
FIRST_RECORD_DELAY = 1.0
_RUN_STATUS_OF = {ThreadStatus.TIMED_OUT: RunStatus.TIMED_OUT, ThreadStatus.CANCELLED: RunStatus.CANCELLED}
_STOPPED_RUN_STATUS = {StopReason.CHAIN_TIMEOUT: RunStatus.TIMED_OUT, StopReason.TIMEOUT: RunStatus.TIMED_OUT}


@dataclass
class RunHooks:
    """Optional callbacks and seams of a run's execution.

    `echo` receives the console output as it is written (`run --follow`); `on_status` the record after each
    recorded change; `on_warning` one sentence when the run index could not be updated; `open_log` opens the
    log files (tests pass one that fills the disk).
    """

    echo: Callable[[bytes], None] | None = None
    on_status: Callable[[RunRecord], None] | None = None
    on_warning: Callable[[str], None] | None = None
    open_log: LogOpener = open_log


class FirstThread:
    """A run's first thread, started ahead of the run's bookkeeping (see `start_first_thread`): its plans and
    its process, handed once to the attempt that supervises it."""

    def __init__(self, plans: list[ThreadPlan], child: subprocess.Popen[bytes], spawned: datetime) -> None:
        self.plans = plans
        self._child: subprocess.Popen[bytes] | None = child
        self.spawned = spawned  # when its process was started
        # True when the caller wrote no run.json for the run: its supervision writes the first one
        # (FIRST_RECORD_DELAY after the start, or at the end); until then the index shows the run.
        self.unrecorded = False

    def take(self) -> subprocess.Popen[bytes] | None:
        """The started process, to the first attempt (None after that)."""
        child, self._child = self._child, None
        return child

    def discard(self) -> None:
        """Stop the process if no attempt took it (the run failed before its first thread was supervised)."""
        child = self.take()
        if child is not None:
            descendants.discard(child)


def start_first_thread(
    workspace: Workspace, definition: ResolvedProcess, record: RunRecord, clock: Clock = SYSTEM_CLOCK
) -> FirstThread | None:
    """Start the first thread of a run just created and admitted, before anything of the run but its folder is
    written: what the thread needs to start is its folder and its environment; run.json, the logs and the
    supervision follow (`execute_run(first=...)`), its output waiting in the pipe meanwhile. A daemon starting
    many runs at one instant starts all their threads first (a crash meanwhile loses nothing: the runs are in
    the index since their claim, and the reaper records them interrupted and stops their processes).

    None, with nothing started, when the thread needs work before it starts (an input to copy or build, its
    own environment, a problem to report) or cannot be started now: `execute_run` does it all as usual.
    """
    launch = prepare_first_thread(workspace, definition, record)
    return None if launch is None else launch_first_thread(launch, clock)


@dataclass(frozen=True)
class FirstLaunch:
    """A run's first thread ready to start (its folder made, its plan checked, its environment built)."""

    plans: list[ThreadPlan]
    env: dict[str, str]


def prepare_first_thread(
    workspace: Workspace, definition: ResolvedProcess, record: RunRecord
) -> FirstLaunch | None:
    """All that `start_first_thread` does before the spawn (a daemon does it before the run's instant);
    None if the thread cannot be started ahead."""
    plans = plan_chain(workspace, definition, record.folder, record.id)
    if not plans:
        return None
    plan = plans[0]
    if plan.problem or plan.input_source or plan.sku_input or plan.environment:
        return None
    try:
        record.folder.mkdir(parents=True, exist_ok=True)
        if _check_before_start(plan, record.folder) is not None:
            return None
    except OSError:
        return None
    return FirstLaunch(plans, {**inherited_env(), **plan.env})


def launch_first_thread(launch: FirstLaunch, clock: Clock = SYSTEM_CLOCK) -> FirstThread | None:
    """Start a thread prepared by `prepare_first_thread`; None if it cannot be started now."""
    plan = launch.plans[0]
    try:
        child = descendants.spawn(plan.argv, plan.cwd, launch.env, plan.kill_grace)
    except OSError:
        return None
    return FirstThread(launch.plans, child, clock.now())


def mark_started(record: RunRecord, at: datetime) -> None:
    """The run is admitted: it and its first thread are running from `at` (recorded by the caller's next
    write)."""
    record.status = RunStatus.RUNNING
    if record.threads:
        _thread_starts(record.threads[0], at)


def _thread_starts(thread: ThreadRecord, at: datetime) -> None:
    thread.status = ThreadStatus.RUNNING
    thread.started = at


@dataclass
class RunJournal:
    """Records a run's changes: run.json first, then the index. See the module docstring."""

    record: RunRecord
    store: RunIndex | None
    hooks: RunHooks
    warned: list[str] = field(default_factory=list)
    notices: RunNotices | None = None  # the run's notifications, whose outcomes each save records
    unsaved: bool = False  # no run.json yet (see FirstThread.unrecorded)

    def save_if_unsaved(self) -> None:
        """The first run.json of a run started ahead, if nothing has written one since."""
        if self.unsaved:
            self.save()

    def save(self) -> None:
        self.unsaved = False
        if self.notices is not None:
            self.notices.flush()
        try:
            write_run_json(self.record)
        except OSError as exc:
            if self.record.error is None:
                self.record.error = f"cannot write run.json: {exc.strerror or exc}"
            self._warn(f"cannot write {self.record.folder / 'run.json'}: {exc.strerror or exc}.")
        self.save_index()
        if self.hooks.on_status is not None:
            self.hooks.on_status(self.record)

    def save_index(self) -> None:
        if self.store is None:
            return
        for attempt in range(2):
            try:
                self.store.save_run(self.record)
                return
            except IndexCorruptError as exc:
                self._warn(str(exc))
                return
            except IndexUnavailableError as exc:
                if attempt == 1:
                    self._warn(
                        f"{exc.message.rstrip('.')}; run.json keeps the run's record, and the next taskctl "
                        "command brings the index up to date."
                    )

    def _warn(self, message: str) -> None:
        if self.warned:
            return  # one sentence per run: the first failure says what the user needs to know
        self.warned.append(message)
        if self.hooks.on_warning is not None:
            self.hooks.on_warning(message)


def execute_run(
    workspace: Workspace,
    definition: ResolvedProcess,
    record: RunRecord,
    store: RunIndex | None = None,
    clock: Clock = SYSTEM_CLOCK,
    cancel: CancelToken | None = None,
    hooks: RunHooks | None = None,
    notices: RunNotices | None = None,
    first: FirstThread | None = None,
) -> RunRecord:
    """Run the threads of an admitted run (`mark_started` done and recorded) in series; returns the finished
    record (also in run.json). The run's status is the outcome of its first thread that did not succeed; a
    cancel or the chain's timeout before any failure makes it cancelled or timed_out.

    `notices` (when the process names notify targets) is told of the start, of a failed attempt that will be
    retried and of the end; the delivery outcomes go into the console log and run.json. `first`: its first
    thread, already started by `start_first_thread` (stopped here if the run fails before supervising it)."""
    hooks = hooks or RunHooks()
    own_cancel = cancel is None
    cancel = cancel or CancelToken()
    journal = RunJournal(
        record, store, hooks, notices=notices, unsaved=first is not None and first.unrecorded
    )
    if notices is not None:
        notices.started()
    try:
        with executing(record.id):
            _execute(workspace, definition, journal, clock, cancel, first)
    finally:
        if first is not None:
            first.discard()
        if own_cancel:
            cancel.close()
    if notices is not None:
        notices.finished()
        notices.close()
    return record


def _execute(
    workspace: Workspace,
    definition: ResolvedProcess,
    journal: RunJournal,
    clock: Clock,
    cancel: CancelToken,
    first: FirstThread | None,
) -> None:
    record, hooks, notices = journal.record, journal.hooks, journal.notices
    plans = first.plans if first is not None else plan_chain(workspace, definition, record.folder, record.id)
    zone = ZoneInfo(definition.zone_name)
    chain_deadline = clock.monotonic() + definition.timeout if definition.timeout else None
    outcome: RunStatus | None = None
    try:
        console = hooks.open_log(record.folder / CONSOLE_LOG, "ab")
    except OSError as exc:
        record.error = f"cannot open {CONSOLE_LOG}: {exc}"
        _finish(journal, RunStatus.FAILED, clock)
        return
    if notices is not None:
        notices.attach(console)
    context = _ThreadContext(workspace, record, console, zone, chain_deadline, cancel, clock, journal, first)
    try:
        for index, (plan, thread) in enumerate(zip(plans, record.threads, strict=True)):
            if thread.status is not ThreadStatus.RUNNING:
                _thread_starts(thread, clock.now())
            status = _run_thread(plan, thread, context)
            if status is not ThreadStatus.SUCCEEDED and outcome is None:
                outcome = _RUN_STATUS_OF.get(status, RunStatus.FAILED)
            if index + 1 == len(plans):
                break
            if cancel.is_set():  # a cancel (or the chain's timeout) keeps the next threads from running
                reason = cancel.reason or StopReason.CANCELLED
                outcome = outcome or _STOPPED_RUN_STATUS.get(reason, RunStatus.CANCELLED)
                break
            if outcome is not None and (definition.on_failure is OnFailure.STOP or record.error is not None):
                break  # a log that cannot be written stops the chain even with on_failure: continue
            _thread_starts(record.threads[index + 1], clock.now())
            journal.save()  # a boundary: this thread's end and the next one's start, in one write
    finally:
        if notices is not None:
            notices.flush()
            notices.detach()
        with contextlib.suppress(OSError):
            console.close()
    _finish(journal, outcome or RunStatus.SUCCEEDED, clock)


@dataclass(frozen=True)
class _ThreadContext:
    """What every thread of one run shares."""

    workspace: Workspace
    record: RunRecord
    console: BinaryIO
    zone: ZoneInfo
    chain_deadline: float | None
    cancel: CancelToken
    clock: Clock
    journal: RunJournal
    first: FirstThread | None  # the first thread's process, started ahead

    def should_stop(self) -> bool:
        """True once the run is cancelled or the chain's time is up (for work outside an attempt)."""
        if self.chain_deadline is not None and self.clock.monotonic() >= self.chain_deadline:
            self.cancel.cancel(StopReason.CHAIN_TIMEOUT)
        return self.cancel.is_set()


def _run_thread(plan: ThreadPlan, thread: ThreadRecord, context: _ThreadContext) -> ThreadStatus:
    ahead = context.first if context.first is not None and plan is context.first.plans[0] else None
    try:
        return _run_attempts(plan, thread, context, ahead)
    finally:
        if ahead is not None:
            ahead.discard()  # the thread ended before its first attempt could supervise its process


def _run_attempts(
    plan: ThreadPlan, thread: ThreadRecord, context: _ThreadContext, ahead: FirstThread | None
) -> ThreadStatus:
    record, clock, cancel, journal = context.record, context.clock, context.cancel, context.journal
    chain_deadline = context.chain_deadline
    started = clock.monotonic()
    last_saved = [started - PROGRESS_SAVE_INTERVAL]  # the first report is recorded at once

    def on_progress(progress: Progress) -> None:
        thread.progress = progress
        if clock.monotonic() - last_saved[0] >= PROGRESS_SAVE_INTERVAL:
            last_saved[0] = clock.monotonic()
            journal.save()

    def on_start(pid: int) -> None:
        # Kept in memory and in progress records only: if the runner dies, its watcher stops this group, and
        # the reaper finds what is left by the TASKCTL_RUN_ID it inherited (see `descendants`).
        record.child_pgid = pid

    try:
        capture = LogCapture(
            record.folder,
            plan.name,
            context.console,
            plan.max_log_size,
            context.zone,
            clock,
            opener=journal.hooks.open_log,
            on_progress=on_progress,
            echo=journal.hooks.echo,
        )
    except LogWriteError as exc:
        record.error = str(exc)
        return _end_thread(thread, ThreadStatus.FAILED, str(exc), started, clock, record)
    status = ThreadStatus.FAILED
    try:
        problem = plan.problem or _check_before_start(plan, record.folder)
        if problem is not None:
            capture.note(problem)
            return _end_thread(thread, ThreadStatus.FAILED, problem, started, clock, record)
        prepared = _prepare(plan, thread, capture, context)
        if prepared is not None:
            return _end_thread(thread, prepared, thread.error, started, clock, record)
        delay = plan.retry_delay
        for attempt in range(1, plan.retries + 2):
            thread.attempts = attempt
            thread.error = None  # what went wrong is what went wrong last
            if attempt > 1:
                journal.save_if_unsaved()  # a run waiting to try again has its run.json meanwhile
                capture.note(f"attempt {attempt} of {plan.retries + 1} in {delay:g}s")
                if chain_deadline is not None and clock.monotonic() + delay >= chain_deadline:
                    cancel.cancel(StopReason.CHAIN_TIMEOUT)
                if cancel.wait(delay):
                    status = _stopped_status(cancel.reason)
                    break
                delay *= plan.retry_backoff
            elif plan.retries:
                capture.note(f"attempt 1 of {plan.retries + 1}")
            result = run_attempt(
                plan.argv,
                plan.cwd,
                {**inherited_env(), **plan.env},
                capture,
                clock,
                cancel,
                _limits(plan, chain_deadline, clock),
                (record.id, plan.name),
                on_start,
                ahead.take() if ahead is not None else None,
                (clock.monotonic() + FIRST_RECORD_DELAY, journal.save_if_unsaved)
                if journal.unsaved
                else None,
            )
            thread.exit_code, thread.signal = result.exit_code, result.signal
            status = _attempt_status(result)
            if result.error:
                thread.error = result.error
            if result.stopped is StopReason.LOG_ERROR:
                record.error = result.error
                break
            if result.stopped is StopReason.CHAIN_TIMEOUT:
                cancel.cancel(StopReason.CHAIN_TIMEOUT)
            capture.end_line()
            _read_back(plan, thread, result, capture)
            capture.note(f"{plan.name} {status} ({thread.outcome()})" if not result.error else result.error)
            if status is ThreadStatus.SUCCEEDED or cancel.is_set():
                break
            if attempt <= plan.retries and journal.notices is not None:
                journal.notices.attempt_failed(plan.name)
        status = _after_attempts(plan, thread, status, capture, context)
    except LogWriteError as exc:
        record.error = str(exc)
        thread.error = str(exc)
        status = ThreadStatus.FAILED
    finally:
        try:
            capture.close()
        except LogWriteError as exc:
            record.error = record.error or str(exc)
            thread.error = thread.error or str(exc)
            status = ThreadStatus.FAILED
    return _end_thread(thread, status, thread.error, started, clock, record)


def _prepare(
    plan: ThreadPlan, thread: ThreadRecord, capture: LogCapture, context: _ThreadContext
) -> ThreadStatus | None:
    """Before the first attempt: build the input CSV from the SKU table, then the thread's environment.
    None to go on, or the status the thread ends with now (`thread.error`/`note` say why)."""
    if plan.sku_input is not None and plan.input_copy is not None:
        selection = plan.sku_input.skus
        query = kinds.describe_selection(selection)
        try:
            rows = kinds.write_sku_input(context.workspace, selection, plan.input_copy, context.clock)
        except (TaskctlError, OSError) as exc:
            thread.error = f"cannot build the input from the SKU table: {_reason(exc)}"
            capture.note(thread.error)
            return ThreadStatus.FAILED
        thread.input_skus = rows
        noun = "row" if rows == 1 else "rows"
        capture.note(f"input: {rows} {noun} of the SKU table ({query}) in {plan.input_copy.name}")
        if rows == 0:
            if plan.sku_input.required:
                thread.error = (
                    f"no row of the SKU table matches its input ({query}), and input.required is true"
                )
                capture.note(thread.error)
                return ThreadStatus.FAILED
            thread.note = (
                f"no row of the SKU table matches its input ({query}); nothing to do, so it did not run"
            )
            capture.note(thread.note)
            return ThreadStatus.SUCCEEDED
    if plan.environment is not None:
        try:
            build_environment(
                context.workspace, plan.environment, capture.note, should_stop=context.should_stop
            )
        except InstallStopped as exc:
            thread.error = exc.message
            capture.note(exc.message)
            return _stopped_status(context.cancel.reason)
        except DependencyError as exc:
            thread.error = exc.message
            capture.note(exc.message)
            return ThreadStatus.FAILED
    return None


def _read_back(plan: ThreadPlan, thread: ThreadRecord, result: AttemptResult, capture: LogCapture) -> None:
    """What an attempt leaves besides its exit: a test run's counts, a callable's return value."""
    if plan.junit is not None:
        thread.tests = kinds.read_junit(plan.junit)
        if result.exit_code == kinds.NO_TESTS_COLLECTED:
            capture.note("pytest collected no tests")
        if thread.tests is not None:
            capture.note(f"tests: {thread.tests.text()}")
    if plan.result_file is not None:
        if result.exit_code == 0:
            thread.result, note = kinds.read_result(plan.result_file)
            if note is not None:
                capture.note(note)
        else:
            raised = kinds.read_raised(plan.result_file)
            if raised is not None:
                thread.error = f"{plan.func} raised {raised}"


def _after_attempts(
    plan: ThreadPlan, thread: ThreadRecord, status: ThreadStatus, capture: LogCapture, context: _ThreadContext
) -> ThreadStatus:
    """After the last attempt: a thread that succeeded gets its output imported into the SKU table."""
    tests = thread.tests
    if status is ThreadStatus.FAILED and tests and thread.error is None and (tests.failed or tests.errors):
        total = tests.passed + tests.failed + tests.errors + tests.skipped
        thread.error = f"{tests.failed} of {total} tests failed" + (
            f", {tests.errors} errors" if tests.errors else ""
        )
    if plan.output is None:
        return status
    if status is not ThreadStatus.SUCCEEDED:
        capture.note(f"{plan.output.file} not imported into the SKU table: the thread {status}")
        return status
    context.journal.save_if_unsaved()  # a run importing its output has its run.json meanwhile
    imported = kinds.import_output(
        context.workspace, plan.output, context.record.folder, capture.note, context.clock
    )
    thread.skus_import = imported
    if imported.rejected:
        thread.error = f"{plan.output.file} not imported into the SKU table: {imported.rejected[0]}"
        return ThreadStatus.FAILED
    return status


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TaskctlError):
        return exc.message.rstrip(".")
    return str(exc)


def _check_before_start(plan: ThreadPlan, folder: Path) -> str | None:
    """A problem that appeared since the config was checked (a deleted script or input), else None."""
    if plan.script is not None:
        shown = f"threads/{plan.name}/{plan.script.name}"
        try:
            info = plan.script.stat()
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            return f"script {shown} does not exist (it was there when the config was checked); restore it"
        problem = _compile_problem(plan.script, info.st_mtime_ns, info.st_size)
        if problem is not None:
            return f"{shown} is not a Python script ({problem}); fix it or use 'command:'"
    if plan.input_source is not None and plan.input_copy is not None:
        try:
            shutil.copyfile(plan.input_source, plan.input_copy)
        except FileNotFoundError:
            return (
                f"input threads/{plan.name}/{plan.input_source.name} does not exist "
                "(it was there when the config was checked); restore it"
            )
        except OSError as exc:
            return (
                f"cannot copy input threads/{plan.name}/{plan.input_source.name} into the run folder: {exc}"
            )
    return None


@functools.lru_cache(maxsize=256)
def _compile_problem(script: Path, mtime_ns: int, size: int) -> str | None:
    """Why `script` does not compile, or None; remembered while the file is unchanged (a long-lived runner
    starts the same scripts again and again)."""
    try:
        compile(script.read_bytes(), str(script), "exec")
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, OSError) as exc:
        return str(exc)
    return None


def _limits(plan: ThreadPlan, chain_deadline: float | None, clock: Clock) -> AttemptLimits:
    own = clock.monotonic() + plan.timeout if plan.timeout else None
    if chain_deadline is not None and (own is None or chain_deadline < own):
        return AttemptLimits(chain_deadline, StopReason.CHAIN_TIMEOUT, plan.kill_grace)
    return AttemptLimits(own, StopReason.TIMEOUT, plan.kill_grace)


def _attempt_status(result: AttemptResult) -> ThreadStatus:
    if result.stopped is not None:
        return _stopped_status(result.stopped)
    if result.error is None and result.exit_code == 0:
        return ThreadStatus.SUCCEEDED
    return ThreadStatus.FAILED


def _stopped_status(reason: StopReason | None) -> ThreadStatus:
    if reason in (StopReason.TIMEOUT, StopReason.CHAIN_TIMEOUT):
        return ThreadStatus.TIMED_OUT
    if reason is StopReason.CANCELLED:
        return ThreadStatus.CANCELLED
    return ThreadStatus.FAILED


def _end_thread(
    thread: ThreadRecord,
    status: ThreadStatus,
    error: str | None,
    started: float,
    clock: Clock,
    record: RunRecord,
) -> ThreadStatus:
    thread.error = error
    thread.duration = round(clock.monotonic() - started, 3)
    thread.end(status, clock.now())
    record.child_pgid = None
    return status


def _finish(journal: RunJournal, status: RunStatus, clock: Clock) -> RunRecord:
    record = journal.record
    record.status = status
    record.finished = clock.now()
    record.child_pgid = None
    for thread in record.threads:
        if thread.status in (ThreadStatus.QUEUED, ThreadStatus.RUNNING):
            thread.status = ThreadStatus.NOT_RUN
            thread.started = None
    journal.save()
    return record
