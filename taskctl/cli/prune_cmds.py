"""`taskctl prune`: apply the retention settings now."""

from __future__ import annotations

from pathlib import Path

import typer

from taskctl.cli import common, complete


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("prune")(prune)


def prune(
    names: list[str] | None = typer.Argument(
        None,
        metavar="[NAME...]",
        help="Only these processes (default: all).",
        autocompletion=complete.processes,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
    archive: Path | None = typer.Option(
        None, "--archive", metavar="DIR", help="Pack the removed runs into archives in DIR before removing."
    ),
    format_name: str = typer.Option(
        "zip", "--format", help="The archive format with --archive: zip or tar.gz."
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Remove the finished runs that the retention settings no longer keep (folders and history).

    `retention: {keep_runs, max_age, max_total_size}` in config/taskctl.yaml applies to each process; a
    process's own `retention:` overrides it key by key. Running runs and the newest finished run of each
    process are always kept. Exits 1 if some run could not be removed.

    Example:

        taskctl prune --dry-run
        taskctl prune nightly --archive /srv/archive
    """
    from zoneinfo import ZoneInfo

    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.retention import prune as apply_retention
    from taskctl.store import open_index
    from taskctl.units import format_size

    config = common.load()
    for name in names or []:
        config.process(name)
    fmt = None
    if archive is not None or format_name != "zip":  # the archive module is imported only when it is needed
        from taskctl.archive import format_for

        fmt = format_for("", format_name)
    workspace = config.workspace
    with open_index(workspace) as store:
        report = apply_retention(
            config, store, SYSTEM_CLOCK.now(), names or None, dry_run, archive, archive_format=fmt
        )
    for problem in report.problems:
        typer.echo(f"error: {problem}", err=True)
    if json_output:
        common.print_json(report.to_json())
    else:
        zone = ZoneInfo(config.zone_name)
        rows = [
            [r.id, f"{r.started.astimezone(zone):%Y-%m-%d %H:%M:%S}", r.status, format_size(r.size), r.reason]
            for r in report.removed
        ]
        if rows:
            common.print_table(rows, ["run", "started", "status", "size", "reason"])
        verb = "would remove" if dry_run else "removed"
        summary = f"{verb} {len(report.removed)} run(s), {format_size(report.size)}"
        if report.archives:
            summary += f"; archived in {', '.join(str(a) for a in report.archives)}"
        typer.echo(summary)
    if report.problems:
        raise typer.Exit(1)
