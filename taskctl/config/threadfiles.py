"""A thread's files in `threads/<name>/`: its script and input CSV copied in (undoably); removing them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from taskctl.errors import TaskctlError, UsageError
from taskctl.workspace import Workspace


class ThreadFileRole(StrEnum):
    """Which key of the thread names the file."""

    SCRIPT = "script"
    INPUT = "input"


class ThreadFile(NamedTuple):
    """A file to copy into `threads/<name>/`: the thread's script or its input CSV."""

    role: ThreadFileRole
    source: Path
    name_as: str | None = None  # the file's name in the thread folder (default: the source's name)


class FileCopy(NamedTuple):
    source: Path
    target: Path
    display: str  # threads/<name>/<file>


def plan_copies(
    workspace: Workspace, name: str, files: Sequence[ThreadFile], entry: dict[str, Any], replacing: bool
) -> list[FileCopy]:
    """The copies `files` need; sets `script:` / `input:` in `entry` to the names they get.

    A file of the same name already in the folder is replaced when `replacing` (an edit), and refused
    otherwise unless it has the same content.
    """
    copies: list[FileCopy] = []
    folder = workspace.thread_dir(name)
    if files and folder.exists() and not folder.is_dir():
        raise TaskctlError(f"threads/{name} exists and is not a folder; move it away first")
    for file in files:
        flag = f"--{file.role.value}"
        if not file.source.is_file():
            what = "does not exist" if not file.source.exists() else "is not a file"
            raise UsageError(f"{flag} '{file.source}' {what}")
        target_name = file.name_as if file.name_as is not None else file.source.name
        check_file_name(target_name, "--as" if file.name_as is not None else flag)
        target = folder / target_name
        display = f"threads/{name}/{target_name}"
        entry[file.role.value] = target_name
        if target.exists() and target.resolve() == file.source.resolve():
            continue  # already in place
        if target.exists() and not replacing and not _same_bytes(target, file.source):
            raise TaskctlError(
                f"{display} already exists and differs from {file.source}; remove it, or pick another name "
                "with --as"
            )
        copies.append(FileCopy(file.source, target, display))
    return copies


def check_file_name(name: str, flag: str) -> None:
    """A usage error unless `name` is a plain file name: no folder, no `..`, nothing outside the folder."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UsageError(f"{flag} '{name}' must be a plain file name (no folders, no '..')")


def unused_file_notes(workspace: Workspace, name: str, before: Any, after: dict[str, Any]) -> list[str]:
    """A note for each script or input the edit stops using: it is kept, and the user should know."""
    notes = []
    old = before if isinstance(before, dict) else {}
    for role in ThreadFileRole:
        was, now = old.get(role.value), after.get(role.value)
        if isinstance(was, str) and was != now and (workspace.thread_dir(name) / was).is_file():
            notes.append(f"kept threads/{name}/{was}, which the thread no longer uses")
    return notes


class CopiedFiles:
    """Files copied into place, which can still be put back as they were."""

    def __init__(self) -> None:
        self.done: list[tuple[Path, Path | None]] = []  # (target, backup of what it replaced)

    def undo(self) -> None:
        for target, backup in reversed(self.done):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        self.done.clear()

    def keep(self) -> None:
        for _, backup in self.done:
            if backup is not None:
                backup.unlink(missing_ok=True)
        self.done.clear()


def copy_files(copies: Sequence[FileCopy]) -> CopiedFiles:
    """Copy each file through a temporary file and a rename; a failure puts back the ones already copied."""
    copied = CopiedFiles()
    try:
        for copy in copies:
            _copy_one(copy, copied)
    except OSError as exc:
        copied.undo()
        raise TaskctlError(
            f"cannot copy {exc.filename or 'a file'} into the thread's folder ({exc.strerror}); nothing was "
            "written"
        ) from None
    except BaseException:
        copied.undo()
        raise
    return copied


def _copy_one(copy: FileCopy, copied: CopiedFiles) -> None:
    import tempfile  # only when writing (it imports random)

    folder = copy.target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{copy.target.name}.", suffix=".taskctl-tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, copy.source.open("rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fchmod(out.fileno(), copy.source.stat().st_mode & 0o777)
            os.fsync(out.fileno())
        backup = None
        if copy.target.exists():
            backup = folder / f".{copy.target.name}.taskctl-old"
            backup.unlink(missing_ok=True)
            try:
                os.link(copy.target, backup)  # the old content stays reachable while the name gets the new
            except OSError:
                shutil.copy2(copy.target, backup)
        os.replace(temp, copy.target)
        copied.done.append((copy.target, backup))
    finally:
        Path(temp).unlink(missing_ok=True)


def remove_folder(folder: Path) -> None:
    """Remove a thread's folder (a symbolic link is removed, never followed)."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            folder.unlink()
        else:
            shutil.rmtree(folder)
    except OSError as exc:
        raise TaskctlError(
            f"the config was changed, but {folder} could not be removed ({exc.strerror}); remove it by hand"
        ) from None


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as left, b.open("rb") as right:
        while True:
            chunk = left.read(1 << 20)
            if chunk != right.read(1 << 20):
                return False
            if not chunk:
                return True
