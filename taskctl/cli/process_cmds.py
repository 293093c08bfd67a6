"""`taskctl process ...`: the processes in config/, and scheduled threads (which run as processes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import common

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
def list_processes(json: bool = common.JSON_OPTION) -> None:
    """List the processes: their threads, schedules, zone and next run. Scheduled threads are included.

    Example:

        taskctl process list
    """
    from taskctl.clock import SYSTEM_CLOCK

    config = common.load()
    now = SYSTEM_CLOCK.now()
    records = [process_record(config, name, now, upcoming=1) for name in sorted(config.processes)]
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
            _local(r["next"][0]["local"]) if r["next"] and r["enabled"] else "-",
        ]
        for r in records
    ]
    common.print_table(
        rows, ["name", "threads", "schedules", "zone", "enabled", "next run"], empty="no processes"
    )


@process_app.command("show")
def show_process(
    name: str = typer.Argument(..., help="The process (or scheduled thread)."),
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
            typer.echo(f"  {_local(item['local'])}  ({item['at']}){note}")


def process_record(config: LoadedConfig, name: str, now: datetime, upcoming: int) -> dict[str, Any]:
    """A process as a JSON-ready mapping, with its next `upcoming` fire times."""
    from taskctl.upcoming import upcoming as list_upcoming

    process = config.processes[name]
    section = "threads" if name in config.implicit else "processes"
    data = process.model_dump(mode="json")
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


def _local(iso_text: str) -> str:
    from datetime import datetime

    return datetime.fromisoformat(iso_text).strftime("%a %Y-%m-%d %H:%M %Z").strip()
