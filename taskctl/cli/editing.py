"""What `thread add|edit|rm` and `process add|edit|rm` share: planning a config change, then printing its
diff (`--dry-run`), applying it, or reporting why the config would not be valid after it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from taskctl.cli import common

if TYPE_CHECKING:
    from taskctl.config.edits import ConfigChange, EntryEdit, Section
    from taskctl.workspace import Workspace

Planner = Callable[["Workspace", datetime], "ConfigChange"]
# More work once the config is changed (given whether it is a dry run): a line to print, and JSON fields.
Then = Callable[[bool], tuple[str, dict[str, Any]]]

DRY_RUN_OPTION = typer.Option(
    False, "--dry-run", help="Print the diff of the YAML it would write; change nothing."
)
FILE_OPTION = typer.Option(
    None,
    "--file",
    help="The file under config/ to declare it in (default: config/threads.yaml or processes.yaml).",
)
SET_OPTION = typer.Option(None, "--set", help="KEY=VALUE, e.g. timeout=45m or retries.count=3 (repeatable).")
UNSET_OPTION = typer.Option(None, "--unset", help="Remove KEY from the entry (repeatable).")
ENABLE_OPTION = typer.Option(None, "--enable/--disable", help="Schedule it again, or stop scheduling it.")
DISABLE_OPTION = typer.Option(False, "--disable", help="Declare it with enabled: false (not scheduled).")
TAG_OPTION = typer.Option(None, "--tag", help="A tag (repeatable).")
DESCRIPTION_OPTION = typer.Option(None, "--description", help="One line about what it does.")
TIMEZONE_OPTION = typer.Option(None, "--timezone", help="The IANA zone of its schedules, e.g. Europe/Berlin.")
ADD_TAG_OPTION = typer.Option(None, "--add-tag", help="Add a tag (repeatable).")
REMOVE_TAG_OPTION = typer.Option(None, "--remove-tag", help="Remove a tag (repeatable).")
ADD_SCHEDULE_OPTION = typer.Option(None, "--add-schedule", help="Add a schedule (repeatable).")
REMOVE_SCHEDULE_OPTION = typer.Option(None, "--remove-schedule", help="Remove a schedule (repeatable).")


def list_changes(**items: list[str] | None) -> tuple[tuple[str, str], ...]:
    """`tags=["a"], schedule=["hourly"]` as the (key, item) pairs of an EntryEdit."""
    return tuple((key, item) for key, values in items.items() for item in values or [])


def run_change(plan: Planner, dry_run: bool, json: bool, then: Then | None = None) -> ConfigChange:
    """Plan the change; print its diff when `dry_run`, else apply it (then `then`); report it."""
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.config.edits import EditRefused, apply_change

    workspace = common.workspace()
    try:
        change = plan(workspace, SYSTEM_CLOCK.now())
    except EditRefused as refused:
        refuse(refused, json)
    if not dry_run:
        apply_change(change)
    line, extra = then(dry_run) if then is not None else ("", {})
    report(workspace, change, dry_run, json, extra)
    if line and not json:
        typer.echo(line)
    return change


def run_editor(section: Section, name: str, dry_run: bool, json: bool) -> None:
    """Edit the entry in $EDITOR until it is valid (see taskctl.config.editor), then report the change."""
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.config.editor import edit_in_editor

    workspace = common.workspace()
    change = edit_in_editor(workspace, section, name, apply=not dry_run, now=SYSTEM_CLOCK.now())
    report(workspace, change, dry_run, json)


def run_edit(section: Section, name: str, changes: EntryEdit, dry_run: bool, json: bool) -> None:
    """`edit NAME`: the changes given as options, or $EDITOR when there are none."""
    from taskctl.config.edits import plan_edit

    if changes.empty:
        run_editor(section, name, dry_run, json)
    else:
        run_change(lambda ws, now: plan_edit(ws, section, name, changes, now), dry_run, json)


def refuse(refused: Exception, json: bool) -> NoReturn:
    """Print why the change was refused (every problem) and exit 1."""
    from taskctl.documents import refused_document

    problems = getattr(refused, "problems", [])
    if json:
        common.print_json(refused_document(problems))
    else:
        typer.echo("error: nothing was written; the config would not be valid after this change:", err=True)
        for problem in problems:
            typer.echo(f"error: {problem.render()}", err=True)
    raise typer.Exit(1)


def report(
    workspace: Workspace, change: ConfigChange, dry_run: bool, json: bool, extra: dict[str, Any] | None = None
) -> None:
    """The change as JSON, as its diff (dry run), or as one line per thing done."""
    if json:
        from taskctl.documents import change_document

        common.print_json({**change_document(change, dry_run), **(extra or {})})
        return
    for warning in change.warnings:
        typer.echo(f"warning: {warning.render()}", err=True)
    if dry_run:
        typer.echo(change.diff(), nl=False)
        for copy in change.copies:
            typer.echo(f"would copy {copy.source} -> {copy.display}")
        if change.remove_folder is not None:
            typer.echo(f"would remove threads/{change.name}/")
        if not change.changed:
            typer.echo(f"no changes: {change.section.kind} '{change.name}' already reads like that")
        return
    if not change.changed:
        typer.echo(f"{change.section.kind} '{change.name}' is unchanged")
        return
    where = {"add": "to", "edit": "in", "remove": "from"}[change.action.value]
    done = {"add": "added", "edit": "changed", "remove": "removed"}[change.action.value]
    typer.echo(f"{done} {change.section.kind} '{change.name}' {where} {change.file}")
    for copy in change.copies:
        typer.echo(f"copied {copy.source} -> {copy.display}")
    if change.remove_folder is not None:
        typer.echo(f"removed threads/{change.name}/")
    for note in change.notes:
        typer.echo(note)
