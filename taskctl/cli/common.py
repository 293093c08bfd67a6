"""What every command needs: the workspace, the config, and printing tables or JSON."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from taskctl.cli import complete

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.tags import TagFilter
    from taskctl.workspace import Workspace

_root: Path | None = None

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document instead of a table.")
TAG_FILTER_OPTION = typer.Option(
    None,
    "--tag",
    help="Only those with this tag (repeatable: those with any of the tags).",
    autocompletion=complete.tags,
)


def set_root(root: Path | None) -> None:
    global _root
    _root = root


def chosen_root() -> Path | None:
    """The folder --root named, if it was given."""
    return _root


def workspace() -> Workspace:
    """The workspace chosen by --root, $TASKCTL_ROOT or the working directory."""
    from taskctl.workspace import find_workspace

    return find_workspace(_root)


def load() -> LoadedConfig:
    """The workspace's config, loaded and checked (raises ConfigError)."""
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.config import load_config

    return load_config(workspace(), now=SYSTEM_CLOCK.now())


def tag_filter(config: LoadedConfig, tags: list[str] | None) -> TagFilter:
    """The `--tag` filter; a tag nothing has is most likely misspelt, so say so (the listing is empty)."""
    from taskctl.errors import closest
    from taskctl.tags import TagFilter, known_tags

    chosen = TagFilter.of(tags)
    for tag in chosen.unknown(config):
        hint = closest(tag, known_tags(config))
        tail = f"; did you mean '{hint}'?" if hint else ""
        typer.echo(f"warning: no thread or process has the tag '{tag}'{tail}", err=True)
    return chosen


def print_json(data: Any) -> None:
    """One JSON document on stdout; datetimes as ISO-8601 with offset (UTC as ...Z)."""
    from taskctl.documents import dumps

    typer.echo(dumps(data))


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 with an offset; UTC instants end in Z."""
    from taskctl.documents import iso as iso_text

    return iso_text(moment)


def print_table(
    rows: Sequence[Sequence[Any]], headers: Sequence[str], empty: str = "nothing to show"
) -> None:
    """A plain table on stdout, or `empty` when there are no rows."""
    if not rows:
        typer.echo(empty)
        return
    typer.echo(format_table(rows, headers))


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """`rows` in columns under `headers`: tabulate's "simple" layout, values shown as they are (no number
    parsing), None as nothing."""
    tabulate = _tabulate()
    return str(tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True))


def _tabulate() -> Any:
    """tabulate's `tabulate` function. At import tabulate asks importlib.metadata for its own version, and
    importing that reads package metadata (~30 ms of a listing's start-up) for a string taskctl never
    shows; so while tabulate imports, a stand-in answers that its version is unknown (tabulate's own
    fallback)."""
    if "tabulate" not in sys.modules and "importlib.metadata" not in sys.modules:
        import types

        class _Unknown(Exception):
            pass

        def _no_version(name: str) -> str:
            raise _Unknown(name)

        stand_in = types.ModuleType("importlib.metadata")
        stand_in.version = _no_version  # type: ignore[attr-defined]
        stand_in.PackageNotFoundError = _Unknown  # type: ignore[attr-defined]
        sys.modules["importlib.metadata"] = stand_in
        try:
            import tabulate
        finally:
            del sys.modules["importlib.metadata"]
    else:
        import tabulate
    return tabulate.tabulate


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_fields(record: dict[str, Any]) -> None:
    """A record as aligned `key: value` lines; lists joined, mappings as `k=v`."""
    width = max((len(k) for k in record), default=0)
    for key, value in record.items():
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value) if value else "-"
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items()) if value else "-"
        elif value is None:
            text = "-"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        typer.echo(f"{key + ':':<{width + 1}} {text}")
