"""Processes and threads: lists, a page each, and add, edit, enable/disable, delete, run now and uploads.

The JSON documents are those of `taskctl process|thread list|show --json` and of `add|edit|rm --json`; a
change goes through `taskctl.web.edits` (the CLI's planner and writer).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.responses import Response

from taskctl.config.edits import (
    EntryEdit,
    NewEntry,
    Section,
    entry_source,
    locate,
    plan_add,
    plan_edit,
    plan_remove,
    plan_source_edit,
)
from taskctl.config.models import CatchUp, OnFailure, Overlap, ThreadType
from taskctl.config.threadfiles import ThreadFileRole
from taskctl.documents import change_document, process_document, started_document, thread_document
from taskctl.errors import TaskctlError, UsageError
from taskctl.web.call import Call, lines, words
from taskctl.web.edits import check_base, entry_edit, file_base, json_edit, run_change, uploaded
from taskctl.web.render import error_lines, error_status, json_response, redirect, respond
from taskctl.web.runs import recent_runs

CHOICES = {
    "overlap": [o.value for o in Overlap],
    "on_failure": [o.value for o in OnFailure],
    "catch_up": [c.value for c in CatchUp],
    "type": [t.value for t in ThreadType],
}
# The keys the process form edits (the rest is changed as YAML), with how the form writes them.
PROCESS_FORM = {
    "threads": words,
    "schedule": lines,
    "timezone": str.strip,
    "overlap": str.strip,
    "on_failure": str.strip,
    "catch_up": str.strip,
    "timeout": str.strip,
    "tags": words,
    "description": str.strip,
}
THREAD_FORM = {
    "type": str.strip,
    "command": str.strip,
    "code": str,
    "timeout": str.strip,
    "schedule": lines,
    "tags": words,
    "description": str.strip,
}


# -- lists and pages -----------------------------------------------------------------------------------


def process_list(call: Call) -> Response:
    """GET /processes: `process list --json`."""
    config = call.site.config()
    now = call.site.now()
    records = [process_document(config, name, now, upcoming=1) for name in sorted(config.processes)]
    return respond(call.request, "processes.html", {"processes": records}, document=records)


def process_page(call: Call) -> Response:
    """GET /processes/NAME: `process show --json` (`?count=` next fire times, 5 by default)."""
    config = call.site.config()
    name = call.param("name")
    config.process(name)
    count = call.number("count", 5 if call.api else 10, 0, 1000)
    record = process_document(config, name, call.site.now(), upcoming=count)
    if call.api:
        return json_response(record)
    section = Section.THREADS if record["from_thread"] else Section.PROCESSES
    data = {
        "process": record,
        "section": section.value,
        "runs": recent_runs(call.site, name),
        "threads": {t: config.threads[t] for t in record["threads"] if t in config.threads},
    }
    return respond(call.request, "process.html", data)


def thread_list(call: Call) -> Response:
    """GET /threads: `thread list --json`."""
    config = call.site.config()
    records = [thread_document(config, name) for name in sorted(config.threads)]
    return respond(call.request, "threads.html", {"threads": records}, document=records)


def thread_page(call: Call) -> Response:
    """GET /threads/NAME: `thread show --json`."""
    config = call.site.config()
    name = call.param("name")
    config.thread(name)
    record = thread_document(config, name)
    if call.api:
        return json_response(record)
    used_by = sorted(p for p, process in config.processes.items() if name in process.threads)
    folder = call.site.workspace.thread_dir(name)
    files = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    data = {
        "thread": record,
        "used_by": used_by,
        "files": files,
        "runs": recent_runs(call.site, name),
        "scheduled": name in config.implicit,
    }
    return respond(call.request, "thread.html", data)


# -- forms -----------------------------------------------------------------------------------------------


def process_new_form(call: Call) -> Response:
    """GET /processes/new: the form to add a process."""
    return _form_page(call, Section.PROCESSES, None, {})


def thread_new_form(call: Call) -> Response:
    """GET /threads/new: the form to add a thread."""
    return _form_page(call, Section.THREADS, None, {"kind": "script"})


def process_edit_form(call: Call) -> Response:
    """GET /processes/NAME/edit: the form, and the entry's YAML."""
    return _edit_page(call, Section.PROCESSES, call.param("name"))


def thread_edit_form(call: Call) -> Response:
    """GET /threads/NAME/edit: the form, the entry's YAML, and uploads."""
    return _edit_page(call, Section.THREADS, call.param("name"))


def _edit_page(
    call: Call,
    section: Section,
    name: str,
    values: dict[str, Any] | None = None,
    status: int = 200,
    errors: list[str] | None = None,
    source: str | None = None,
) -> Response:
    workspace = call.site.workspace
    found = locate(workspace, section, name)
    shown = {key: _shown(found.entry.get(key)) for key in _form_keys(section)}
    locked = [key for key in _form_keys(section) if not _showable(key, found.entry.get(key))]
    shown["enabled"] = "no" if found.entry.get("enabled") is False else "yes"
    shown.update(values or {})
    _, current = entry_source(workspace, section, name)
    return _form_page(
        call,
        section,
        name,
        shown,
        status,
        errors=errors or [],
        source=current if source is None else source,
        base=file_base(workspace, section, name),
        file=found.display,
        locked=locked,
    )


def _form_page(
    call: Call, section: Section, name: str | None, values: dict[str, Any], status: int = 200, **extra: Any
) -> Response:
    data = {
        "section": section.value,
        "kind": section.kind,
        "name": name,
        "values": values,
        "choices": CHOICES,
        "errors": [],
        "source": None,
        "base": "",
        "file": None,
        "locked": [],
        **extra,
    }
    return respond(call.request, "entry_form.html", data, status=status)


def _form_keys(section: Section) -> dict[str, Any]:
    return PROCESS_FORM if section is Section.PROCESSES else THREAD_FORM


def _shown(value: Any) -> Any:
    """A YAML value as the form shows it: lists one item per line, other values as text."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    return str(value)


def _showable(key: str, value: Any) -> bool:
    """Whether the form can show `value` and write it back unchanged (else the field is read-only)."""
    if value is None or isinstance(value, str):
        return True
    if {PROCESS_FORM.get(key), THREAD_FORM.get(key)} & {words, lines}:
        return isinstance(value, list) and all(isinstance(item, str) and "\n" not in item for item in value)
    return False


def _wanted(call: Call, section: Section) -> dict[str, Any]:
    """The values the form posted for the keys it edits (a key left out of the form stays as it is)."""
    wanted: dict[str, Any] = {}
    for key, read in _form_keys(section).items():
        raw = call.value(key)
        if raw is not None:
            wanted[key] = read(raw)
    return wanted


def _enabled_field(call: Call) -> bool | None:
    value = call.value("enabled")
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("yes", "true", "1", "on")


# -- adding -----------------------------------------------------------------------------------------------


def process_add(call: Call) -> Response:
    """POST /processes: `process add` (a form, or JSON with the entry's keys and `name`)."""
    return _add(call, Section.PROCESSES)


def thread_add(call: Call) -> Response:
    """POST /threads: `thread add` (a form with the script and input CSV as uploads, or JSON)."""
    return _add(call, Section.THREADS)


def _add(call: Call, section: Section) -> Response:
    name = str(call.value("name") or "").strip()
    dry_run = bool(call.value("dry_run"))
    if call.api and isinstance(call.body, dict):
        entry = {k: v for k, v in call.body.items() if k not in ("name", "file", "dry_run")}
        uploads = {}
    else:
        entry = {k: v for k, v in _wanted(call, section).items() if v not in ("", [])}
        if section is Section.THREADS and call.value("kind") != "command":
            entry.pop("command", None)
        if section is Section.THREADS and call.value("kind") != "code":
            entry.pop("code", None)
        if call.value("enabled") == "no":
            entry["enabled"] = False
        uploads = _uploads(call)
    if not name:
        raise UsageError(f"give the new {section.kind} a name.")
    file = call.value("file") or None
    try:
        with uploaded(call.site.workspace, name, uploads) as files:
            new = NewEntry(section, name, entry, files, file)
            change = run_change(call, lambda ws, now: plan_add(ws, new, now), dry_run)
    except TaskctlError as error:
        if call.api:
            raise
        values = _posted(call, section)
        return _form_page(call, section, None, values, status=error_status(error), errors=error_lines(error))
    if call.api:
        return json_response(change_document(change, dry_run), 200 if dry_run else 201)
    return redirect(f"/{section.value}/{name}")


def _posted(call: Call, section: Section) -> dict[str, Any]:
    """What the form posted, to show it again with the errors (fields it did not post keep their values)."""
    keys = [*_form_keys(section), "name", "kind", "enabled"]
    return {key: call.value(key) for key in keys if call.value(key) is not None}


def _uploads(call: Call) -> dict[ThreadFileRole, Any]:
    found = {}
    for role in ThreadFileRole:
        upload = call.upload(role.value)
        if upload is not None:
            name_as = str(call.value(f"{role.value}_as") or "").strip() or None
            found[role] = (upload, name_as)
    return found


# -- changing ---------------------------------------------------------------------------------------------


def process_edit(call: Call) -> Response:
    """PATCH /processes/NAME (JSON, see `json_edit`) or POST /processes/NAME/edit (the form)."""
    return _edit(call, Section.PROCESSES)


def thread_edit(call: Call) -> Response:
    """PATCH /threads/NAME (JSON) or POST /threads/NAME/edit (the form, with uploads)."""
    return _edit(call, Section.THREADS)


def _edit(call: Call, section: Section) -> Response:
    name = call.param("name")
    workspace = call.site.workspace
    check_base(workspace, section, name, call.value("base"))
    if call.api and isinstance(call.body, dict):
        changes = json_edit(call.body)
        dry_run = bool(call.body.get("dry_run"))
        uploads = {}
    else:
        current = locate(workspace, section, name).entry
        changes = entry_edit(current, _wanted(call, section), _enabled_field(call))
        dry_run = False
        uploads = _uploads(call)
    return _apply_edit(call, section, name, changes, dry_run, uploads)


def _apply_edit(
    call: Call,
    section: Section,
    name: str,
    changes: EntryEdit,
    dry_run: bool,
    uploads: dict[ThreadFileRole, Any] | None = None,
) -> Response:
    try:
        with uploaded(call.site.workspace, name, uploads or {}) as files:
            with_files = changes._replace(files=files)
            change = run_change(call, lambda ws, now: plan_edit(ws, section, name, with_files, now), dry_run)
    except TaskctlError as error:
        if call.api:
            raise
        status, errors = error_status(error), error_lines(error)
        return _edit_page(call, section, name, values=_posted(call, section), status=status, errors=errors)
    if call.api:
        return json_response(change_document(change, dry_run))
    return redirect(f"/{section.value}/{name}")


def process_source(call: Call) -> Response:
    """POST /processes/NAME/yaml: replace the entry's YAML text (as `process edit NAME` in $EDITOR)."""
    return _source(call, Section.PROCESSES)


def thread_source(call: Call) -> Response:
    """POST /threads/NAME/yaml: replace the entry's YAML text."""
    return _source(call, Section.THREADS)


def _source(call: Call, section: Section) -> Response:
    name = call.param("name")
    workspace = call.site.workspace
    source = str(call.value("source") or "").replace("\r\n", "\n")
    try:
        check_base(workspace, section, name, call.value("base"))
        before, _ = entry_source(workspace, section, name)
        plan = partial(plan_source_edit, section=section, name=name, before=before, source=source)
        change = run_change(call, lambda ws, now: plan(ws, now=now))
    except TaskctlError as error:
        if call.api:
            raise
        return _edit_page(
            call, section, name, status=error_status(error), errors=error_lines(error), source=source
        )
    if call.api:
        return json_response(change_document(change, False))
    return redirect(f"/{section.value}/{name}")


def process_enable(call: Call) -> Response:
    """POST /processes/NAME/enable: schedule it again (`process edit NAME --enable`)."""
    return _apply_edit(call, Section.PROCESSES, call.param("name"), EntryEdit(enabled=True), False)


def process_disable(call: Call) -> Response:
    """POST /processes/NAME/disable: stop scheduling it (`process edit NAME --disable`)."""
    return _apply_edit(call, Section.PROCESSES, call.param("name"), EntryEdit(enabled=False), False)


def thread_enable(call: Call) -> Response:
    """POST /threads/NAME/enable: `thread edit NAME --enable`."""
    return _apply_edit(call, Section.THREADS, call.param("name"), EntryEdit(enabled=True), False)


def thread_disable(call: Call) -> Response:
    """POST /threads/NAME/disable: `thread edit NAME --disable`."""
    return _apply_edit(call, Section.THREADS, call.param("name"), EntryEdit(enabled=False), False)


def thread_upload(call: Call) -> Response:
    """POST /threads/NAME/files: replace the thread's script and/or input CSV with uploaded files (as
    `thread edit NAME --script FILE --input FILE`)."""
    uploads = _uploads(call)
    if not uploads:
        raise UsageError("choose a script or an input CSV to upload (form fields 'script', 'input').")
    return _apply_edit(call, Section.THREADS, call.param("name"), EntryEdit(), False, uploads)


# -- removing and running --------------------------------------------------------------------------------


def process_remove(call: Call) -> Response:
    """DELETE /processes/NAME or POST /processes/NAME/delete: `process rm NAME` (its runs are kept)."""
    name = call.param("name")
    change = run_change(
        call, lambda ws, now: plan_remove(ws, Section.PROCESSES, name, now=now), call.flag("dry_run")
    )
    if call.api:
        return json_response(change_document(change, call.flag("dry_run")))
    return redirect("/processes")


def thread_remove(call: Call) -> Response:
    """DELETE /threads/NAME or POST /threads/NAME/delete: `thread rm NAME [--force] [--keep-files]`."""
    name = call.param("name")
    force = call.flag("force") or bool(call.value("force"))
    keep = call.flag("keep_files") or bool(call.value("keep_files"))
    dry_run = call.flag("dry_run")
    change = run_change(
        call,
        lambda ws, now: plan_remove(ws, Section.THREADS, name, force=force, keep_files=keep, now=now),
        dry_run,
    )
    if call.api:
        return json_response(change_document(change, dry_run))
    return redirect("/threads")


def process_run(call: Call) -> Response:
    """POST /processes/NAME/run: start a run in the background, as `taskctl run NAME --detach` does."""
    call.site.config().process(call.param("name"))
    return _run_now(call)


def thread_run(call: Call) -> Response:
    """POST /threads/NAME/run: run the thread alone in the background (`taskctl thread run NAME --detach`)."""
    call.site.config().thread(call.param("name"))
    return _run_now(call)


def _run_now(call: Call) -> Response:
    from taskctl.runner.detached import start_detached

    force = bool(call.value("force")) or call.flag("force")
    run_id = start_detached(call.site.workspace, call.param("name"), force)
    if call.api:
        return json_response(started_document(call.site.workspace, run_id), 202)
    return redirect(f"/runs/{run_id}")
