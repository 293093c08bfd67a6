"""`taskctl process ...`: the processes in config/, and scheduled threads (which run as processes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import common, complete, editing

if TYPE_CHECKING:
    from datetime import datetime

    from taskctl.config import LoadedConfig

process_app = typer.Typer(
    help="Processes: chains of threads run in series on schedules.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(process_app, name="process")


@process_app.command("list")
def list_processes(
    tags: list[str] | None = common.TAG_FILTER_OPTION, json: bool = common.JSON_OPTION
) -> None:
    """List the processes: their threads, schedules, zone and next run. Scheduled threads are included.

    Example:

        taskctl process list
        taskctl process list --tag nightly --json
    """
    from taskctl.clock import SYSTEM_CLOCK

    config = common.load()
    now = SYSTEM_CLOCK.now()
    names = common.tag_filter(config, tags).processes(config)
    records = [process_record(config, name, now, upcoming=1) for name in names]
    if json:
        common.print_json(records)
        return
    rows = [
        [
            r["name"] + (" (thread)" if r["from_thread"] else ""),
            " -> ".join(r["threads"]),
            len(r["schedule"]),
            r["timezone"],
            "yes" if r["enabled"] else "no",
            _local(r["next"][0]["at"], r["timezone"]) if r["next"] and r["enabled"] else "-",
        ]
        for r in records
    ]
    common.print_table(
        rows, ["name", "threads", "schedules", "zone", "enabled", "next run"], empty="no processes"
    )


@process_app.command("show")
def show_process(
    name: str = typer.Argument(
        ..., help="The process (or scheduled thread).", autocompletion=complete.processes
    ),
    count: int = typer.Option(5, "--count", "-n", min=0, help="How many next fire times to show."),
    json: bool = common.JSON_OPTION,
) -> None:
    """Show one process: its threads, every setting with defaults filled in, and its next fire times.

    Example:

        taskctl process show example --count 3
    """
    from taskctl.clock import SYSTEM_CLOCK

    config = common.load()
    config.process(name)
    record = process_record(config, name, SYSTEM_CLOCK.now(), upcoming=count)
    if json:
        common.print_json(record)
        return
    shown = {k: v for k, v in record.items() if k != "next"}
    common.print_fields(shown)
    if record["next"]:
        typer.echo("next:")
        for item in record["next"]:
            note = f"  [{item['dst']}]" if item["dst"] else ""
            typer.echo(f"  {_local(item['at'], record['timezone'])}  ({item['at']}){note}")


def process_record(config: LoadedConfig, name: str, now: datetime, upcoming: int) -> dict[str, Any]:
    """A process as a JSON-ready mapping, with its next `upcoming` fire times."""
    from taskctl.config.models import to_json
    from taskctl.upcoming import upcoming as list_upcoming

    process = config.processes[name]
    section = "threads" if name in config.implicit else "processes"
    data = to_json(process)
    items = (
        list_upcoming(config, now, names=[name], count=upcoming, include_disabled=True) if upcoming else []
    )
    return {
        "name": name,
        "from_thread": name in config.implicit,
        "declared_in": str(config.origins[(section, name)]),
        **data,
        "schedule": [s.text for s in config.schedules[name]],
        "timezone": config.zone_of(name).key,
        "next": [
            {"at": common.iso(i.at), "local": common.iso(i.local), "dst": i.note.value if i.note else None}
            for i in items
        ],
    }


def _local(iso_text: str, zone: str) -> str:
    """An instant as local wall-clock time with the zone's abbreviation, e.g. `Mon 2026-11-23 09:00 CET`."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(iso_text).astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")


@process_app.command("add")
def add_process(
    name: str = typer.Argument(..., help="The new process's name (also its folder name under process/)."),
    threads: list[str] = typer.Option(
        ..., "--thread", help="A thread of the chain, in order (repeatable).", autocompletion=complete.threads
    ),
    schedules: list[str] | None = typer.Option(None, "--schedule", help="When it runs (repeatable)."),
    timezone: str | None = editing.TIMEZONE_OPTION,
    on_failure: str | None = typer.Option(None, "--on-failure", help="stop or continue."),
    overlap: str | None = typer.Option(None, "--overlap", help="skip, queue, allow or replace."),
    max_instances: int | None = typer.Option(None, "--max-instances", min=1, help="With --overlap allow."),
    catch_up: str | None = typer.Option(None, "--catch-up", help="none, latest or all."),
    misfire_grace: str | None = typer.Option(None, "--misfire-grace", help="e.g. 1h."),
    timeout: str | None = typer.Option(None, "--timeout", help="For the whole chain, e.g. 4h."),
    notify: list[str] | None = typer.Option(None, "--notify", help="A notify target (repeatable)."),
    tags: list[str] | None = editing.TAG_OPTION,
    description: str | None = editing.DESCRIPTION_OPTION,
    disable: bool = editing.DISABLE_OPTION,
    file: str | None = editing.FILE_OPTION,
    dry_run: bool = editing.DRY_RUN_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """Declare a new process in config/processes.yaml: a chain of threads and its schedules.

    The rest of the YAML file stays as it is, byte for byte; the whole config is checked before anything is
    written, and the file is written atomically.

    Example:

        taskctl process add nightly --thread amazon_reviews --thread cleanup \\
            --schedule "30 2 * * *" --schedule "2026-12-24 18:00" --timezone Europe/Berlin
    """
    from taskctl.config import edits
    from taskctl.config.edits import Section

    fields = {
        "threads": threads,
        "schedule": schedules,
        "timezone": timezone,
        "on_failure": on_failure,
        "overlap": overlap,
        "max_instances": max_instances,
        "catch_up": catch_up,
        "misfire_grace": misfire_grace,
        "timeout": timeout,
        "enabled": False if disable else None,
        "notify": notify,
        "tags": tags,
        "description": description,
    }
    new = edits.NewEntry(Section.PROCESSES, name, fields, file=file)
    editing.run_change(lambda ws, now: edits.plan_add(ws, new, now), dry_run, json)


@process_app.command("edit")
def edit_process(
    name: str = typer.Argument(..., help="The process.", autocompletion=complete.processes),
    threads: str | None = typer.Option(None, "--threads", help="The whole chain, in order: a,b,c."),
    add_threads: list[str] | None = typer.Option(None, "--add-thread", help="Append a thread to the chain."),
    remove_threads: list[str] | None = typer.Option(None, "--remove-thread", help="Take a thread out."),
    add_schedules: list[str] | None = editing.ADD_SCHEDULE_OPTION,
    remove_schedules: list[str] | None = editing.REMOVE_SCHEDULE_OPTION,
    add_tags: list[str] | None = editing.ADD_TAG_OPTION,
    remove_tags: list[str] | None = editing.REMOVE_TAG_OPTION,
    assignments: list[str] | None = editing.SET_OPTION,
    unset: list[str] | None = editing.UNSET_OPTION,
    enabled: bool | None = editing.ENABLE_OPTION,
    dry_run: bool = editing.DRY_RUN_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """Change a process where it is declared; without options, open it in $EDITOR (like crontab -e).

    Only the process's own text changes. In $EDITOR, an invalid result is reopened with the problem as a
    comment at the top; saving it unchanged or empty gives up (exit 1).

    Example:

        taskctl process edit nightly --add-schedule "monday at 09:00" --remove-schedule "30 2 * * *" --disable
        taskctl process edit nightly --threads amazon_reviews,backup
    """
    from taskctl.config import edits
    from taskctl.config.edits import EntryEdit, Section

    assigned = [edits.parse_assignment(Section.PROCESSES, a) for a in assignments or []]
    if threads is not None:
        assigned.append(("threads", [t.strip() for t in threads.split(",") if t.strip()]))
    changes = EntryEdit(
        unset=tuple(unset or []),
        set=tuple(assigned),
        add_items=editing.list_changes(threads=add_threads, schedule=add_schedules, tags=add_tags),
        remove_items=editing.list_changes(
            threads=remove_threads, schedule=remove_schedules, tags=remove_tags
        ),
        enabled=enabled,
    )
    editing.run_edit(Section.PROCESSES, name, changes, dry_run, json)


@process_app.command("rm")
def remove_process(
    name: str = typer.Argument(..., help="The process.", autocompletion=complete.processes),
    purge_runs: bool = typer.Option(False, "--purge-runs", help="Also delete its run folders process/NAME/."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before deleting run folders."),
    dry_run: bool = editing.DRY_RUN_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """Remove a process from the config. Its run folders are kept unless --purge-runs (asks unless --yes).

    Example:

        taskctl process rm nightly
        taskctl process rm nightly --purge-runs --yes
    """
    from taskctl.config.edits import Section, plan_remove

    if purge_runs and not dry_run:
        _confirm_purge(name, yes)
    editing.run_change(
        lambda ws, now: plan_remove(ws, Section.PROCESSES, name, now=now),
        dry_run,
        json,
        then=(lambda dry: _purge_runs(name, dry)) if purge_runs else None,
    )


def _confirm_purge(name: str, yes: bool) -> None:
    """Ask before run folders are deleted (a usage error without a terminal and without --yes)."""
    import sys

    from taskctl.errors import TaskctlError, UsageError
    from taskctl.store import open_index

    workspace = common.workspace()
    with open_index(workspace) as store:
        active = store.active(name)
    if active:
        raise TaskctlError(f"run {active[0].id} is still running; cancel it before --purge-runs deletes it")
    folders = [p for p in workspace.runs_dir(name).glob("*") if p.is_dir()]
    if yes or not folders:
        return
    what = f"{len(folders)} run folder{'' if len(folders) == 1 else 's'} of process/{name}/"
    if not sys.stdin.isatty():
        raise UsageError(f"--purge-runs deletes {what}; add --yes when there is no terminal to ask on")
    if not typer.confirm(f"delete {what}?"):
        raise typer.Exit(1)


def _purge_runs(name: str, dry_run: bool) -> tuple[str, dict[str, Any]]:
    """Delete process/NAME/ and its runs' index rows; refused while one of them runs."""
    import shutil

    from taskctl.errors import TaskctlError
    from taskctl.store import open_index

    workspace = common.workspace()
    folder = workspace.runs_dir(name)
    count = sum(1 for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else 0
    runs = "run folder" if count == 1 else "run folders"
    if dry_run:
        return f"would delete {count} {runs} in process/{name}/", {"runs_removed": count}
    with open_index(workspace) as store:
        active = store.active(name)
        if active:
            raise TaskctlError(
                f"the process was removed from the config, but its run {active[0].id} is still running, so "
                f"its run folders were kept; cancel it, then delete process/{name}/ by hand"
            )
        if folder.is_symlink():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder)
        store.delete_runs([row.id for row in store.runs(name, limit=None)])
    return f"deleted {count} {runs} in process/{name}/", {"runs_removed": count}
