"""Tab completion of the names commands take: threads, processes, runs, tags, notify targets.

Completion runs on every Tab press, so it reads as little as it can, without loading the whole config: the
keys under `threads:`, `processes:` and `notify:` of the YAML files under config/ (not validated), and the
run folders under process/. It never fails: outside a workspace, or with a broken config, it offers nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

# The config files the loader reads (taskctl.config.loader.config_files), found without importing it.
_CONFIG_PATTERNS = ("*.yaml", "*.yml", "*/*.yaml", "*/*.yml")


@dataclass
class _Declared:
    """What the config files declare, read leniently."""

    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    notify: set[str] = field(default_factory=set)

    def scheduled_threads(self) -> list[str]:
        return [name for name, entry in self.threads.items() if entry.get("schedule")]

    def tags(self) -> set[str]:
        entries = [*self.threads.values(), *self.processes.values()]
        return {str(tag) for entry in entries if isinstance(entry.get("tags"), list) for tag in entry["tags"]}


def _root_of(ctx: typer.Context) -> Path | None:
    from taskctl.cli import common

    root = common.chosen_root()
    if root is None:
        value = ctx.find_root().params.get("root")
        root = Path(value) if value else None
    return root


def _workspace_dir(ctx: typer.Context) -> Path | None:
    from taskctl.workspace import find_workspace

    try:
        return find_workspace(_root_of(ctx)).root
    except Exception:  # no workspace here: nothing to offer
        return None


def _declared(ctx: typer.Context) -> _Declared:
    from taskctl.config.yamlfile import read_yaml

    found = _Declared()
    root = _workspace_dir(ctx)
    if root is None:
        return found
    config = root / "config"
    paths = sorted({p for pattern in _CONFIG_PATTERNS for p in config.glob(pattern) if p.is_file()})
    for path in paths:
        with contextlib.suppress(Exception):  # a file that does not read offers nothing
            data = read_yaml(path, str(path)).data
            if not isinstance(data, dict):
                continue
            for section, into in (("threads", found.threads), ("processes", found.processes)):
                entries = data.get(section)
                if isinstance(entries, dict):
                    for name, entry in entries.items():
                        into.setdefault(str(name), entry if isinstance(entry, dict) else {})
            if path.name == "taskctl.yaml" and isinstance(data.get("notify"), dict):
                found.notify.update(str(name) for name in data["notify"])
    return found


def _run_folders(ctx: typer.Context) -> Path | None:
    root = _workspace_dir(ctx)
    return None if root is None else root / "process"


def _matching(names: Iterable[str], incomplete: str) -> list[str]:
    return sorted({name for name in names if name.startswith(incomplete)})


def _never_failing(complete: Callable[[typer.Context, str], Iterable[str]]) -> Callable[..., list[str]]:
    def completer(ctx: typer.Context, incomplete: str) -> list[str]:
        try:
            return _matching(complete(ctx, incomplete), incomplete)
        except Exception:  # a Tab press must never print a traceback into the command line
            return []

    completer.__name__ = complete.__name__
    completer.__doc__ = complete.__doc__
    return completer


@_never_failing
def threads(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """The threads of the config."""
    return _declared(ctx).threads


@_never_failing
def processes(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """The processes of the config, scheduled threads included (they run as processes)."""
    declared = _declared(ctx)
    return [*declared.processes, *declared.scheduled_threads()]


@_never_failing
def runnables(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """What `taskctl run` takes: processes and threads."""
    declared = _declared(ctx)
    return [*declared.processes, *declared.threads]


@_never_failing
def run_names(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """Processes with runs (a NAME is its newest run) and, after `NAME/`, the ids of its runs."""
    folders = _run_folders(ctx)
    if folders is None or not folders.is_dir():
        return []
    if "/" not in incomplete:
        return [p.name for p in folders.iterdir() if p.is_dir()]
    process = incomplete.split("/", 1)[0]
    return [f"{process}/{p.name}" for p in _subfolders(folders / process)]


@_never_failing
def runs_or_configured(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """Processes with runs, and the configured processes and threads (history NAME)."""
    declared = _declared(ctx)
    folders = _run_folders(ctx)
    with_runs = [p.name for p in folders.iterdir() if p.is_dir()] if folders and folders.is_dir() else []
    return [*with_runs, *declared.processes, *declared.threads]


@_never_failing
def tags(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """The tags threads and processes carry."""
    return _declared(ctx).tags()


@_never_failing
def notify_targets(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """The notify targets of config/taskctl.yaml."""
    return _declared(ctx).notify


@_never_failing
def run_statuses(ctx: typer.Context, incomplete: str) -> Iterable[str]:
    """The run statuses."""
    from taskctl.runs import RunStatus

    return [status.value for status in RunStatus]


def _subfolders(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
