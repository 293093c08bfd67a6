"""`taskctl thread ...`: the threads declared in config/."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import common

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig

thread_app = typer.Typer(
    help="Threads: the scripts, commands and inline code that processes run.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(thread_app, name="thread")


@thread_app.command("list")
def list_threads(json: bool = common.JSON_OPTION) -> None:
    """List the threads: type, what they run, schedules and tags.

    Example:

        taskctl thread list --json
    """
    config = common.load()
    records = [thread_record(config, name) for name in sorted(config.threads)]
    if json:
        common.print_json(records)
        return
    rows = [
        [
            r["name"],
            r["type"],
            r["runs"],
            len(r["schedule"]) or "",
            ", ".join(r["tags"]),
            r["description"] or "",
        ]
        for r in records
    ]
    common.print_table(rows, ["name", "type", "runs", "schedules", "tags", "description"], empty="no threads")


@thread_app.command("show")
def show_thread(name: str = typer.Argument(..., help="The thread."), json: bool = common.JSON_OPTION) -> None:
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


def thread_record(config: LoadedConfig, name: str) -> dict[str, Any]:
    """A thread as a JSON-ready mapping (durations in seconds)."""
    thread = config.threads[name]
    data = thread.model_dump(mode="json")
    runs = {
        "script": f"threads/{name}/{thread.script_name}",
        "command": thread.command if isinstance(thread.command, str) else " ".join(thread.command or []),
        "code": "inline code",
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
