"""Runs: `run`, `history`, `show`, `logs`, `cancel`, `pack` (and `thread run`)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import common

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.config.loader import ResolvedProcess
    from taskctl.runner.chain import ThreadPlan
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
    _thread_group(app).command("run")(thread_run)


def _thread_group(app: typer.Typer) -> typer.Typer:
    """The `thread` command group (made here if thread_cmds has not made it)."""
    for group in app.registered_groups:
        if group.name == "thread" and group.typer_instance is not None:
            return group.typer_instance
    thread_app = typer.Typer(
        name="thread", help="Threads: the scripts that processes run.", no_args_is_help=True
    )
    app.add_typer(thread_app, name="thread")
    return thread_app


# -- run -------------------------------------------------------------------------------------------


def run(
    name: str = typer.Argument(..., help="A process, or a scheduled thread (a one-thread process)."),
    follow: bool = typer.Option(
        True, "--follow/--detach", help="Stream the console and wait (default), or start in the background."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would run; run nothing."),
    force: bool = typer.Option(False, "--force", help="Run even if the overlap policy says skip or wait."),
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
    _run_now(config, name, follow, dry_run, force, json_output)


def thread_run(
    name: str = typer.Argument(..., help="The thread to run alone."),
    follow: bool = typer.Option(
        True, "--follow/--detach", help="Stream the console, or run in the background."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would run; run nothing."),
    force: bool = typer.Option(False, "--force", help="Run even if the overlap policy says skip or wait."),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Run one thread alone now, as a one-thread process of the same name.

    Example:

        taskctl thread run amazon_reviews
    """
    config = common.load()
    config.thread(name)
    _run_now(config, name, follow, dry_run, force, json_output)


def _run_now(
    config: LoadedConfig, name: str, follow: bool, dry_run: bool, force: bool, json_output: bool
) -> None:
    from taskctl.runner import CancelToken, RunHooks, RunRequest, cancel_on_signals, open_service
    from taskctl.runner.detached import start_detached
    from taskctl.runs import RunStatus

    definition = config.resolved(name)
    workspace = config.workspace
    if dry_run:
        _print_plan(config, definition, json_output)
        return
    if not follow:
        run_id = start_detached(workspace, name, force)
        if json_output:
            from taskctl.documents import started_document

            common.print_json(started_document(workspace, run_id))
        else:
            typer.echo(run_id)
        return
    token = CancelToken()
    hooks = RunHooks(echo=None if json_output else _stdout_echo(), on_warning=_warn)
    try:
        with cancel_on_signals(token) as received, open_service(workspace, on_warning=_warn) as service:
            record = service.run(definition, RunRequest(force=force), token, hooks)
            if not service.wait_for_notifications(NOTIFY_WAIT, token):
                _warn(
                    f"{service.pending_notifications()} notification(s) still being sent; not waiting longer."
                )
    finally:
        token.close()
    if json_output:
        _say(lambda: common.print_json(record.to_json()))
    else:
        _say(lambda: typer.echo(_outcome_line(record, workspace), err=True))
    if record.status is RunStatus.SUCCEEDED:
        return
    interrupted = signal.SIGINT in received and record.status is RunStatus.CANCELLED
    raise typer.Exit(130 if interrupted else 1)


NOTIFY_WAIT = 15.0  # seconds `taskctl run` waits for its webhook deliveries before it exits


def _warn(message: str) -> None:
    _say(lambda: typer.echo(f"warning: {message}", err=True))


def _say(show: Callable[[], None]) -> None:
    """Print the outcome; a terminal that went away (SIGHUP) must not turn it into a traceback."""
    with contextlib.suppress(OSError):
        show()


def _stdout_echo() -> Callable[[bytes], None]:
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    broken: list[bool] = []

    def echo(block: bytes) -> None:
        if broken:
            return
        try:
            if out is not None:
                out.write(block)
                out.flush()
            else:
                sys.stdout.write(block.decode("utf-8", "replace"))
        except (OSError, ValueError):
            broken.append(True)  # a closed terminal or pipe must not stop the run

    return echo


def _outcome_line(record: RunRecord, workspace: Workspace) -> str:
    from taskctl.runs import RunStatus
    from taskctl.units import format_duration

    if record.status is RunStatus.SKIPPED:
        return f"run {record.id} {record.error}; use --force to run anyway."
    line = f"run {record.id} {record.status} in {format_duration(record.duration)}"
    failed = next((t for t in record.threads if t.name == record.failed_thread), None)
    if failed is not None:
        line += f": thread {failed.name} {failed.status} ({failed.outcome()})"
        if failed.error:
            line += f": {failed.error}"
    elif record.error:
        line += f": {record.error}"
    if record.status is not RunStatus.SUCCEEDED:
        line += f" (see taskctl logs {record.id})"
    return line + f"\nrun folder: {workspace.relative(record.folder)}/"


def _print_plan(config: LoadedConfig, definition: ResolvedProcess, json_output: bool) -> None:
    from taskctl.runner import plan_run

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
    name: str | None = typer.Argument(None, help="Only runs of this process."),
    status: list[str] = typer.Option([], "--status", help="Only runs with this status (repeatable)."),
    since: str | None = typer.Option(None, "--since", help="Only runs started within this long, e.g. 7d."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many runs (newest first)."),
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="Recreate the run index from the run folders first (a damaged one is moved aside).",
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """List the latest runs: id, process, trigger, status, started, duration, failed thread.

    Example:

        taskctl history
        taskctl history nightly --status failed --since 7d --json
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
    with open_service(workspace, read_only=True) as service:
        rows = service.history(name, statuses, moment, limit, known=_configured_names)
    if json_output:
        common.print_json([r.to_json() for r in rows])
        return
    common.print_table(
        [_history_row(r) for r in rows],
        ["ID", "PROCESS", "TRIGGER", "STATUS", "STARTED", "DURATION", "FAILED THREAD"],
        empty="no runs yet" if not (name or statuses or moment) else "no runs match",
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
        str(row.status) + (f" {row.progress}" if row.progress else ""),
        _local(row.started),
        format_duration(row.duration),
        row.failed_thread or "",
    ]


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
    if text is None:
        return None
    from datetime import timedelta

    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.errors import UsageError
    from taskctl.units import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError:
        raise UsageError(f"--since '{text}' is not a duration (use e.g. 12h, 7d, 2w).") from None
    return SYSTEM_CLOCK.now() - timedelta(seconds=seconds)


def show(
    run_id: str = typer.Argument(
        ..., metavar="RUN_ID", help="A run id, a unique prefix of one, or NAME@latest."
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Show one run: each thread's status, exit code or signal, duration, retries, and the files it left.

    Example:

        taskctl show nightly@latest
        taskctl show nightly/2026-11-22_02-30-00 --json
    """
    from taskctl.documents import run_document
    from taskctl.units import format_duration, format_size

    workspace = common.workspace()
    record = _load(workspace, run_id)
    document = run_document(record)
    files = document["files"]
    if json_output:
        common.print_json(document)
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
    """The run meant by `text`; a warning on stderr when its run.json could not be read."""
    from taskctl.runner import open_service

    with open_service(workspace, read_only=True) as service:
        loaded = service.load(text, latest_for_name)
    if loaded.problem:
        typer.echo(f"warning: {loaded.problem}; showing what the run index knows.", err=True)
    return loaded.record


# -- logs ------------------------------------------------------------------------------------------


def logs(
    target: str = typer.Argument(
        ..., metavar="RUN_ID|NAME", help="A run id (or prefix, NAME@latest) or a process."
    ),
    thread: str | None = typer.Option(None, "--thread", "-t", help="Only this thread's log."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the run ends."),
    tail: int | None = typer.Option(None, "--tail", "-n", min=0, help="Only the last N lines."),
) -> None:
    """Print a run's console log (all threads, time-stamped), or one thread's log.

    A process NAME means its newest run.

    Example:

        taskctl logs nightly@latest --thread amazon_reviews --tail 50
        taskctl logs nightly --follow
    """
    from taskctl.errors import not_found
    from taskctl.runner.logs import tail_lines
    from taskctl.runs import CONSOLE_LOG

    workspace = common.workspace()
    record = _load(workspace, target, latest_for_name=True)
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
    from taskctl.runner.logs import follow

    out = sys.stdout.buffer
    terminal = sys.stderr.isatty()
    shown = ""
    last: RunRecord | None = None
    for item in follow(path, folder, start):
        if isinstance(item, bytes):
            out.write(item)
            out.flush()
            continue
        last = item
        current = item.current
        if terminal and current is not None and current.progress is not None:
            bar = _bar(current.progress.percent)
            text = f"{current.name} {bar} {current.progress.text()}"
            if text != shown:
                sys.stderr.write(f"\r{text}\x1b[K")
                sys.stderr.flush()
                shown = text
    if terminal and shown:
        sys.stderr.write("\r\x1b[K")
    if last is not None and not last.status.finished:
        last = _load(common.workspace(), last.id)  # its runner died: now marked interrupted
    if last is not None:
        typer.echo(f"run {last.id} {last.status}" + (f": {last.error}" if last.error else ""), err=True)


def _bar(percent: float, width: int = 24) -> str:
    filled = int(width * percent / 100)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


# -- cancel ----------------------------------------------------------------------------------------


def cancel(
    run_id: str = typer.Argument(
        ..., metavar="RUN_ID", help="A run id, a unique prefix of one, or NAME@latest."
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Cancel a queued or running run: its threads get SIGTERM, then SIGKILL after the grace period.

    Works for runs started by another `taskctl run` (or the daemon). A run whose runner is gone is marked
    interrupted.

    Example:

        taskctl cancel nightly/2026-11-22_02-30-00
        taskctl cancel nightly@latest
    """
    from taskctl.runner import CancelOutcome, open_service

    with open_service(common.workspace()) as service:
        result = service.cancel(service.resolve(run_id))
    if json_output:
        common.print_json(result.to_json())
        return
    message = {
        CancelOutcome.CANCELLED: f"run {result.run_id} {result.status}",
        CancelOutcome.REQUESTED: f"asked the runner of {result.run_id} to stop; it is still stopping",
        CancelOutcome.INTERRUPTED: f"the runner of {result.run_id} was gone; marked the run interrupted",
    }[result.outcome]
    typer.echo(message)


# -- pack ------------------------------------------------------------------------------------------


def pack(
    targets: list[str] = typer.Argument(..., metavar="RUN_ID...|NAME", help="Run ids, or one process name."),
    latest: bool = typer.Option(False, "--latest", help="With NAME: its newest run."),
    since: str | None = typer.Option(None, "--since", help="With NAME: its runs started within this long."),
    output: str | None = typer.Option(None, "-o", "--output", help="The archive to write ('-' for stdout)."),
    format_name: str | None = typer.Option(None, "--format", help="zip (default) or tar.gz."),
    allow_running: bool = typer.Option(False, "--allow-running", help="Pack runs that are still running."),
) -> None:
    """Pack run folders (outputs, console.log, run.json) into one zip or tar.gz archive.

    Example:

        taskctl pack nightly@latest -o out.zip
        taskctl pack nightly --since 7d --format tar.gz -o week.tar.gz
    """
    from taskctl.archive import PackedRun, format_for, pack_runs
    from taskctl.errors import UsageError
    from taskctl.runner import open_service
    from taskctl.units import format_size

    workspace = common.workspace()
    with open_service(workspace, read_only=True) as service:
        run_ids = service.select(
            targets, latest, _since(since), since or "", allow_running, known=_configured_names
        )
    fmt = format_for(output or "", format_name)
    runs = [PackedRun(run_id=i, folder=workspace.run_folder(i)) for i in run_ids]
    if output == "-":
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
        report = pack_runs(runs, path, fmt)
        destination = str(path)
    for skipped in report.skipped:
        typer.echo(f"warning: skipped {skipped}", err=True)
    typer.echo(
        f"packed {len(run_ids)} run(s), {report.files} file(s), {format_size(report.bytes_in)} -> "
        f"{format_size(report.bytes_out)} into {destination}",
        err=True,
    )


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
