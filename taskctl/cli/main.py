"""The root `taskctl` app: global options, error handling, and the command groups.

Only typer is imported at start-up; each command imports what it needs when it runs, so `--help` and
`--version` stay fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import typer
from typer import _click
from typer.core import TyperGroup

from taskctl import OWN_ENV, __version__
from taskctl.cli import common

# One module per command group; each has `register(app)`.
COMMAND_MODULES = [
    "config_cmds",
    "thread_cmds",
    "process_cmds",
    "run_cmds",
    "sku_cmds",
    "daemon_cmds",
    "prune_cmds",
    "notify_cmds",
    "deps_cmds",
    "serve_cmds",
]


class _Root(TyperGroup):
    """Turns expected failures into one line on stderr and an exit code; bugs keep their traceback."""

    def invoke(self, ctx: _click.Context) -> Any:
        from taskctl.errors import ConfigError, TaskctlError

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for problem in exc.problems:
                typer.echo(f"error: {problem.render()}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except TaskctlError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Root,
    name="taskctl",
    help="Run Python scripts on schedules from a YAML workspace kept in git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"taskctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    root: Path | None = typer.Option(
        None,
        "--root",
        help="The workspace folder (default: $TASKCTL_ROOT, else the nearest folder with config/).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Run Python scripts on schedules from a YAML workspace kept in git.

    Example:

        taskctl init demo && cd demo && taskctl validate && taskctl run example
    """
    common.set_root(root)


for _name in COMMAND_MODULES:
    importlib.import_module(f"taskctl.cli.{_name}").register(app)


def main() -> None:
    """The console-script entry point."""
    # pydantic (which typer uses to convert every parameter) scans the metadata of every installed package
    # for plugins the first time it builds a validator: ~50 ms of each command's start-up. taskctl uses no
    # pydantic plugins; the scripts it runs get the environment without this setting.
    if "PYDANTIC_DISABLE_PLUGINS" not in os.environ:
        os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
        OWN_ENV.add("PYDANTIC_DISABLE_PLUGINS")
    app()
