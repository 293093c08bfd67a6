"""`taskctl thread ...`: the threads declared in config/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import common, complete, editing, run_cmds

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.config.threadfiles import ThreadFile

thread_app = typer.Typer(
    help="Threads: the scripts, commands and inline code that processes run.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(thread_app, name="thread")


@thread_app.command("list")
def list_threads(tags: list[str] | None = common.TAG_FILTER_OPTION, json: bool = common.JSON_OPTION) -> None:
    """List the threads: type, what they run, schedules, whether they are enabled, and tags.

    Example:

        taskctl thread list --json
        taskctl thread list --tag amazon
    """
    config = common.load()
    records = [thread_record(config, name) for name in common.tag_filter(config, tags).threads(config)]
    if json:
        common.print_json(records)
        return
    rows = [
        [
            r["name"],
            r["type"],
            r["runs"],
            len(r["schedule"]) or "",
            "yes" if r["enabled"] else "no",
            ", ".join(r["tags"]),
            r["description"] or "",
        ]
        for r in records
    ]
    headers = ["name", "type", "runs", "schedules", "enabled", "tags", "description"]
    common.print_table(rows, headers, empty="no threads")


@thread_app.command("show")
def show_thread(
    name: str = typer.Argument(..., help="The thread.", autocompletion=complete.threads),
    json: bool = common.JSON_OPTION,
) -> None:
    """Show one thread: where it is declared and every setting, with defaults filled in.

    Example:

        taskctl thread show product_pages
    """
    config = common.load()
    config.thread(name)
    record = thread_record(config, name)
    if json:
        common.print_json(record)
        return
    common.print_fields(record)


@thread_app.command("run")
def run_thread(
    name: str = typer.Argument(..., help="The thread to run alone.", autocompletion=complete.threads),
    follow: bool = run_cmds.FOLLOW_OPTION,
    dry_run: bool = run_cmds.RUN_DRY_RUN_OPTION,
    force: bool = run_cmds.FORCE_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """Run one thread alone now, as a one-thread process of its own name (its runs are in process/NAME/).

    Example:

        taskctl thread run amazon_reviews
    """
    config = common.load()
    config.thread(name)
    run_cmds.run_now(config, name, follow, dry_run, force, json)


def thread_record(config: LoadedConfig, name: str) -> dict[str, Any]:
    """A thread as a JSON-ready mapping (durations in seconds)."""
    from taskctl.config.models import to_json

    thread = config.threads[name]
    data = to_json(thread)
    runs = {
        "script": f"threads/{name}/{thread.script_name}",
        "command": thread.command if isinstance(thread.command, str) else " ".join(thread.command or []),
        "code": "inline code",
        "func": f"{thread.func}()",
        "test": f"pytest threads/{name}/{thread.test}",
    }[thread.kind]
    return {
        "name": name,
        "declared_in": str(config.origins[("threads", name)]),
        "kind": thread.kind,
        "runs": runs,
        **data,
        "script": thread.script_name if thread.kind == "script" else None,
        "timeout": config.thread_timeout(name),
        "schedule": [s.text for s in config.schedules.get(name, [])]
        if name in config.implicit
        else data["schedule"],
    }


@thread_app.command("add")
def add_thread(
    name: str = typer.Argument(..., help="The new thread's name (also its folder name under threads/)."),
    type_: str | None = typer.Option(None, "--type", help="scraping or others (the default)."),
    script: Path | None = typer.Option(None, "--script", help="A script to copy into threads/NAME/."),
    script_as: str | None = typer.Option(None, "--as", help="The script's file name in threads/NAME/."),
    input_csv: Path | None = typer.Option(None, "--input", help="The input CSV to copy (scraping threads)."),
    input_as: str | None = typer.Option(None, "--input-as", help="The CSV's file name in threads/NAME/."),
    command: str | None = typer.Option(None, "--command", help="Run this command instead of a script."),
    code: str | None = typer.Option(None, "--code", help="Run this inline Python instead of a script."),
    func: str | None = typer.Option(
        None, "--func", help="Call this 'module:callable' (a module in threads/NAME/) instead of a script."
    ),
    test: str | None = typer.Option(None, "--test", help="Run pytest on this path inside threads/NAME/."),
    args: list[str] | None = typer.Option(None, "--arg", help="An argument for the script (repeatable)."),
    env: list[str] | None = typer.Option(None, "--env", help="KEY=VALUE for its environment (repeatable)."),
    timeout: str | None = typer.Option(None, "--timeout", help="e.g. 30m; default: the workspace default."),
    retries: int | None = typer.Option(None, "--retries", min=0, help="Attempts after a failure."),
    requirements: list[str] | None = typer.Option(
        None, "--requirement", help="A pip requirement (repeatable)."
    ),
    tags: list[str] | None = editing.TAG_OPTION,
    description: str | None = editing.DESCRIPTION_OPTION,
    schedules: list[str] | None = typer.Option(None, "--schedule", help="Run it alone on this schedule."),
    timezone: str | None = editing.TIMEZONE_OPTION,
    disable: bool = editing.DISABLE_OPTION,
    file: str | None = editing.FILE_OPTION,
    dry_run: bool = editing.DRY_RUN_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """Declare a new thread in config/threads.yaml; its script and input CSV are copied into threads/NAME/.

    The rest of the YAML file stays as it is, byte for byte; the whole config is checked before anything is
    written, and the file is written atomically.

    Example:

        taskctl thread add amazon_reviews --type scraping --script ~/scripts/scrape.py \\
            --input ~/scripts/links.csv --tag amazon --timeout 30m
        taskctl thread add backup --command "tar -czf backup.tgz data"
        taskctl thread add health --func monitoring.checks:check_api --timeout 1m
    """
    from taskctl.config import edits
    from taskctl.config.edits import Section

    fields = {
        "type": type_,
        "command": command,
        "code": code,
        "func": func,
        "test": test,
        "args": args,
        "env": edits.parse_env(env or []),
        "timeout": timeout,
        "retries": retries,
        "requirements": requirements,
        "tags": tags,
        "description": description,
        "schedule": schedules,
        "timezone": timezone,
        "enabled": False if disable else None,
    }
    files = _thread_files(script, script_as, input_csv, input_as)
    new = edits.NewEntry(Section.THREADS, name, fields, files, file)
    editing.run_change(lambda ws, now: edits.plan_add(ws, new, now), dry_run, json)


@thread_app.command("edit")
def edit_thread(
    name: str = typer.Argument(..., help="The thread.", autocompletion=complete.threads),
    script: Path | None = typer.Option(None, "--script", help="Replace its script with this file."),
    script_as: str | None = typer.Option(None, "--as", help="The new script's file name in threads/NAME/."),
    input_csv: Path | None = typer.Option(None, "--input", help="Replace its input CSV with this file."),
    input_as: str | None = typer.Option(None, "--input-as", help="The new CSV's file name in threads/NAME/."),
    assignments: list[str] | None = editing.SET_OPTION,
    unset: list[str] | None = editing.UNSET_OPTION,
    add_tags: list[str] | None = editing.ADD_TAG_OPTION,
    remove_tags: list[str] | None = editing.REMOVE_TAG_OPTION,
    add_schedules: list[str] | None = editing.ADD_SCHEDULE_OPTION,
    remove_schedules: list[str] | None = editing.REMOVE_SCHEDULE_OPTION,
    enabled: bool | None = editing.ENABLE_OPTION,
    dry_run: bool = editing.DRY_RUN_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """Change a thread where it is declared; without options, open it in $EDITOR (like crontab -e).

    Only the thread's own text changes. In $EDITOR, an invalid result is reopened with the problem as a
    comment at the top; saving it unchanged or empty gives up (exit 1).

    Example:

        taskctl thread edit amazon_reviews --input new_links.csv --set timeout=45m --add-tag daily
        taskctl thread edit amazon_reviews
    """
    from taskctl.config import edits
    from taskctl.config.edits import EntryEdit, Section

    changes = EntryEdit(
        unset=tuple(unset or []),
        set=tuple(edits.parse_assignment(Section.THREADS, a) for a in assignments or []),
        add_items=editing.list_changes(tags=add_tags, schedule=add_schedules),
        remove_items=editing.list_changes(tags=remove_tags, schedule=remove_schedules),
        enabled=enabled,
        files=_thread_files(script, script_as, input_csv, input_as),
    )
    editing.run_edit(Section.THREADS, name, changes, dry_run, json)


@thread_app.command("rm")
def remove_thread(
    name: str = typer.Argument(..., help="The thread.", autocompletion=complete.threads),
    force: bool = typer.Option(False, "--force", help="Also take it out of the processes that run it."),
    keep_files: bool = typer.Option(False, "--keep-files", help="Keep its folder threads/NAME/."),
    dry_run: bool = editing.DRY_RUN_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """Remove a thread from the config, and its folder threads/NAME/ unless --keep-files.

    Refused while a process runs it, unless --force (which takes it out of those processes). Its past runs
    are kept.

    Example:

        taskctl thread rm cleanup
        taskctl thread rm cleanup --force --keep-files
    """
    from taskctl.config.edits import Section, plan_remove

    editing.run_change(
        lambda ws, now: plan_remove(ws, Section.THREADS, name, force=force, keep_files=keep_files, now=now),
        dry_run,
        json,
    )


def _thread_files(
    script: Path | None, script_as: str | None, input_csv: Path | None, input_as: str | None
) -> tuple[ThreadFile, ...]:
    """The files `--script`/`--as` and `--input`/`--input-as` ask to copy into the thread's folder."""
    from taskctl.config.threadfiles import ThreadFile, ThreadFileRole

    files = [ThreadFile(ThreadFileRole.SCRIPT, script.expanduser(), script_as)] if script else []
    if input_csv:
        files.append(ThreadFile(ThreadFileRole.INPUT, input_csv.expanduser(), input_as))
    return tuple(files)
