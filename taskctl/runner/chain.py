"""Running one chain of threads in a run folder (DESIGN §4). Knows nothing of schedules.

`run_chain` = `prepare_run` (the folder and a first run.json) + `admit_run` (the overlap policy, atomically in
the state DB) + `execute_run` (the threads, in series). The daemon can call the three steps itself.
"""

from __future__ import annotations

import contextlib
import getpass
import itertools
import os
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from taskctl import inherited_env
from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.config.loader import LoadedConfig
from taskctl.config.models import OnFailure, Overlap, ProcessConfig, ThreadConfig, ThreadType
from taskctl.runner.capture import LogCapture, LogOpener, LogWriteError, open_log
from taskctl.runner.control import is_alive, mark_interrupted, process_start_ticks, signal_runner
from taskctl.runner.overlap import Admission, OverlapDecision, decide_overlap
from taskctl.runner.process import AttemptResult, CancelToken, StopReason, run_attempt
from taskctl.runs import (
    CONSOLE_LOG,
    Progress,
    RunRecord,
    RunStatus,
    ThreadRecord,
    ThreadStatus,
    Trigger,
    write_run_json,
)
from taskctl.store import RunRow, Store

STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
PROGRESS_SAVE_INTERVAL = 1.0  # seconds between run.json updates for progress alone
_RUN_STATUS_OF = {ThreadStatus.TIMED_OUT: RunStatus.TIMED_OUT, ThreadStatus.CANCELLED: RunStatus.CANCELLED}


@dataclass(frozen=True)
class ThreadPlan:
    """How one thread of a chain will be started: what `run --dry-run` prints."""

    name: str
    step: str  # "2/3"
    kind: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]  # what taskctl adds to the inherited environment
    timeout: float | None
    retries: int
    retry_delay: float
    retry_backoff: float
    input_source: Path | None = None  # the scraping input to copy into the run folder
    input_copy: Path | None = None
    script: Path | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "step": self.step,
            "kind": self.kind,
            "argv": self.argv,
            "cwd": str(self.cwd),
            "env": self.env,
            "timeout": self.timeout,
            "retries": self.retries,
            "input": None if self.input_source is None else str(self.input_source),
        }


@dataclass
class RunSettings:
    """What a run takes from the workspace settings."""

    kill_grace: float = 10.0
    max_log_size: int = 50 * 1024 * 1024


@dataclass
class RunHooks:
    """Optional callbacks and seams: console echo for `--follow`; how logs are opened (tests fill disks)."""

    echo: Callable[[bytes], None] | None = None
    open_log: LogOpener = open_log
    on_status: Callable[[RunRecord], None] | None = None


def run_stamp(moment: datetime, zone: ZoneInfo) -> str:
    """The run folder name for a run starting at `moment`, in the workspace zone."""
    return moment.astimezone(zone).strftime(STAMP_FORMAT)


def create_run_folder(runs_dir: Path, stamp: str) -> Path:
    """Make `runs_dir/stamp` (or `stamp-2`, `stamp-3`, ...): mkdir is atomic, so two runs never share one."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    for number in itertools.count(1):
        folder = runs_dir / (stamp if number == 1 else f"{stamp}-{number}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise AssertionError("unreachable")


def plan_chain(config: LoadedConfig, process: str, folder: Path, run_id: str) -> list[ThreadPlan]:
    """How each thread of `process` would start in `folder` (nothing is created or run)."""
    chain = config.runnable(process).threads
    return [
        plan_thread(config, process, name, config.threads[name], folder, run_id, f"{index}/{len(chain)}")
        for index, name in enumerate(chain, start=1)
    ]


def plan_thread(
    config: LoadedConfig,
    process: str,
    name: str,
    thread: ThreadConfig,
    folder: Path,
    run_id: str,
    step: str,
) -> ThreadPlan:
    """The command line, environment and limits of one thread of a run."""
    workspace = config.workspace
    thread_dir = workspace.thread_dir(name)
    input_source = input_copy = None
    if thread.type is ThreadType.SCRAPING and thread.input:
        input_source = thread_dir / thread.input
        input_copy = folder / input_source.name
    values = {"run_dir": str(folder), "input": str(input_copy) if input_copy else ""}
    args = [_fill(a, values) for a in thread.args]
    if input_copy is not None and not any("{input}" in a for a in thread.args):
        args.insert(0, str(input_copy))
    script: Path | None = None
    if thread.kind == "command":
        command = thread.command if isinstance(thread.command, list) else shlex.split(thread.command or "")
        argv = [_fill(part, values) for part in command] + args
    elif thread.kind == "code":
        argv = [sys.executable, "-c", thread.code or "", *args]
    else:
        script = thread_dir / thread.script_name
        argv = [sys.executable, str(script), *args]
    env = {
        "PYTHONUNBUFFERED": "1",
        "TASKCTL_RUN_DIR": str(folder),
        "TASKCTL_RUN_ID": run_id,
        "TASKCTL_PROCESS": process,
        "TASKCTL_THREAD": name,
        "TASKCTL_THREAD_DIR": str(thread_dir),
        "TASKCTL_SKU_DB": str(workspace.sku_db),
        "TASKCTL_STEP": step,
    }
    if input_copy is not None:
        env["TASKCTL_INPUT"] = str(input_copy)
    env.update(thread.env)
    return ThreadPlan(
        name=name,
        step=step,
        kind=thread.kind,
        argv=argv,
        cwd=folder,
        env=env,
        timeout=config.thread_timeout(name),
        retries=thread.retries.count,
        retry_delay=thread.retries.delay,
        retry_backoff=thread.retries.backoff,
        input_source=input_source,
        input_copy=input_copy,
        script=script,
    )


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def prepare_run(
    config: LoadedConfig,
    process: str,
    trigger: Trigger = Trigger.MANUAL,
    scheduled_for: datetime | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> RunRecord:
    """Create the run folder and its first run.json (status `queued`). Raises NotFoundError for a bad name."""
    chain = config.runnable(process)
    started = clock.now()
    folder = create_run_folder(
        config.workspace.runs_dir(process), run_stamp(started, ZoneInfo(config.zone_name))
    )
    record = RunRecord(
        id=f"{process}/{folder.name}",
        process=process,
        folder=folder,
        trigger=trigger,
        status=RunStatus.QUEUED,
        started=started,
        scheduled_for=scheduled_for,
        config_revision=config.revision,
        user=_user(),
        host=socket.gethostname(),
        threads=[ThreadRecord(name=name, log=f"{name}.log") for name in chain.threads],
    )
    _claim(record)
    write_run_json(record)
    return record


def _claim(record: RunRecord) -> None:
    """Record this process as the run's runner: `cancel` signals it, and a dead pid means the run was lost.

    A run prepared by `run --detach` is admitted and executed by another process, which must claim it before
    its first save, or its run would look abandoned (and be marked interrupted) while it waits.
    """
    record.pid = os.getpid()
    record.pid_start = process_start_ticks(record.pid)


def admit_run(
    store: Store,
    record: RunRecord,
    process: ProcessConfig,
    clock: Clock = SYSTEM_CLOCK,
    cancel: CancelToken | None = None,
    force: bool = False,
    poll: float = 0.2,
) -> Admission:
    """Apply the process's overlap policy to a prepared run, atomically against other runners.

    Returns START once the run may go (its status is then `running`), or SKIP (the run is recorded `skipped`).
    QUEUE and REPLACE wait here until the runs in the way have finished (or `cancel` fires: SKIP).
    """
    policy = process.overlap or Overlap.SKIP
    _claim(record)
    signalled: set[str] = set()
    waiting = False
    while True:
        with store.transaction():
            active = [
                row
                for row in store.active(record.process)
                if row.id != record.id and not _reap_if_dead(store, row, clock)
            ]
            if waiting:
                # a waiting run waits for the running ones and for those queued before it
                blockers = [
                    r.id
                    for r in active
                    if r.status is RunStatus.RUNNING or (r.started, r.id) < (record.started, record.id)
                ]
                decision = OverlapDecision(Admission.START if not blockers else Admission.QUEUE, blockers)
                if policy is Overlap.REPLACE and blockers:
                    decision = OverlapDecision(Admission.REPLACE, blockers)
            else:
                decision = decide_overlap(policy, process.max_instances, [r.id for r in active], force)
                if decision.admission is Admission.QUEUE and any(
                    r.status is RunStatus.QUEUED for r in active
                ):
                    decision = OverlapDecision(Admission.SKIP, decision.blockers)  # at most one waiting
            if decision.admission is Admission.START:
                record.status = RunStatus.RUNNING
                _save(store, record)
                return Admission.START
            if decision.admission is Admission.SKIP:
                _end_unstarted(
                    record,
                    RunStatus.SKIPPED,
                    f"skipped: {', '.join(decision.blockers)} still active (overlap: {policy})",
                    clock,
                )
                _save(store, record)
                return Admission.SKIP
            if not waiting:
                record.status = RunStatus.QUEUED
                _save(store, record)
                waiting = True
        if decision.admission is Admission.REPLACE:
            for blocker in decision.blockers:
                row = store.get(blocker)
                if blocker not in signalled and row is not None:
                    signal_runner(store, row)
                    signalled.add(blocker)
        if cancel is not None:
            if cancel.wait(poll):
                _end_unstarted(
                    record, RunStatus.CANCELLED, "cancelled while waiting for the runs ahead of it", clock
                )
                _save(store, record)
                return Admission.SKIP
        else:
            time.sleep(poll)


def _end_unstarted(record: RunRecord, status: RunStatus, error: str, clock: Clock) -> None:
    record.status = status
    record.finished = clock.now()
    record.error = error
    for thread in record.threads:
        thread.status = ThreadStatus.NOT_RUN


def _reap_if_dead(store: Store, row: RunRow, clock: Clock) -> bool:
    """Mark a run whose runner died as interrupted; True if it was dead."""
    if is_alive(row.pid, row.pid_start):
        return False
    mark_interrupted(store, row, clock)
    return True


def execute_run(
    config: LoadedConfig,
    record: RunRecord,
    store: Store | None = None,
    clock: Clock = SYSTEM_CLOCK,
    cancel: CancelToken | None = None,
    hooks: RunHooks | None = None,
) -> RunRecord:
    """Run the threads of an admitted run in series; returns the finished record (also in run.json)."""
    hooks = hooks or RunHooks()
    own_cancel = cancel is None
    cancel = cancel or CancelToken()
    settings = RunSettings(
        kill_grace=config.settings.defaults.kill_grace, max_log_size=config.settings.defaults.max_log_size
    )
    process = config.runnable(record.process)
    plans = plan_chain(config, record.process, record.folder, record.id)
    zone = ZoneInfo(config.zone_name)
    chain_deadline = clock.monotonic() + process.timeout if process.timeout else None
    on_failure = process.on_failure or OnFailure.STOP
    record.status = RunStatus.RUNNING
    _claim(record)  # saved with the first thread's start (or with the end, if the console cannot open)
    outcome: RunStatus | None = None
    try:
        console = hooks.open_log(record.folder / CONSOLE_LOG, "ab")
    except OSError as exc:
        if own_cancel:
            cancel.close()
        return _finish(record, RunStatus.FAILED, f"cannot open {CONSOLE_LOG}: {exc}", store, clock, hooks)
    try:
        for plan, thread in zip(plans, record.threads, strict=True):
            if outcome is not None and (
                on_failure is OnFailure.STOP or cancel.is_set() or record.error is not None
            ):
                thread.status = ThreadStatus.NOT_RUN
                continue
            status = _run_thread(
                plan, thread, record, console, zone, settings, chain_deadline, cancel, clock, store, hooks
            )
            if status is not ThreadStatus.SUCCEEDED and outcome is None:
                outcome = _RUN_STATUS_OF.get(status, RunStatus.FAILED)
            if cancel.reason is StopReason.CHAIN_TIMEOUT:
                outcome = RunStatus.TIMED_OUT
            elif cancel.reason is StopReason.CANCELLED:
                outcome = RunStatus.CANCELLED
    finally:
        with contextlib.suppress(OSError):
            console.close()
        if own_cancel:
            cancel.close()
    return _finish(record, outcome or RunStatus.SUCCEEDED, record.error, store, clock, hooks)


def _run_thread(
    plan: ThreadPlan,
    thread: ThreadRecord,
    record: RunRecord,
    console: BinaryIO,
    zone: ZoneInfo,
    settings: RunSettings,
    chain_deadline: float | None,
    cancel: CancelToken,
    clock: Clock,
    store: Store | None,
    hooks: RunHooks,
) -> ThreadStatus:
    thread.status = ThreadStatus.RUNNING
    thread.started = clock.now()
    started = clock.monotonic()
    _save(store, record, hooks)
    last_saved = [clock.monotonic()]

    def on_progress(progress: Progress) -> None:
        thread.progress = progress
        if clock.monotonic() - last_saved[0] >= PROGRESS_SAVE_INTERVAL:
            last_saved[0] = clock.monotonic()
            _save(store, record, hooks)

    def on_start(pid: int) -> None:
        record.child_pgid = pid
        _save(store, record, hooks)

    try:
        capture = LogCapture(
            record.folder,
            plan.name,
            console,
            settings.max_log_size,
            zone,
            clock,
            opener=hooks.open_log,
            on_progress=on_progress,
            echo=hooks.echo,
        )
    except LogWriteError as exc:
        record.error = str(exc)
        return _end_thread(thread, ThreadStatus.FAILED, str(exc), started, clock, store, record, hooks)
    status = ThreadStatus.FAILED
    try:
        problem = _check_before_start(plan, record.folder)
        if problem is not None:
            capture.note(problem)
            return _end_thread(thread, ThreadStatus.FAILED, problem, started, clock, store, record, hooks)
        delay = plan.retry_delay
        for attempt in range(1, plan.retries + 2):
            thread.attempts = attempt
            if attempt > 1:
                capture.note(f"attempt {attempt} of {plan.retries + 1} in {delay:g}s")
                wait_until = clock.monotonic() + delay
                if chain_deadline is not None and wait_until >= chain_deadline:
                    cancel.cancel(StopReason.CHAIN_TIMEOUT)
                if cancel.wait(delay):
                    status = _stopped_status(cancel.reason)
                    break
                delay *= plan.retry_backoff
                _save(store, record, hooks)
            elif plan.retries:
                capture.note(f"attempt 1 of {plan.retries + 1}")
            deadline, reason = _deadline(plan.timeout, chain_deadline, clock)
            result = run_attempt(
                plan.argv,
                plan.cwd,
                {**inherited_env(), **plan.env},
                capture,
                clock,
                cancel,
                deadline,
                reason,
                settings.kill_grace,
                on_start,
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
            capture.note(f"{plan.name} {status} ({thread.outcome()})" if not result.error else result.error)
            if status is ThreadStatus.SUCCEEDED or cancel.is_set():
                break
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
    return _end_thread(thread, status, thread.error, started, clock, store, record, hooks)


def _check_before_start(plan: ThreadPlan, folder: Path) -> str | None:
    """A problem that appeared since the config was checked (a deleted script or input), else None."""
    if plan.script is not None:
        shown = f"threads/{plan.name}/{plan.script.name}"
        if not plan.script.is_file():
            return f"script {shown} does not exist (it was there when the config was checked); restore it"
        try:
            compile(plan.script.read_bytes(), str(plan.script), "exec")
        except SyntaxError as exc:
            return f"{shown} is not a Python script (line {exc.lineno}: {exc.msg}); fix it or use 'command:'"
        except (ValueError, OSError) as exc:
            return f"{shown} is not a Python script ({exc}); fix it or use 'command:'"
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


def _deadline(
    timeout: float | None, chain_deadline: float | None, clock: Clock
) -> tuple[float | None, StopReason]:
    own = clock.monotonic() + timeout if timeout else None
    if chain_deadline is not None and (own is None or chain_deadline < own):
        return chain_deadline, StopReason.CHAIN_TIMEOUT
    return own, StopReason.TIMEOUT


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
    store: Store | None,
    record: RunRecord,
    hooks: RunHooks,
) -> ThreadStatus:
    thread.status = status
    thread.error = error
    record.child_pgid = None
    thread.finished = clock.now()
    thread.duration = round(clock.monotonic() - started, 3)
    _save(store, record, hooks)
    return status


def _finish(
    record: RunRecord,
    status: RunStatus,
    error: str | None,
    store: Store | None,
    clock: Clock,
    hooks: RunHooks,
) -> RunRecord:
    record.status = status
    record.error = error
    record.finished = clock.now()
    for thread in record.threads:
        if thread.status in (ThreadStatus.QUEUED, ThreadStatus.RUNNING):
            thread.status = ThreadStatus.NOT_RUN
    _save(store, record, hooks)
    return record


def _save(store: Store | None, record: RunRecord, hooks: RunHooks | None = None) -> None:
    """Record a state change in run.json and the index. A full disk must not break the run's bookkeeping."""
    try:
        write_run_json(record)
    except OSError as exc:
        if record.error is None:
            record.error = f"cannot write run.json: {exc}"
    if store is not None:
        store.save_run(record)
    if hooks is not None and hooks.on_status is not None:
        hooks.on_status(record)


def run_chain(
    config: LoadedConfig,
    process: str,
    trigger: Trigger = Trigger.MANUAL,
    scheduled_for: datetime | None = None,
    clock: Clock = SYSTEM_CLOCK,
    cancel: CancelToken | None = None,
    store: Store | None = None,
    force: bool = False,
    hooks: RunHooks | None = None,
) -> RunRecord:
    """Run `process` (or a thread alone) now, in a new run folder, and return its finished record."""
    record = prepare_run(config, process, trigger, scheduled_for, clock)
    if store is not None:
        admission = admit_run(store, record, config.runnable(process), clock, cancel, force)
        if admission is Admission.SKIP:
            return record
    return execute_run(config, record, store, clock, cancel, hooks)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
