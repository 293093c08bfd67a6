"""`taskctl sku ...`: the SKU table in skus.db (import, add, list, show, edit, rm, export, stats)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import common

if TYPE_CHECKING:
    from taskctl.skus import Sku, SkuTable
    from taskctl.skus.csvio import Progress

sku_app = typer.Typer(
    help="The SKU table (skus.db): import, add, list, show, edit, rm, export, stats.",
    no_args_is_help=True,
)

FORMAT_OPTION = typer.Option(None, "--format", help="table (default), csv or json.")
_TABLE_LIMIT = 100


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(sku_app, name="sku")


def _open(create: bool = True) -> SkuTable:
    """The workspace's SKU table; create=False for commands that only read (no skus.db: an empty table)."""
    from taskctl.skus import SkuTable

    return SkuTable.open(common.workspace().sku_db, create=create)


def _output_format(format: str | None, json: bool) -> str:
    from taskctl.errors import UsageError

    chosen = (format or ("json" if json else "table")).lower()
    if json and chosen != "json":
        raise UsageError(f"--json and --format {format} disagree; pass one of them.")
    if chosen not in ("table", "csv", "json"):
        raise UsageError(f"--format '{format}' is not a format (choose table, csv or json).")
    return chosen


def _optional(text: str | None) -> Any:
    """An option left out keeps the field (KEEP); an empty string clears it."""
    from taskctl.skus import KEEP

    return KEEP if text is None else text


@contextmanager
def _work_bar(label: str, wanted: bool) -> Iterator[Progress | None]:
    """A progress bar for a long import or export, if wanted and on a terminal (see WorkBar.here)."""
    from taskctl.cli.progress import WorkBar

    shown = WorkBar.here(label, wanted)
    try:
        yield shown
    finally:
        if shown is not None:
            shown.close()


@sku_app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., help="The CSV file (sku, name, base_sku, link, rating, review_count), or - for stdin."
    ),
    on_conflict: str = typer.Option(
        "update", "--on-conflict", help="What an existing sku does: update, skip or error."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything and report, but write nothing."),
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="Field separator: ',' ';' '|' or 'tab' (default: the one the header uses)."
    ),
    ignore_extra: bool = typer.Option(False, "--ignore-extra", help="Skip columns taskctl does not know."),
    json: bool = typer.Option(
        False, "--json", help="One JSON document on stdout: the counts, or every error (line, column, value)."
    ),
) -> None:
    """Import a CSV file whole or not at all: every bad row is reported with its line, nothing is written.

    Example:

        taskctl sku import products.csv --on-conflict skip --dry-run
        gunzip -c products.csv.gz | taskctl sku import - --json
    """
    from taskctl.errors import UsageError
    from taskctl.skus import ImportRejected, OnConflict, parse_delimiter

    if on_conflict not in {mode.value for mode in OnConflict}:
        raise UsageError(f"--on-conflict '{on_conflict}' is not a choice (use update, skip or error).")
    separator = None if delimiter is None else parse_delimiter(delimiter)
    reading_stdin = str(file) == "-"
    source = "stdin" if reading_stdin else str(file)
    try:
        with _work_bar(source, not json) as progress, _open() as table:
            summary = table.import_csv(
                sys.stdin.buffer if reading_stdin else file,
                on_conflict=on_conflict,
                dry_run=dry_run,
                delimiter=separator,
                ignore_extra=ignore_extra,
                progress=progress,
                all_problems=json,
                source=source,
            )
    except ImportRejected as rejected:
        if json:  # every problem in the document; one sentence for whoever watches stderr
            common.print_json(rejected.as_dict())
            typer.echo(f"error: {rejected.counted()}", err=True)
        else:  # the first problems, each on its own line, and the count
            for line in rejected.lines:
                typer.echo(f"error: {line}", err=True)
        raise typer.Exit(rejected.exit_code) from None
    if json:
        common.print_json({"ok": True, "file": source, **summary.as_dict()})
    else:
        typer.echo(summary.sentence())


@sku_app.command("add")
def add(
    sku: str = typer.Option(..., "--sku", help="The unique SKU code."),
    name: str = typer.Option(..., "--name", help="The product name."),
    base_sku: str = typer.Option("", "--base-sku", help="The family (default: the sku itself)."),
    link: str = typer.Option("", "--link", help="An http(s) URL of the product page."),
    rating: str = typer.Option("", "--rating", help="0-5, e.g. 4.5."),
    review_count: str = typer.Option("", "--review-count", help="A whole number >= 0."),
    json: bool = common.JSON_OPTION,
) -> None:
    """Add one SKU (checked like an imported row).

    Example:

        taskctl sku add --sku B07-RED-M --name "Shirt red M" --base-sku B07 --rating 4.5 --review-count 120
    """
    with _open() as table:
        added = table.add(sku, name, base_sku, link, rating, review_count)
    _print_one(added, json, f"added {added.sku}")


@sku_app.command("edit")
def edit(
    sku: str = typer.Argument(..., help="The SKU to change."),
    new_sku: str | None = typer.Option(
        None, "--new-sku", help="Rename it (refused if that sku exists; it keeps its family)."
    ),
    name: str | None = typer.Option(None, "--name", help="A new name."),
    base_sku: str | None = typer.Option(None, "--base-sku", help="A new family ('' = the sku itself)."),
    link: str | None = typer.Option(None, "--link", help="A new link ('' clears it)."),
    rating: str | None = typer.Option(None, "--rating", help="A new rating, 0-5 ('' clears it)."),
    review_count: str | None = typer.Option(None, "--review-count", help="A new count ('' clears it)."),
    json: bool = common.JSON_OPTION,
) -> None:
    """Change fields of one SKU, or rename it; fields not given stay as they are.

    Example:

        taskctl sku edit B07-RED-M --rating 4.6 --review-count 131
        taskctl sku edit B07-RED-M --new-sku B07-RED-MEDIUM
    """
    from taskctl.errors import UsageError

    if all(value is None for value in (new_sku, name, base_sku, link, rating, review_count)):
        raise UsageError(
            "nothing to change: pass at least one of --new-sku, --name, --base-sku, --link, --rating, "
            "--review-count."
        )
    with _open(create=False) as table:
        changed = table.update(
            sku,
            new_sku=_optional(new_sku),
            name=_optional(name),
            base_sku=_optional(base_sku),
            link=_optional(link),
            rating=_optional(rating),
            review_count=_optional(review_count),
        )
    headline = f"updated {sku}" if changed.sku == sku else f"renamed {sku} to {changed.sku}"
    _print_one(changed, json, headline)


@sku_app.command("show")
def show(sku: str = typer.Argument(..., help="The SKU to show."), json: bool = common.JSON_OPTION) -> None:
    """Show every field of one SKU.

    Example:

        taskctl sku show B07-RED-M --json
    """
    with _open(create=False) as table:
        found = table.get(sku)
    _print_one(found, json, None)


def _print_one(sku: Sku, json: bool, headline: str | None) -> None:
    if json:
        common.print_json(sku.as_dict())
        return
    if headline:
        typer.echo(headline)
    common.print_fields(sku.as_dict())


@sku_app.command("list")
def list_(
    search: str | None = typer.Option(None, "--search", help="Text the name or sku contains (any case)."),
    base_sku: str | None = typer.Option(None, "--base-sku", help="Only this family."),
    min_rating: float | None = typer.Option(None, "--min-rating", help="Only rated at least this."),
    unrated: bool = typer.Option(False, "--unrated", help="Only SKUs without a rating."),
    sort: str = typer.Option(
        "sku", "--sort", help="sku, name, base_sku, rating, review_count or updated_at."
    ),
    desc: bool = typer.Option(False, "--desc", help="Largest first."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        help=f"At most this many rows (default: {_TABLE_LIMIT} for a table, all for csv/json).",
    ),
    after: str | None = typer.Option(
        None, "--after", help="Continue after this sku (the last one of the previous page)."
    ),
    format: str | None = FORMAT_OPTION,
    json: bool = common.JSON_OPTION,
) -> None:
    """List SKUs: search, filter, sort and page (keyset: pass the last sku shown to --after).

    Example:

        taskctl sku list --search shirt --base-sku B07 --sort rating --desc --limit 20
    """
    from taskctl.skus import SkuQuery

    chosen = _output_format(format, json)
    if limit is None and chosen == "table":
        limit = _TABLE_LIMIT
    query = SkuQuery(search, base_sku, min_rating, unrated, sort, desc, limit, after)
    with _open(create=False) as table:
        page = table.query(query)
    if chosen == "json":
        common.print_json(page.as_dict())
    elif chosen == "csv":
        from taskctl.skus.csvio import write_csv

        write_csv(page.skus, sys.stdout)
    else:
        rows = [
            [
                sku.sku,
                sku.name,
                sku.base_sku,
                "" if sku.rating is None else sku.rating,
                "" if sku.review_count is None else sku.review_count,
            ]
            for sku in page.skus
        ]
        common.print_table(rows, ["sku", "name", "base_sku", "rating", "review_count"], empty="no skus")
        if page.next_after:
            typer.echo(f"(more: --after '{page.next_after}')", err=True)


@sku_app.command("rm")
def rm(
    skus: list[str] = typer.Argument(None, help="The SKUs to remove."),
    base_sku: str | None = typer.Option(None, "--base-sku", help="Remove a whole family instead."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before removing a family."),
) -> None:
    """Remove SKUs by code (all or none), or a whole family with --base-sku (asks unless --yes).

    Example:

        taskctl sku rm B07-RED-M B07-BLU-L
        taskctl sku rm --base-sku B07 --yes
    """
    from taskctl.errors import UsageError

    if bool(skus) == (base_sku is not None):
        raise UsageError("name the SKUs to remove, or pass --base-sku FAMILY (not both).")
    with _open(create=False) as table:
        if base_sku is None:
            removed = table.remove(skus)
        else:
            if not yes:
                count = table.family_count(base_sku)
                if count and not sys.stdin.isatty():
                    raise UsageError(
                        f"removing family '{base_sku}' ({count} skus) needs --yes "
                        "when there is no terminal to ask on."
                    )
                if count and not typer.confirm(f"remove {count} skus of family '{base_sku}'?"):
                    raise typer.Exit(1)
            removed = table.remove_family(base_sku)
    typer.echo(f"removed {removed} {'sku' if removed == 1 else 'skus'}")


@sku_app.command("export")
def export(
    file: str = typer.Argument(..., help="The file to write, or - for stdout."),
    format: str | None = typer.Option(None, "--format", help="csv or json (default: from the file name)."),
) -> None:
    """Write every SKU to a file (csv round-trips through import unchanged) or stdout.

    Example:

        taskctl sku export out.csv
    """
    from taskctl.errors import UsageError

    chosen = (format or ("json" if file.lower().endswith(".json") else "csv")).lower()
    if chosen not in ("csv", "json"):
        raise UsageError(f"--format '{format}' is not an export format (choose csv or json).")
    with _open(create=False) as table:
        if file == "-":
            table.export(sys.stdout, chosen)
            return
        with _work_bar(file, True) as progress:
            count = _export_atomically(table, Path(file), chosen, progress)
    typer.echo(f"exported {count:,} {'sku' if count == 1 else 'skus'} to {file}")


def _export_atomically(table: SkuTable, path: Path, format: str, progress: Progress | None) -> int:
    import os
    import tempfile

    from taskctl.errors import TaskctlError

    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        raise TaskctlError(f"cannot write '{path}': {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            count = table.export(out, format, progress)
        os.replace(temporary, path)
    except BaseException as exc:
        os.unlink(temporary)
        if isinstance(exc, OSError):
            raise TaskctlError(f"cannot write '{path}': {exc.strerror}.") from None
        raise
    return count


@sku_app.command("stats")
def stats(json: bool = common.JSON_OPTION) -> None:
    """Count SKUs, families and rated SKUs, and the average rating.

    Example:

        taskctl sku stats --json
    """
    with _open(create=False) as table:
        figures = table.stats().as_dict()
    if json:
        common.print_json(figures)
        return
    common.print_fields(
        {key: f"{value:,}" if isinstance(value, int) else value for key, value in figures.items()}
    )
