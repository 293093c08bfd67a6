"""What every command needs: the workspace, the config, and printing tables or JSON."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.workspace import Workspace

_root: Path | None = None

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document instead of a table.")


def set_root(root: Path | None) -> None:
    global _root
    _root = root


def workspace() -> Workspace:
    """The workspace chosen by --root, $TASKCTL_ROOT or the working directory."""
    from taskctl.workspace import find_workspace

    return find_workspace(_root)


def load() -> LoadedConfig:
    """The workspace's config, loaded and checked (raises ConfigError)."""
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.config import load_config

    return load_config(workspace(), now=SYSTEM_CLOCK.now())


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
    from tabulate import tabulate

    typer.echo(tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True))


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
