"""The JSON documents that the CLI's `--json` prints and the web API returns.

One builder per document, called by both, so a field never differs between `taskctl process show --json` and
`GET /api/v1/processes/NAME`. Keys are snake_case; instants are ISO-8601 strings with an offset (`...Z` for
UTC); durations are seconds. Only the standard library is imported here at start-up: the CLI imports this
module for every command that prints JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.config.edits import ConfigChange
    from taskctl.errors import ConfigProblem
    from taskctl.runs import RunId, RunRecord
    from taskctl.workspace import Workspace


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 with an offset; UTC instants end in Z."""
    if moment is None:
        return None
    if moment.tzinfo is UTC:
        return moment.isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def json_default(value: Any) -> Any:
    """What `json.dumps` cannot encode itself: instants (as `iso`), paths, sets and tuples."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(data: Any, indent: int | None = 2) -> str:
    """One JSON document, as `--json` prints it (non-ASCII text kept as it is)."""
    return json.dumps(data, indent=indent, ensure_ascii=False, default=json_default)


# -- threads and processes -----------------------------------------------------------------------------


def process_document(config: LoadedConfig, name: str, now: datetime, upcoming: int) -> dict[str, Any]:
    """A process (or scheduled thread) with every setting and its next `upcoming` fire times, DST marked:
    an item of `process list --json`, and `process show --json`."""
    from taskctl.config.models import to_json
    from taskctl.upcoming import upcoming as list_upcoming

    process = config.processes[name]
    section = "threads" if name in config.implicit else "processes"
    data = to_json(process)
    items = (
        list_upcoming(config, now, names=[name], count=upcoming, include_disabled=True) if upcoming else []
    )
    return {
        "name": name,
        "from_thread": name in config.implicit,
        "declared_in": str(config.origins[(section, name)]),
        **data,
        "schedule": [s.text for s in config.schedules[name]],
        "timezone": config.zone_of(name).key,
        "next": [
            {"at": iso(i.at), "local": iso(i.local), "dst": i.note.value if i.note else None} for i in items
        ],
    }


def thread_document(config: LoadedConfig, name: str) -> dict[str, Any]:
    """A thread with every setting (durations in seconds): an item of `thread list --json`, and
    `thread show --json`."""
    from taskctl.config.models import to_json

    thread = config.threads[name]
    data = to_json(thread)
    runs = {
        "script": f"threads/{name}/{thread.script_name}",
        "command": thread.command if isinstance(thread.command, str) else " ".join(thread.command or []),
        "code": "inline code",
        "func": f"{thread.func}()",
        "test": f"pytest threads/{name}/{thread.test}",
    }[thread.kind]
    return {
        "name": name,
        "declared_in": str(config.origins[("threads", name)]),
        "kind": thread.kind,
        "runs": runs,
        **data,
        "script": thread.script_name if thread.kind == "script" else None,
        "timeout": config.thread_timeout(name),
        "schedule": [s.text for s in config.schedules.get(name, [])]
        if name in config.implicit
        else data["schedule"],
    }


def change_document(change: ConfigChange, dry_run: bool) -> dict[str, Any]:
    """A config change that was made (or, with `dry_run`, would be): `thread|process add|edit|rm --json`."""
    return {"ok": True, **change.to_json(dry_run)}


def refused_document(problems: list[ConfigProblem]) -> dict[str, Any]:
    """A config change refused because the config would not be valid after it (nothing was written)."""
    return {"ok": False, "errors": [p.as_dict() for p in problems]}


# -- runs ----------------------------------------------------------------------------------------------


def run_document(record: RunRecord, has_folder: bool = True) -> dict[str, Any]:
    """One run as `show --json` prints it: run.json, its folder, and the files in it. A schedule slot recorded
    as missed (`has_folder` False) never ran: its folder is null and it has no files."""
    if not has_folder:
        return {**record.to_json(), "folder": None, "files": []}
    return {**record.to_json(), "folder": str(record.folder), "files": run_files(record.folder)}


def run_files(folder: Path) -> list[dict[str, object]]:
    """The files of a run folder (names relative to it, hidden files left out), with their sizes."""
    found = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file() and not path.name.startswith("."):
            found.append({"name": str(path.relative_to(folder)), "size": path.stat().st_size})
    return found


def started_document(workspace: Workspace, run_id: RunId) -> dict[str, Any]:
    """A run started in the background: `run NAME --detach --json`."""
    return {"id": run_id, "folder": str(workspace.run_folder(run_id))}
