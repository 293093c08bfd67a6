"""Adding, changing and removing threads and processes from forms and JSON, through the same planner and
writer as `taskctl thread|process add|edit|rm` (`taskctl.config.edits`): the whole config is validated before
anything is written, only the entry's own text changes, and a refused change leaves every file as it was.

A form shows the entry as its file read when the page was made (`base`, a hash of the file): a change posted
after someone else changed the file is refused rather than undoing their change.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile

from taskctl.config.edits import ConfigChange, EntryEdit, Section, apply_change, check_name, locate
from taskctl.config.threadfiles import ThreadFile, ThreadFileRole, check_file_name
from taskctl.config.writer import EditError, read_file_text
from taskctl.errors import TaskctlError, UsageError
from taskctl.web.call import Call
from taskctl.web.paths import inside_workspace
from taskctl.workspace import Workspace

LIST_KEYS = ("threads", "schedule", "tags", "notify", "requirements", "args")

Planner = Callable[[Workspace, datetime], ConfigChange]


def run_change(call: Call, plan: Planner, dry_run: bool = False) -> ConfigChange:
    """Plan the change (raises EditRefused with every problem), then apply it unless `dry_run`."""
    change = plan(call.site.workspace, call.site.now())
    if not dry_run:
        apply_change(change)
    return change


def file_base(workspace: Workspace, section: Section, name: str) -> str:
    """A short hash of the file that declares the entry, as read now (for `check_base`)."""
    found = locate(workspace, section, name)
    raw = read_file_text(found.path, found.display).raw or b""
    return hashlib.sha256(raw).hexdigest()[:16]


def check_base(workspace: Workspace, section: Section, name: str, base: Any) -> None:
    """Refuse a form made from an older text of the entry's file (nothing is written)."""
    if not base:
        return  # an API client that does not ask for the check
    found = locate(workspace, section, name)
    if str(base) != file_base(workspace, section, name):
        raise EditError(
            f"{found.display} changed on disk since this page was loaded; nothing was written (reload the "
            "page to change the new text)"
        )


def entry_edit(current: Mapping[str, Any], wanted: Mapping[str, Any], enabled: bool | None) -> EntryEdit:
    """The edit that turns the entry `current` (as declared) into one with the `wanted` values.

    Keys not in `wanted` stay as they are; an empty value removes its key. A list changed by adding or
    removing items is edited item by item (the other items' lines stay as written); a reordered one is set
    whole.
    """
    unset: list[str] = []
    assigned: list[tuple[str, Any]] = []
    added: list[tuple[str, Any]] = []
    removed: list[tuple[str, Any]] = []
    for key, value in wanted.items():
        old = current.get(key)
        if value in (None, "", []):
            if key in current:
                unset.append(key)
            continue
        if key in LIST_KEYS and isinstance(value, list):
            before = old if isinstance(old, list) else ([old] if old is not None else [])
            if before == value:
                continue
            gone = [item for item in before if item not in value]
            new = [item for item in value if item not in before]
            kept = [item for item in before if item in value]
            if key != "threads" and kept + new == value:
                removed.extend((key, item) for item in gone)
                added.extend((key, item) for item in new)
            else:
                assigned.append((key, value))
        elif old != value:
            assigned.append((key, value))
    return EntryEdit(
        unset=tuple(unset),
        set=tuple(assigned),
        add_items=tuple(added),
        remove_items=tuple(removed),
        enabled=enabled if enabled != _enabled(current) else None,
    )


def _enabled(entry: Mapping[str, Any]) -> bool:
    return entry.get("enabled", True) is not False


def json_edit(body: Mapping[str, Any]) -> EntryEdit:
    """The edit a PATCH body asks for: `{"set": {KEY: VALUE}, "unset": [KEY], "add": {LIST: [ITEM]},
    "remove": {LIST: [ITEM]}, "enabled": BOOL}` (dotted keys reach inside mappings: `retries.count`)."""
    known = {"set", "unset", "add", "remove", "enabled", "dry_run", "base"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise UsageError(f"unknown field '{unknown[0]}' in the body (use {', '.join(sorted(known))}).")
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise UsageError("'enabled' must be true or false.")
    return EntryEdit(
        unset=tuple(str(key) for key in _list(body.get("unset"), "unset")),
        set=tuple((str(key), value) for key, value in _mapping(body.get("set"), "set").items()),
        add_items=_items(body.get("add"), "add"),
        remove_items=_items(body.get("remove"), "remove"),
        enabled=enabled,
    )


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"'{name}' must be an object ({{\"key\": value}}).")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"'{name}' must be a list.")
    return value


def _items(value: Any, name: str) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (str(key), item)
        for key, items in _mapping(value, name).items()
        for item in (items if isinstance(items, list) else [items])
    )


# -- uploaded files --------------------------------------------------------------------------------------


@contextmanager
def uploaded(
    workspace: Workspace, name: str, files: Mapping[ThreadFileRole, tuple[UploadFile, str | None]]
) -> Iterator[tuple[ThreadFile, ...]]:
    """The uploads as ThreadFiles to copy into threads/NAME/, saved meanwhile under `.taskctl/uploads/`.

    A file's name in the thread folder is its `as` name or the name it was uploaded under, and must be a
    plain file name; the thread folder must be inside the workspace (a link leading out is refused).
    """
    if not files:
        yield ()
        return
    check_name(name, Section.THREADS)  # before the name makes a path
    inside_workspace(workspace, workspace.thread_dir(name))
    with upload_folder(workspace) as temporary:
        chosen = []
        for role, (upload, name_as) in files.items():
            flag = "--as" if role is ThreadFileRole.SCRIPT else "--input-as"
            target = name_as or upload.filename or ""
            check_file_name(target, flag if name_as else f"the uploaded {role.value}'s name")
            saved = temporary / role.value / target
            saved.parent.mkdir()
            save_upload(upload, saved)
            chosen.append(ThreadFile(role, saved, target))
        yield tuple(chosen)


@contextmanager
def upload_folder(workspace: Workspace) -> Iterator[Path]:
    """A fresh folder under `.taskctl/uploads/` for one request's files, removed afterwards."""
    parent = workspace.state_dir / "uploads"
    parent.mkdir(parents=True, exist_ok=True)
    inside_workspace(workspace, parent)
    folder = Path(tempfile.mkdtemp(dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_upload(upload: UploadFile, path: Path) -> None:
    """Write an upload (already size-checked as it arrived) to `path`."""
    upload.file.seek(0)
    try:
        with path.open("xb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)
    except OSError as error:
        raise TaskctlError(f"cannot store the upload {upload.filename} ({error.strerror}).") from None
