"""The root `taskctl` app: global options, error handling, and the commands.

Start-up is most of what a command costs, so only what the command line names is imported and built:
`COMMANDS` says which module registers each top-level command or group (each module has `register(app)`),
and a command is built the first time it is looked up; so is each subcommand of a group (`taskctl thread add`
builds `add` alone). Each command imports what it needs when it runs.
A new command module adds its names here (a test checks that every registered name is listed).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import types
from collections.abc import Collection, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import typer
from typer import _click
from typer.core import TyperGroup
from typer.models import DefaultPlaceholder

from taskctl import OWN_ENV, __version__
from taskctl.cli import common, drop_stdout, typer_compat

typer_compat.apply()

# Top-level command or group -> the module (taskctl/cli/<module>.py) that registers it; `--help` lists them in
# this order.
COMMANDS: dict[str, str] = {
    "init": "config_cmds",
    "validate": "config_cmds",
    "schema": "config_cmds",
    "upcoming": "config_cmds",
    "run": "run_cmds",
    "history": "run_cmds",
    "show": "run_cmds",
    "logs": "run_cmds",
    "cancel": "run_cmds",
    "pack": "run_cmds",
    "prune": "prune_cmds",
    "thread": "thread_cmds",
    "process": "process_cmds",
    "sku": "sku_cmds",
    "notify": "notify_cmds",
    "deps": "deps_cmds",
    "daemon": "daemon_cmds",
    "status": "daemon_cmds",
    "plan": "daemon_cmds",
    "systemd-unit": "daemon_cmds",
    "serve": "serve_cmds",
}

ROOT_HELP = "The workspace folder (default: $TASKCTL_ROOT, else the nearest folder with config/)."


class _CommandsOnDemand(MutableMapping[str, _click.Command]):
    """Commands by name (`names`, in order), each built when first looked up (`_build`).

    While a `--help` lists them (`listing`), a command not built yet is looked up as a summary (`_summary`):
    its name and help text, without the parameters typer would build for it and every command below it.
    """

    def __init__(self, names: Collection[str]) -> None:
        self._names = names
        self._built: dict[str, _click.Command] = {}
        self.listing = False

    def __getitem__(self, name: str) -> _click.Command:
        if name in self._built:
            return self._built[name]
        if name not in self._names:
            raise KeyError(name)
        return self._summary(name) if self.listing else self._build(name)

    def _summary(self, name: str) -> _click.Command:
        raise NotImplementedError

    def _build(self, name: str) -> _click.Command:
        raise NotImplementedError

    def _keep(self, built: Iterator[tuple[str, _click.Command]]) -> None:
        for name, command in built:
            _accept_root_option(command)
            self._built.setdefault(name, command)

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._names, *(n for n in self._built if n not in self._names)])

    def __len__(self) -> int:
        return len(set(self._names) | set(self._built))


class _LazyCommands(_CommandsOnDemand):
    """The root's subcommands (`COMMANDS`): a module's commands are built when one of them is first looked up
    (building them all was a fifth of `taskctl --help`)."""

    def __init__(self) -> None:
        super().__init__(COMMANDS)
        self._summaries: dict[str, _click.Command] = {}
        self._registered: dict[str, typer.Typer] = {}

    def _summary(self, name: str) -> _click.Command:
        if name not in self._summaries:
            self._summaries.update(_summaries(self._registered_by(COMMANDS[name])))
        return self._summaries[name]

    def _build(self, name: str) -> _click.Command:
        self._keep(_commands(self._registered_by(COMMANDS[name])))
        return self._built[name]

    def _registered_by(self, module: str) -> typer.Typer:
        """A typer app holding the commands `module` registers (not built)."""
        if module not in self._registered:
            staging = typer.Typer()
            importlib.import_module(f"taskctl.cli.{module}").register(staging)
            self._registered[module] = staging
        return self._registered[module]


class _GroupCommands(_CommandsOnDemand):
    """The subcommands of a group (`taskctl thread`): `taskctl thread add` builds the parameters of `add`
    alone."""

    def __init__(self, registered: typer.Typer) -> None:
        self._summaries = dict(_summaries(registered))
        super().__init__(list(self._summaries))
        self._registered = registered

    def _summary(self, name: str) -> _click.Command:
        return self._summaries[name]

    def _build(self, name: str) -> _click.Command:
        self._keep(_commands(self._registered, only=name))
        return self._built[name]


class _LazyGroup(TyperGroup):
    """A group whose subcommands are built on demand: its `--help` lists them from summaries."""

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        commands = self.commands
        if not isinstance(commands, _CommandsOnDemand):
            return super().format_help(ctx, formatter)
        commands.listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            commands.listing = False


class _Root(_LazyGroup):
    """Builds subcommands on demand; turns expected failures into one line on stderr and an exit code (bugs
    keep their traceback); a closed stdout ends the command quietly."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def invoke(self, ctx: _click.Context) -> Any:
        from taskctl.errors import ConfigError, TaskctlError

        gc.enable()  # off while the command line loaded (see taskctl.cli): a command may run for days
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
        except BrokenPipeError:
            drop_stdout()
            raise typer.Exit(0) from None


def _commands(registered: typer.Typer, only: str | None = None) -> Iterator[tuple[str, _click.Command]]:
    """The commands and groups of `registered` (or the one named `only`), as `typer.main.get_group` builds
    them, except that a group builds its own subcommands when they are looked up."""
    import copy

    from typer.main import (
        get_command_from_info,
        get_command_name,
        get_group_from_info,
        solve_typer_info_defaults,
    )

    for info in registered.registered_commands:
        assert info.callback is not None, "a command has a function"
        if only is None or (info.name or get_command_name(info.callback.__name__)) == only:
            command = get_command_from_info(
                info,
                pretty_exceptions_short=registered.pretty_exceptions_short,
                rich_markup_mode=registered.rich_markup_mode,
            )
            yield command.name or "", command
    for group_info in registered.registered_groups:
        below = group_info.typer_instance
        name = solve_typer_info_defaults(group_info).name
        assert below is not None and name, "a group is a named typer app"
        if only is not None and name != only:
            continue
        assert isinstance(group_info.cls, DefaultPlaceholder), "taskctl's groups are _LazyGroup"
        # The group built from its own callback and settings, with no subcommands; they come on demand.
        hollow = copy.copy(below)
        hollow.registered_commands, hollow.registered_groups = [], []
        shell = copy.copy(group_info)
        shell.typer_instance, shell.cls = hollow, _LazyGroup
        group = get_group_from_info(
            shell,
            pretty_exceptions_short=registered.pretty_exceptions_short,
            rich_markup_mode=registered.rich_markup_mode,
            suggest_commands=registered.suggest_commands,
        )
        group.commands = _GroupCommands(below)
        yield name, group


def _summaries(registered: typer.Typer) -> Iterator[tuple[str, _click.Command]]:
    """The commands and groups of `registered` as the root's `--help` lists them: name, help text, hidden,
    deprecated and panel, found as typer finds them when it builds the command (a test compares the two)."""
    import inspect

    from typer.core import TyperCommand
    from typer.main import get_command_name, solve_typer_info_defaults

    for info in registered.registered_commands:
        callback = info.callback
        assert callback is not None, "a command has a function"
        name = info.name or get_command_name(callback.__name__)
        text = inspect.getdoc(callback) if info.help is None else inspect.cleandoc(info.help)
        command = (info.cls or TyperCommand)(
            name=name,
            help=text,
            short_help=info.short_help,
            hidden=info.hidden,
            deprecated=info.deprecated,
            rich_help_panel=info.rich_help_panel,
        )
        yield name, command
    for group in registered.registered_groups:
        solved = solve_typer_info_defaults(group)
        assert solved.name, "a group has a name"
        group_command = TyperGroup(
            name=solved.name,
            help=solved.help,
            short_help=solved.short_help,
            hidden=solved.hidden,
            deprecated=solved.deprecated,
            rich_help_panel=solved.rich_help_panel,
        )
        yield solved.name, group_command


def _set_root(value: Path | None) -> None:
    if value is not None:
        common.set_root(value)


def _root_option() -> _click.Parameter:
    """`--root DIR` for a subcommand (`taskctl validate --root DIR`), built once by typer from a signature."""
    holder = typer.Typer()

    @holder.command()
    def command(
        root: Path | None = typer.Option(
            None, "--root", metavar="DIR", help=ROOT_HELP, callback=_set_root, expose_value=False
        ),
    ) -> None:
        """Holds the option."""

    return typer.main.get_command(holder).params[0]


_ROOT_OPTION: list[_click.Parameter] = []


def _accept_root_option(command: _click.Command) -> None:
    """Let `--root` follow the command as well as precede it, in every subcommand below it too."""
    if not _ROOT_OPTION:
        _ROOT_OPTION.append(_root_option())
    if not any("--root" in p.opts for p in command.params):
        command.params.append(_ROOT_OPTION[0])
    commands = getattr(command, "commands", {})
    if not isinstance(commands, _GroupCommands):  # (those get it as they are built)
        for sub in commands.values():
            _accept_root_option(sub)


app = typer.Typer(
    cls=_Root,
    name="taskctl",
    help="Run Python scripts on schedules from a YAML workspace kept in git.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"taskctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    root: Path | None = typer.Option(None, "--root", metavar="DIR", help=ROOT_HELP),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Run Python scripts on schedules from a YAML workspace kept in git.

    Example:

        taskctl init demo && cd demo && taskctl validate && taskctl run example
        taskctl --install-completion      # tab completion for bash, zsh or fish
    """
    common.set_root(root)


def run_app() -> None:
    """Run the app on the process's command line (`taskctl.cli.console_script` is the command)."""
    _without_pydantic_plugins()
    app()


def _without_pydantic_plugins() -> None:
    """taskctl uses no pydantic plugins. pydantic looks for them in the metadata of every installed package
    the first time it builds a validator, and even with plugins disabled it imports the code that would look
    (importlib.metadata, ~20 ms); with plugins disabled, that code is replaced by a module that finds none.
    The scripts taskctl runs get the environment without the setting."""
    if "PYDANTIC_DISABLE_PLUGINS" not in os.environ:
        os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
        OWN_ENV.add("PYDANTIC_DISABLE_PLUGINS")
    loader = "pydantic.plugin._loader"
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in ("__all__", "1", "true") and loader not in sys.modules:
        no_plugins = types.ModuleType(loader)
        no_plugins.get_plugins = tuple  # type: ignore[attr-defined]  # what it returns when disabled: ()
        sys.modules[loader] = no_plugins


def main() -> None:
    """The entry point of installs made before `taskctl.cli.console_script`."""
    from taskctl.cli import console_script

    console_script()
