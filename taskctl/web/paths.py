"""Paths that come from a request, kept inside the workspace.

A run id is checked by `RunId` (a plain process name, a stamp without `/` or a leading dot), a file name by
`check_file_name`; and what they name must still lie inside the workspace once every symbolic link is
resolved, so that a link planted in a run folder (or a whole `process/` linked elsewhere) never lets a
download read, or an upload write, outside it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.runs import RunId
from taskctl.workspace import Workspace


class OutsideWorkspace(TaskctlError):
    """A path that leads out of the workspace (answered 403)."""


def inside_workspace(workspace: Workspace, path: Path) -> Path:
    """`path` with its links resolved, if that is inside the workspace; OutsideWorkspace otherwise."""
    resolved = path.resolve()
    if not resolved.is_relative_to(workspace.root.resolve()):
        shown = path.relative_to(workspace.root) if path.is_relative_to(workspace.root) else path
        raise OutsideWorkspace(f"{shown} leads outside the workspace; it is not served.")
    return resolved


def run_id_of(process: str, stamp: str) -> RunId:
    """The run id of a URL's two parts; a usage error when they cannot be one."""
    run_id = RunId.parse(f"{process}/{stamp}")
    if run_id is None:
        raise UsageError(f"'{process}/{stamp}' is not a run id (PROCESS/YYYY-MM-DD_HH-MM-SS).")
    return run_id


def run_file(workspace: Workspace, run_id: RunId, name: str) -> Path:
    """The regular file `name` (a path relative to the run folder) of a run, never through a link.

    `..`, absolute paths, hidden files and any symbolic link on the way are refused, and so is a run
    folder that lies outside the workspace.
    """
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise UsageError(f"'{name}' is not a file of the run (give a path inside its folder, without '..').")
    folder = inside_workspace(workspace, workspace.run_folder(run_id))
    path = folder
    for part in parts:
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise NotFoundError(f"run {run_id} has no file '{name}'.") from None
        if stat.S_ISLNK(mode):
            raise OutsideWorkspace(f"'{name}' in run {run_id} is a symbolic link; links are not served.")
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise NotFoundError(f"'{name}' in run {run_id} is not a file.")
    return path
