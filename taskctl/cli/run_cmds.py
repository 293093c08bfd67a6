"""Runs: `run`, `history`, `show`, `logs`, `cancel`, `pack` (and what `thread run` shares with `run`)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import common, complete

if TYPE_CHECKING:
    from datetime import datetime

    from taskctl.config import LoadedConfig
    from taskctl.config.loader import ResolvedProcess
    from taskctl.runner import RunService
    from taskctl.runner.plan import ThreadPlan
    from taskctl.runner.service import LoadedRun
    from taskctl.runs import RunId, RunRecord
    from taskctl.store import RunRow
    from taskctl.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("run")(run)
    app.command("history")(history)
    app.command("show")(show)
    app.command("logs")(logs)
    app.command("cancel")(cancel)
    app.command("pack")(pack)


# -- run -------------------------------------------------------------------------------------------


FOLLOW_OPTION = typer.Option(
    True, "--follow/--detach", help="Stream the console and wait (default), or start in the background."
)
RUN_DRY_RUN_OPTION = typer.Option(False, "--dry-run", help="Print what would run; run nothing.")
FORCE_OPTION = typer.Option(False, "--force", help="Run even if the overlap policy says skip or wait.")


def run(
    name: str = typer.Argument(
        ...,
        help="A process, or a thread (run alone as a one-thread process).",
        autocompletion=complete.runnables,
    ),
    follow: bool = FOLLOW_OPTION,
    dry_run: bool = RUN_DRY_RUN_OPTION,
    force: bool = FORCE_OPTION,
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Run a process now: its threads in series in a new run folder; exits 0 if it succeeded, 1 if not.

    Ctrl-C cancels the run (its threads are stopped) and exits 130; SIGTERM and SIGHUP (a closed terminal)
    cancel it too.

    Example:

        taskctl run nightly
        taskctl run nightly --dry-run
        taskctl run nightly --detach
    """
    config = common.load()
    entry = config.processes.get(name) or config.threads.get(name)
    if entry is not None and not entry.enabled:
        typer.echo(f"note: '{name}' is disabled (not scheduled); running it because you asked", err=True)
    run_now(config, name, follow, dry_run, force, json_output)


def run_now(
    config: LoadedConfig, name: str, follow: bool, dry_run: bool, force: bool, json_output: bool
) -> None:
    """`run NAME` and `thread run NAME`: print the plan, start in the background, or run and follow."""
    definition = config.resolved(name)
    workspace = config.workspace
    if dry_run:  # before the imports that running needs (a dry run is a fifth quicker without them)
        _print_plan(config, definition, json_output)
        return
    from taskctl.cli.interrupts import second_ctrl_c_kills
    from taskctl.cli.progress import RunDisplay
    from taskctl.runner import CancelToken, RunHooks, RunRequest, cancel_on_signals, open_service
    from taskctl.runner.detached import start_detached
    from taskctl.runs import RunStatus

    if not follow:
        run_id = start_detached(workspace, name, force)
        if json_output:
            from taskctl.documents import started_document

            common.print_json(started_document(workspace, run_id))
        else:
            typer.echo(run_id)
        return
    display = RunDisplay.here()
    token = CancelToken()
    started: list[RunRecord] = []
    hooks = RunHooks(
        echo=None if json_output else _unless_stdout_is_gone(display.console),
        on_status=None if json_output else display.update,
        on_warning=lambda message: _say(lambda: display.say(f"warning: {message}")),
    )
    try:
        with (
            cancel_on_signals(token) as received,
            second_ctrl_c_kills(token, started, definition, display),
            open_service(workspace, on_warning=hooks.on_warning) as service,
        ):
            record = service.run(definition, RunRequest(force=force), token, hooks, on_created=started.append)
            if not service.wait_for_notifications(NOTIFY_WAIT, token):
                assert hooks.on_warning is not None
                hooks.on_warning(
                    f"{service.pending_notifications()} notification(s) still being sent; not waiting longer."
                )
    finally:
        token.close()
        display.close()
    if json_output:
        _say(lambda: common.print_json(record.to_json()))
    else:
        _say(lambda: typer.echo(_outcome_line(record, workspace, display.paint), err=True))
    if record.status is RunStatus.SUCCEEDED:
        return
    interrupted = signal.SIGINT in received and record.status is RunStatus.CANCELLED
    raise typer.Exit(130 if interrupted else 1)


NOTIFY_WAIT = 15.0  # seconds `taskctl run` waits for its webhook deliveries before it exits


def _say(show: Callable[[], None]) -> None:
    """Print the outcome; a terminal that went away (SIGHUP) must not turn it into a traceback."""
    with contextlib.suppress(OSError, ValueError):
        show()


def _unless_stdout_is_gone(write: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """`write` until it fails: a closed terminal or pipe must not stop the run (the log has the console)."""
    broken: list[bool] = []

    def echo(block: bytes) -> None:
        if broken:
            return
        try:
            write(block)
        except (OSError, ValueError):
            broken.append(True)

    return echo


def _outcome_line(record: RunRecord, workspace: Workspace, paint: Callable[[Any], str] = str) -> str:
    from taskctl.runs import RunStatus
    from taskctl.units import format_duration

    if record.status is RunStatus.SKIPPED:
        return f"run {record.id} {record.error}; use --force to run anyway."
    line = f"run {record.id} {paint(record.status)} in {format_duration(record.duration)}"
    failed = next((t for t in record.threads if t.name == record.failed_thread), None)
    if failed is not None:
        line += f": thread {failed.name} {paint(failed.status)} ({failed.outcome()})"
        if failed.error:
            line += f": {failed.error}"
    elif record.error:
        line += f": {record.error}"
    if record.status is not RunStatus.SUCCEEDED:
        line += f" (see taskctl logs {record.id})"
    return line + f"\nrun folder: {workspace.relative(record.folder)}/"


def _print_plan(config: LoadedConfig, definition: ResolvedProcess, json_output: bool) -> None:
    from taskctl.runner.plan import plan_run

    plans = plan_run(config.workspace, definition)
    if json_output:
        common.print_json(
            {
                "process": definition.name,
                "timeout": definition.timeout,
                "on_failure": str(definition.on_failure),
                "threads": [p.to_json() for p in plans],
            }
        )
        return
    import shlex

    from taskctl.units import format_duration

    chain_timeout = format_duration(definition.timeout) if definition.timeout else "none"
    typer.echo(
        f"process {definition.name}: {len(plans)} thread(s), on_failure {definition.on_failure}, "
        f"timeout {chain_timeout}"
    )
    for plan in plans:
        typer.echo(f"\n{plan.step} {plan.name} ({plan.kind})")
        typer.echo(f"  command: {shlex.join(plan.argv)}")
        typer.echo(f"  cwd:     {config.workspace.relative(plan.cwd)}/  (created when the run starts)")
        timeout = format_duration(plan.timeout) if plan.timeout else "none"
        typer.echo(f"  timeout: {timeout}   retries: {plan.retries}")
        for line in _plan_details(config.workspace, plan):
            typer.echo(f"  {line}")
        typer.echo("  env:")
        for key, value in plan.env.items():
            typer.echo(f"    {key}={value}")


def _plan_details(workspace: Workspace, plan: ThreadPlan) -> list[str]:
    """What a thread's kind, input, output and environment add to `run --dry-run`."""
    from taskctl.runner.kinds import describe_selection

    lines = []
    if plan.func is not None:
        lines.append(f"calls:   {plan.func}")
    if plan.junit is not None:
        lines.append(f"junit:   {workspace.relative(plan.junit)}")
    if plan.python is not None:
        lines.append(f"python:  {plan.python}")
    if plan.environment is not None:
        state = "ready" if plan.environment.ready else "not built yet (built before the first attempt)"
        lines.append(f"environment: {workspace.relative(plan.environment.folder)} ({state})")
    if plan.problem is not None:
        lines.append(f"problem: {plan.problem}")
    if plan.input_source is not None:
        lines.append(f"input:   {workspace.relative(plan.input_source)} copied into the run folder")
    if plan.sku_input is not None and plan.input_copy is not None:
        required = ", required" if plan.sku_input.required else ""
        lines.append(
            f"input:   SKU table rows ({describe_selection(plan.sku_input.skus)}{required}) "
            f"written to {plan.input_copy.name} when the thread starts"
        )
    if plan.output is not None:
        into = plan.output.into_skus
        lines.append(f"output:  {plan.output.file} into the SKU table after success (into_skus: {into})")
    return lines


# -- history / show --------------------------------------------------------------------------------


def history(
    name: str | None = typer.Argument(
        None,
        help="Only runs of this process (or thread run alone).",
        autocompletion=complete.runs_or_configured,
    ),
    status: list[str] = typer.Option(
        [], "--status", help="Only runs with this status (repeatable).", autocompletion=complete.run_statuses
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only runs started since then: 7d, 12h, 2026-11-20 or '2026-11-20 14:00'."
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many runs (newest first)."),
    tags: list[str] | None = common.TAG_FILTER_OPTION,
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="Recreate the run index from the run folders first (a damaged one is moved aside).",
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """List the latest runs: id, process, trigger, status, started, duration, failed thread.

    Times are in the workspace zone; a --since date without an offset is read in it too.

    Example:

        taskctl history
        taskctl history nightly --status failed --since 7d --json
        taskctl history --tag amazon --since 2026-11-20
        taskctl history --rebuild
    """
    from taskctl.runner import open_service
    from taskctl.runner.service import rebuild_index

    workspace = common.workspace()
    statuses = _statuses(status)
    moment = _since(since)
    if rebuild:
        report = rebuild_index(workspace)
        if report.moved_aside is not None:
            typer.echo(f"moved the damaged index to {workspace.relative(report.moved_aside)}", err=True)
        for problem in report.problems:
            typer.echo(f"warning: {problem}", err=True)
        typer.echo(
            f"indexed {report.runs} run(s) from {workspace.relative(workspace.process_dir)}/", err=True
        )
    tagged = _tagged_names(tags)
    with open_service(workspace, read_only=True) as service:
        if tagged is None:
            rows = service.history(name, statuses, moment, limit + 1, known=_configured_names)
        else:
            service.reap()
            chosen = [n for n in tagged if name is None or n == name]
            rows = _newest_first(service.store.runs(n, statuses, moment, limit + 1) for n in chosen)
    more = len(rows) > limit
    rows = rows[:limit]
    if json_output:
        common.print_json([r.to_json() for r in rows])
        return
    filtered = name or statuses or moment or tagged is not None
    common.print_table(
        [_history_row(r) for r in rows],
        ["ID", "PROCESS", "TRIGGER", "STATUS", "STARTED", "DURATION", "FAILED THREAD"],
        empty="no runs match" if filtered else "no runs yet",
    )
    if more:
        typer.echo(f"(more: --limit {limit * 2}, or narrow with --since, --status or --tag)", err=True)


def _tagged_names(tags: list[str] | None) -> list[str] | None:
    """The processes and threads whose runs `--tag` chooses, or None without --tag."""
    if not tags:
        return None
    config = common.load()
    return sorted(common.tag_filter(config, tags).runnables(config))


def _newest_first(groups: Iterable[list[RunRow]]) -> list[RunRow]:
    """The runs of several processes (each newest first) as one list, newest first, as the index sorts."""
    return sorted(
        (row for group in groups for row in group),
        key=lambda row: (row.started, len(row.id), row.id),
        reverse=True,
    )


def _configured_names() -> list[str]:
    """The processes and threads of the config; none when it cannot be loaded (history stays readable)."""
    try:
        config = common.load()
    except Exception:  # a broken config must not hide the history of the runs that exist
        return []
    return [*config.processes, *config.threads]


def _history_row(row: RunRow) -> list[str]:
    from taskctl.units import format_duration

    return [
        row.id,
        row.process,
        str(row.trigger),
        str(row.status) + (f" {row.progress}" if row.progress else "") + _skip_reason(row),
        _local(row.started),
        format_duration(row.duration),
        row.failed_thread or "",
    ]


def _skip_reason(row: RunRow) -> str:
    """Why a skipped run did not run, in a word: `(missed)` for a slot missed by the daemon, `(overlap)`."""
    if str(row.status) != "skipped":
        return ""
    return " (overlap)" if row.has_folder else " (missed)"


def _local(moment: Any) -> str:
    """An instant in the workspace zone (the zone of the run folder names), for tables."""
    if moment is None:
        return "-"
    return str(moment.astimezone(_display_zone()).strftime("%Y-%m-%d %H:%M:%S"))


_zones: dict[Path, Any] = {}


def _display_zone() -> Any:
    """The workspace zone from config/taskctl.yaml (read alone, without loading the whole config)."""
    from taskctl.config import display_zone

    workspace = common.workspace()
    if workspace.root not in _zones:
        # History stays readable when the settings file is broken: the machine's zone, and a warning.
        zone, problem = display_zone(workspace)
        if problem is not None:
            typer.echo(f"warning: {problem.render()}; showing times in {zone.key}", err=True)
        _zones[workspace.root] = zone
    return _zones[workspace.root]


def _statuses(values: list[str]) -> list[Any]:
    from taskctl.runs import parse_statuses

    return parse_statuses(values)


def _since(text: str | None) -> Any:
    """`--since`: a duration back from now, or a date or date and time in the workspace zone."""
    if text is None:
        return None
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.errors import UsageError
    from taskctl.units import parse_since

    try:
        return parse_since(text, SYSTEM_CLOCK.now(), _display_zone)
    except ValueError as exc:
        raise UsageError(f"--since {exc}.") from None


def show(
    run_id: str = typer.Argument(
        ...,
        metavar="RUN_ID|NAME",
        help="A run id (or a unique prefix, NAME@latest), or a process: its newest run.",
        autocompletion=complete.run_names,
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Show one run: each thread's status, exit code or signal, duration, retries, and the files it left.

    A process NAME means its newest run.

    Example:

        taskctl show nightly
        taskctl show nightly/2026-11-22_02-30-00 --json
    """
    from taskctl.documents import run_document
    from taskctl.units import format_duration, format_size

    workspace = common.workspace()
    loaded = _load_run(workspace, run_id, latest_for_name=True)
    record = loaded.record
    document = run_document(record, has_folder=loaded.has_folder)
    files = document["files"]
    if json_output:
        common.print_json(document)
        return
    if not loaded.has_folder:
        _show_missed(record)
        return
    rows = [
        ("run", record.id),
        ("status", str(record.status)),
        ("trigger", str(record.trigger)),
        ("started", _local(record.started)),
        ("finished", _local(record.finished)),
        ("duration", format_duration(record.duration)),
        ("config", record.config_revision),
        ("by", f"{record.user}@{record.host} (pid {record.pid})"),
        ("folder", workspace.relative(record.folder)),
    ]
    if record.scheduled_for is not None:
        rows.insert(3, ("scheduled", _local(record.scheduled_for)))
    if record.error:
        rows.append(("error", record.error))
    for key, value in rows:
        typer.echo(f"{key:<10}{value}")
    typer.echo("")
    common.print_table(
        [
            [
                t.name,
                str(t.status),
                t.outcome(),
                format_duration(t.duration),
                str(t.retries),
                t.progress.text() if t.progress else "",
                t.error or "",
            ]
            for t in record.threads
        ],
        ["THREAD", "STATUS", "OUTCOME", "DURATION", "RETRIES", "PROGRESS", "ERROR"],
        empty="no threads recorded",
    )
    for thread in record.threads:
        for line in thread.details():
            typer.echo(f"{thread.name}: {line}")
    if record.notifications:
        from taskctl.notify import DeliveryOutcome

        typer.echo("")
        for outcome in record.notifications:
            typer.echo(DeliveryOutcome.from_json(outcome).summary())
    typer.echo("")
    common.print_table(
        [[f["name"], format_size(int(str(f["size"])))] for f in files], ["FILE", "SIZE"], empty="no files"
    )


def _load(workspace: Workspace, text: str, latest_for_name: bool = False) -> RunRecord:
    """The run meant by `text` (with `latest_for_name`, a process NAME is its newest run; `NAME/` stays a
    prefix of run ids); a warning on stderr when its run.json could not be read."""
    return _load_run(workspace, text, latest_for_name).record


def _load_run(workspace: Workspace, text: str, latest_for_name: bool = False) -> LoadedRun:
    from taskctl.runner import open_service

    with open_service(workspace, read_only=True) as service:
        loaded = service.load(text, latest_for_name and "/" not in text)
    if loaded.problem:
        typer.echo(f"warning: {loaded.problem}; showing what the run index knows.", err=True)
    return loaded


def _show_missed(record: RunRecord) -> None:
    """`show` of a slot recorded as missed: what the index knows, and that there is nothing more."""
    for key, value in [
        ("run", record.id),
        ("status", str(record.status)),
        ("trigger", str(record.trigger)),
        ("scheduled", _local(record.scheduled_for)),
        ("reason", record.error or "missed"),
    ]:
        typer.echo(f"{key:<10}{value}")
    typer.echo(f"\n{_MISSED_NOTE.format(run=record.id)}")


_MISSED_NOTE = (
    "{run} is a schedule slot that never ran (recorded as missed): it has no run folder, threads or logs."
)


# -- logs ------------------------------------------------------------------------------------------


def logs(
    target: str = typer.Argument(
        ...,
        metavar="RUN_ID|NAME",
        help="A run id (or prefix, NAME@latest) or a process: its newest run.",
        autocompletion=complete.run_names,
    ),
    thread: str | None = typer.Option(
        None, "--thread", "-t", help="Only this thread's log.", autocompletion=complete.threads
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the run ends."),
    tail: int | None = typer.Option(None, "--tail", "-n", min=0, help="Only the last N lines."),
) -> None:
    """Print a run's console log (all threads, time-stamped), or one thread's log.

    A process NAME means its newest run.

    Example:

        taskctl logs nightly@latest --thread amazon_reviews --tail 50
        taskctl logs nightly --follow
    """
    from taskctl.errors import TaskctlError, not_found
    from taskctl.runner.logs import tail_lines
    from taskctl.runs import CONSOLE_LOG

    workspace = common.workspace()
    loaded = _load_run(workspace, target, latest_for_name=True)
    record = loaded.record
    if not loaded.has_folder:
        raise TaskctlError(_MISSED_NOTE.format(run=record.id))
    if thread is not None and thread not in [t.name for t in record.threads]:
        raise not_found(f"thread in run {record.id}", thread, [t.name for t in record.threads])
    path = record.folder / (f"{thread}.log" if thread else CONSOLE_LOG)
    out = sys.stdout.buffer
    start = 0
    if tail is not None:
        out.writelines(tail_lines(path, tail))
        start = path.stat().st_size if path.exists() else 0
    elif not follow and path.exists():
        with path.open("rb") as file:
            while block := file.read(1024 * 1024):
                out.write(block)
    out.flush()
    if follow:
        _follow(path, record.folder, start if tail is not None else 0)


def _follow(path: Path, folder: Path, start: int) -> None:
    from taskctl.cli.progress import RunDisplay
    from taskctl.runner.logs import follow

    display = RunDisplay.here()
    last: RunRecord | None = None
    try:
        for item in follow(path, folder, start):
            if isinstance(item, bytes):
                display.console(item)
            else:
                last = item
                display.update(item)
    finally:
        display.close()
    if last is not None and not last.status.finished:
        last = _load(common.workspace(), last.id)  # its runner died: now marked interrupted
    if last is not None:
        error = f": {last.error}" if last.error else ""
        typer.echo(f"run {last.id} {display.paint(last.status)}{error}", err=True)


# -- cancel ----------------------------------------------------------------------------------------


def cancel(
    run_id: str = typer.Argument(
        ...,
        metavar="RUN_ID|NAME",
        help="A run id (or a unique prefix, NAME@latest), or a process: its one queued or running run.",
        autocompletion=complete.run_names,
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Cancel a queued or running run: its threads get SIGTERM, then SIGKILL after the grace period.

    A process NAME means its run that is queued or running; when it has several, they are listed to choose
    from. Works for runs started by another `taskctl run` (or the daemon). A run whose runner is gone is
    marked interrupted.

    Example:

        taskctl cancel nightly
        taskctl cancel nightly/2026-11-22_02-30-00
    """
    from taskctl.runner import CancelOutcome, open_service

    with open_service(common.workspace()) as service:
        result = service.cancel(_active_run(service, run_id))
    if json_output:
        common.print_json(result.to_json())
        return
    message = {
        CancelOutcome.CANCELLED: f"run {result.run_id} {result.status}",
        CancelOutcome.REQUESTED: f"asked the runner of {result.run_id} to stop; it is still stopping",
        CancelOutcome.INTERRUPTED: f"the runner of {result.run_id} was gone; marked the run interrupted",
    }[result.outcome]
    typer.echo(message)


def _active_run(service: RunService, text: str) -> RunId:
    """The run `cancel TEXT` means: for a process name, its one queued or running run."""
    from taskctl.errors import TaskctlError, UsageError

    if "/" in text or "@" in text or service.store.latest_id(text) is None:
        return service.resolve(text)
    service.reap(text)
    active = service.store.active(text)
    if len(active) == 1:
        return active[0].id
    if active:
        listed = "\n  ".join(f"{row.id} ({row.status})" for row in active)
        raise UsageError(f"process '{text}' has {len(active)} runs queued or running; give one:\n  {listed}")
    latest = service.store.runs(text, limit=1)[0]
    raise TaskctlError(
        f"process '{text}' has no queued or running run (its latest, {latest.id}, {latest.status})."
    )


# -- pack ------------------------------------------------------------------------------------------


def pack(
    targets: list[str] | None = typer.Argument(
        None,
        metavar="[RUN_ID...|NAME]",
        help="Run ids, or one process (its newest run; --latest or --since to choose). None: every process.",
        autocompletion=complete.run_names,
    ),
    latest: bool = typer.Option(False, "--latest", help="The newest run (of NAME, or of every process)."),
    since: str | None = typer.Option(
        None, "--since", help="The runs started since then (of NAME, or of every process): 7d, 2026-11-20."
    ),
    output: str | None = typer.Option(None, "-o", "--output", help="The archive to write ('-' for stdout)."),
    format_name: str | None = typer.Option(
        None, "--format", help="zip (default), tar.gz or tar.zst (needs taskctl[zstd])."
    ),
    allow_running: bool = typer.Option(False, "--allow-running", help="Pack runs that are still running."),
) -> None:
    """Pack run folders (outputs, console.log, run.json) into one zip, tar.gz or tar.zst archive.

    A process NAME alone means its newest run. Without run ids or NAME, --latest or --since choose among the
    runs of every process.

    Example:

        taskctl pack nightly -o out.zip
        taskctl pack nightly --since 7d --format tar.gz -o week.tar.gz
        taskctl pack --since 2026-11-01 -o november.zip
    """
    from taskctl.archive import PackedRun, format_for, interrupted_by_signals, pack_runs
    from taskctl.errors import TaskctlError, UsageError
    from taskctl.runner import open_service
    from taskctl.units import format_size

    fmt = format_for(output or "", format_name)
    if output == "-" and sys.stdout.isatty():  # as gzip does: binary data would garble the terminal
        raise UsageError(
            "refusing to write a binary archive to the terminal; "
            "redirect stdout (> runs.zip) or pass -o FILE."
        )
    workspace = common.workspace()
    moment = _since(since)
    with open_service(workspace, read_only=True) as service:
        if targets:
            run_ids = service.select(
                [_newest_if_process(service, t, latest or moment is not None) for t in targets],
                latest,
                moment,
                since or "",
                allow_running,
                known=_configured_names,
            )
        else:
            run_ids = _runs_of_every_process(service, latest, moment, since, allow_running)
        missed = [i for i in run_ids if (row := service.store.get(i)) is not None and not row.has_folder]
    if missed and len(missed) == len(run_ids):
        raise TaskctlError(
            f"nothing to pack: {', '.join(missed)} never ran (a missed schedule slot has no run folder)."
        )
    if missed:
        typer.echo(f"note: left out {len(missed)} missed slot(s): they have no run folder", err=True)
        run_ids = [i for i in run_ids if i not in missed]
    runs = [PackedRun(run_id=i, folder=workspace.run_folder(i)) for i in run_ids]
    if output == "-":
        with interrupted_by_signals():
            report = pack_runs(runs, sys.stdout.buffer, fmt)
        sys.stdout.buffer.flush()
        destination = "stdout"
    else:
        path = Path(output) if output else Path(_default_archive_name(run_ids, str(fmt)))
        if not path.parent.is_dir():
            raise UsageError(
                f"cannot write '{path}': the folder '{path.parent}' does not exist; "
                "create it or choose another -o."
            )
        with interrupted_by_signals():  # TERM or HUP: no temporary file left behind
            report = pack_runs(runs, path, fmt)
        destination = str(path)
    for skipped in report.skipped:  # each a sentence: "skipped <file>: <why>."
        typer.echo(f"warning: {skipped}", err=True)
    typer.echo(
        f"packed {len(run_ids)} run(s), {report.files} file(s), {format_size(report.bytes_in)} -> "
        f"{format_size(report.bytes_out)} into {destination}",
        err=True,
    )


def _newest_if_process(service: RunService, target: str, choosing: bool) -> str:
    """A bare process NAME names its newest run (`NAME@latest`), unless --latest/--since choose its runs."""
    bare = "/" not in target and "@" not in target
    if bare and not choosing and service.store.latest_id(target) is not None:
        return f"{target}@latest"
    return target


def _runs_of_every_process(
    service: RunService, latest: bool, since: datetime | None, since_text: str | None, allow_running: bool
) -> list[RunId]:
    """`pack --latest` / `pack --since X` without a NAME: the newest run, or the runs since X, of each
    process (oldest first)."""
    from taskctl.errors import TaskctlError, UsageError
    from taskctl.runs import RunId

    if latest == (since is not None):
        raise UsageError(
            "give run ids or a process NAME, or choose runs of every process with --latest or --since "
            "(one of them)."
        )
    service.reap()
    if latest:
        found = [i for i in (service.store.latest_id(p) for p in service.store.processes()) if i is not None]
        rows = [row for row in (service.store.get(i) for i in found) if row is not None]
    else:
        rows = service.store.runs(since=since, limit=None)
    rows = [row for row in rows if row.has_folder]
    if not rows:
        raise TaskctlError(f"no runs{f' since {since_text}' if since_text else ''} to pack.")
    if not allow_running:
        for row in rows:
            if not row.status.finished:
                raise TaskctlError(
                    f"run {row.id} is still {row.status}; wait for it, cancel it, or pass --allow-running."
                )
    return sorted((row.id for row in rows), key=RunId.sort_key)


def _default_archive_name(run_ids: list[RunId], extension: str) -> str:
    processes = {i.process for i in run_ids}
    newest = max(run_ids, key=lambda i: i.sort_key()[1:]).stamp
    if len(run_ids) == 1:
        stem = run_ids[0].replace("/", "_")
    elif len(processes) == 1:
        stem = f"{processes.pop()}_{len(run_ids)}-runs_{newest}"
    else:
        stem = f"runs_{len(run_ids)}_{newest}"
    return f"{stem}.{extension}"
