"""Workspace-level commands: init, validate, schema, upcoming."""

from __future__ import annotations

from pathlib import Path

import typer

from taskctl.cli import common, complete


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("init")(init)
    app.command("validate")(validate)
    app.command("schema")(schema)
    app.command("upcoming")(upcoming)


def init(directory: Path = typer.Argument(Path("."), help="Where to create the workspace.")) -> None:
    """Create a workspace with a working example: a process whose scraping thread reads its input from the
    SKU table (seeded with three products) and writes the ratings it finds back into it.

    DIR may be new or an existing folder without config/ and threads/ (a git checkout, say); its .gitignore
    gets taskctl's entries (run folders, skus.db, .taskctl/) added.

    Example:

        taskctl init demo && cd demo && taskctl validate
    """
    import shlex

    from taskctl.workspace import create_workspace

    ws = create_workspace(directory)
    typer.echo(f"created a taskctl workspace in {ws.root}")
    typer.echo("  config/    processes.yaml, threads.yaml, taskctl.yaml")
    typer.echo("  threads/   seed_skus, product_pages (scraping), summary")
    typer.echo("  skus.db    the SKU table, seeded with the example's products (taskctl sku list)")
    typer.echo("  .gitignore ignores the run folders, skus.db and .taskctl/")
    where = "" if ws.root == Path.cwd().resolve() else f"cd {shlex.quote(str(directory))} && "
    typer.echo(f"next: {where}taskctl validate && taskctl upcoming && taskctl run example")


def validate(json: bool = common.JSON_OPTION) -> None:
    """Check every YAML file under config/ and report all problems with file, line and key path.

    Exits 0 when the config is valid (warnings, such as one-shot dates in the past, are printed to stderr)
    and 1 when it is not.

    Example:

        taskctl validate --json
    """
    from taskctl.errors import ConfigError

    try:
        config = common.load()
    except ConfigError as exc:
        if json:
            common.print_json({"ok": False, "errors": [p.as_dict() for p in exc.problems], "warnings": []})
            raise typer.Exit(1) from None
        raise
    schedules = sum(len(s) for s in config.schedules.values())
    explicit = len(config.processes) - len(config.implicit)
    if json:
        common.print_json(
            {
                "ok": True,
                "threads": len(config.threads),
                "processes": explicit,
                "scheduled_threads": len(config.implicit),
                "schedules": schedules,
                "revision": config.revision,
                "files": config.files,
                "errors": [],
                "warnings": [w.as_dict() for w in config.warnings],
            }
        )
        return
    for warning in config.warnings:
        typer.echo(f"warning: {warning.render()}", err=True)
    extra = (
        f" ({len(config.implicit)} scheduled {_plural(len(config.implicit), 'thread')})"
        if config.implicit
        else ""
    )
    typer.echo(
        f"config OK: {len(config.threads)} {_plural(len(config.threads), 'thread')}, "
        f"{explicit} {_plural(explicit, 'process', 'processes')}{extra}, "
        f"{schedules} {_plural(schedules, 'schedule')}"
    )


def schema() -> None:
    """Print the JSON Schema of config files, for editors (yaml-language-server).

    Example:

        taskctl schema > taskctl.schema.json
        # then, first line of a config file:
        # yaml-language-server: $schema=../taskctl.schema.json
    """
    from taskctl.config.models import SCHEMA_FILE

    typer.echo(SCHEMA_FILE.read_text(encoding="utf-8"), nl=False)


def upcoming(
    name: list[str] | None = typer.Argument(
        None, help="Processes to list (default: all).", autocompletion=complete.processes
    ),
    count: int | None = typer.Option(None, "--count", "-n", min=1, help="How many fire times (default 10)."),
    until: str | None = typer.Option(None, "--until", help="List fire times up to this far ahead, e.g. 7d."),
    tags: list[str] | None = common.TAG_FILTER_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """List the next fire times of processes, in local time and UTC, with DST shifts marked.

    A slot moved past a skipped hour is marked 'shifted'; a slot in a repeated hour that runs only once is
    marked 'deduplicated'; a stepped slot that runs again in the repeated hour is marked 'repeated'.

    Example:

        taskctl upcoming --count 10
        taskctl upcoming nightly --until 30d --json
        taskctl upcoming --tag nightly
    """
    from datetime import timedelta

    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.errors import UsageError
    from taskctl.units import parse_duration
    from taskctl.upcoming import UpcomingPage, upcoming_page

    horizon = None
    if until is not None:
        try:
            horizon = timedelta(seconds=parse_duration(until))
        except ValueError as exc:
            raise UsageError(f"--until: {exc}") from None
    if count is None:
        count = 1000 if horizon is not None else 10
    config = common.load()
    names = name or []
    chosen = common.tag_filter(config, tags)
    tagged = [n for n in names or chosen.processes(config) if chosen.matches(config.process(n).tags)]
    page = (
        upcoming_page(
            config, SYSTEM_CLOCK.now(), names=tagged, count=count, until=horizon, include_disabled=bool(names)
        )
        if tagged
        else UpcomingPage([], truncated=False)
    )
    items = page.items
    disabled = sorted(
        n for n in chosen.processes(config) if not config.processes[n].enabled and n not in names
    )
    if page.truncated:
        typer.echo(
            f"note: showing the first {count} fire times; more fall within {until} "
            f"(raise --count, or shorten --until)",
            err=True,
        )
    if json:
        common.print_json(
            {
                "upcoming": [
                    {
                        "process": item.process,
                        "at": common.iso(item.at),
                        "local": common.iso(item.local),
                        "timezone": item.zone.key,
                        "schedules": list(item.schedules),
                        "dst": item.note.value if item.note else None,
                        "enabled": item.enabled,
                    }
                    for item in items
                ],
                "disabled": disabled,
                "truncated": page.truncated,
            }
        )
        return
    rows = [
        [
            item.process + ("" if item.enabled else " (disabled)"),
            item.local.strftime("%a %Y-%m-%d %H:%M:%S %Z"),
            item.at.strftime("%Y-%m-%d %H:%M:%SZ"),
            ", ".join(item.schedules),
            item.note.value if item.note else "",
        ]
        for item in items
    ]
    common.print_table(rows, ["process", "local time", "utc", "schedule", "dst"], empty="no upcoming runs")
    if disabled:
        typer.echo(f"disabled (not scheduled): {', '.join(disabled)}")


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return word if n == 1 else (plural or word + "s")
