"""Runs: the history, a page per run, its log (live), its files, Download and Cancel.

Everything goes through the run service, as `taskctl history|show|logs|pack|cancel` do; the documents are
theirs (`history --json`, `show --json`, `cancel --json`), and a download is the archive `taskctl pack RUN -o
FILE` writes, byte for byte.
"""

from __future__ import annotations

import heapq
import mimetypes
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response, StreamingResponse

from taskctl.documents import run_document
from taskctl.errors import UsageError, closest, not_found
from taskctl.runs import CONSOLE_LOG, RunId, RunStatus, parse_statuses
from taskctl.store import RunRow
from taskctl.web.call import Call
from taskctl.web.paths import inside_workspace, run_file, run_id_of
from taskctl.web.render import json_response, redirect, respond
from taskctl.web.site import Site

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
PAGE_LOG_TAIL = 256 * 1024  # bytes of the console shown on a run's page; the rest streams or downloads
_TEXT_FILES = {".log", ".txt", ".csv", ".json", ".md", ".tsv", ".xml", ".yaml", ".yml", ".py"}


def recent_runs(site: Site, name: str, limit: int = 20) -> list[RunRow]:
    """The newest runs of a process (or thread) for its page."""
    from taskctl.runner.service import open_service

    with open_service(site.workspace, read_only=True) as service:
        return service.store.runs(name, limit=limit)


def history(call: Call) -> Response:
    """GET /runs: `history --json`, filtered by `process`, `status` (repeatable), `tag`, `since` (e.g. 7d)
    and `limit` (50 by default, at most 1000), newest first."""
    from taskctl.runner.service import open_service

    process = call.arg("process")
    statuses = parse_statuses(call.args("status"), "status")
    since_text = call.arg("since")
    since = call.site.now() - timedelta(seconds=_duration(since_text, "since")) if since_text else None
    limit = call.number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    tag = call.arg("tag")
    names = _tagged(call.site, tag) if tag else None
    with open_service(call.site.workspace, read_only=True) as service:
        if names is None:
            rows = service.history(process, statuses, since, limit, known=lambda: _configured(call.site))
        else:
            service.reap()
            chosen = [n for n in names if process is None or n == process]
            rows = _newest_first([service.store.runs(n, statuses, since, limit) for n in chosen], limit)
    documents = [row.to_json() for row in rows]
    filters = {"process": process, "status": [str(s) for s in statuses], "since": since_text, "tag": tag}
    data = {
        "runs": rows,
        "filters": filters,
        "limit": limit,
        "statuses": [s.value for s in RunStatus],
        "processes": _configured(call.site),
    }
    return respond(call.request, "runs.html", data, document=documents)


def _configured(site: Site) -> list[str]:
    config, _ = site.config_or_error()
    return sorted({*config.processes, *config.threads}) if config is not None else []


def _tagged(site: Site, tag: str) -> list[str]:
    """The processes (and threads, which run alone under their own name) that carry `tag`."""
    config = site.config()
    names = {name for name, process in config.processes.items() if tag in process.tags}
    names |= {name for name, thread in config.threads.items() if tag in thread.tags}
    if not names:
        known = {t for p in config.processes.values() for t in p.tags}
        known |= {t for thread in config.threads.values() for t in thread.tags}
        hint = closest(tag, known)
        raise UsageError(
            f"no process or thread has the tag '{tag}'" + (f"; did you mean '{hint}'?" if hint else ".")
        )
    return sorted(names)


def _newest_first(groups: list[list[RunRow]], limit: int) -> list[RunRow]:
    """The newest `limit` of several newest-first lists."""
    merged = heapq.merge(*groups, key=lambda row: (row.started, len(row.id), row.id), reverse=True)
    return [row for _, row in zip(range(limit), merged, strict=False)]


def _duration(text: str, name: str) -> float:
    from taskctl.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        raise UsageError(f"{name} '{text}' is not a duration (use e.g. 12h, 7d, 2w).") from None


# -- one run -------------------------------------------------------------------------------------------


def _resolve(call: Call) -> RunId:
    """The run named by the path: `PROCESS/STAMP`, a unique prefix of one, or `PROCESS/latest`."""
    from taskctl.runner.service import open_service

    process, stamp = call.param("process"), call.param("stamp")
    text = f"{process}@latest" if stamp == "latest" else f"{run_id_of(process, stamp)}"
    with open_service(call.site.workspace, read_only=True) as service:
        return service.resolve(text)


def run_page(call: Call) -> Response:
    """GET /runs/PROCESS/STAMP: `show --json` (run.json, its folder and files)."""
    from taskctl.runner.service import open_service

    run_id = _resolve(call)
    with open_service(call.site.workspace, read_only=True) as service:
        loaded = service.load(run_id)
    document = run_document(loaded.record, has_folder=loaded.has_folder)
    if call.api:
        return json_response(document)
    console = loaded.record.folder / CONSOLE_LOG
    size, text = _console_tail(console)
    data: dict[str, Any] = {
        "run": loaded.record,
        "problem": loaded.problem,
        "files": document["files"],
        "console": text,
        "console_size": size,
        "console_cut": size > PAGE_LOG_TAIL,
    }
    template = "run_summary.html" if call.arg("part") == "summary" else "run.html"
    return respond(call.request, template, data)


def _console_tail(path: Path) -> tuple[int, str]:
    """The size of a log and its last PAGE_LOG_TAIL bytes as text (from a line start when cut); nothing for a
    log that is missing or has been replaced by a symbolic link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return 0, ""
    with os.fdopen(fd, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - PAGE_LOG_TAIL))
        data = file.read(PAGE_LOG_TAIL)
    if size > PAGE_LOG_TAIL and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return size, data.decode("utf-8", "replace")


def run_log(call: Call) -> Response:
    """GET /runs/PROCESS/STAMP/log: the console log as text (`logs RUN [--thread T] [--tail N]`)."""
    from taskctl.runner.logs import tail_lines
    from taskctl.runner.service import open_service

    run_id = _resolve(call)
    with open_service(call.site.workspace, read_only=True) as service:
        record = service.load(run_id).record
    thread = call.arg("thread")
    names = [t.name for t in record.threads]
    if thread is not None and thread not in names:
        raise not_found(f"thread in run {record.id}", thread, names)
    path = record.folder / (f"{thread}.log" if thread else CONSOLE_LOG)
    inside_workspace(call.site.workspace, path)
    tail = call.arg("tail")
    media = "text/plain; charset=utf-8"
    if tail is not None:
        if not tail.isdigit():
            raise UsageError(f"tail '{tail}' must be a whole number of lines.")
        return Response(b"".join(tail_lines(path, int(tail))), media_type=media)
    if not path.exists():
        return Response(b"", media_type=media)
    return FileResponse(path, media_type=media)


def run_events(call: Call) -> Response:
    """GET /runs/PROCESS/STAMP/events: server-sent events `log`, `run` and `end` while the run goes on
    (`from=BYTES` or Last-Event-ID: where in the console log to start)."""
    from taskctl.runner.service import open_service
    from taskctl.web.streams import log_events

    run_id = _resolve(call)
    with open_service(call.site.workspace, read_only=True) as service:
        record = service.load(run_id).record
    start_text = call.request.headers.get("last-event-id") or call.arg("from") or "0"
    if not start_text.isdigit():
        raise UsageError(f"from '{start_text}' must be a byte offset (a whole number).")
    folder = inside_workspace(call.site.workspace, record.folder)
    inside_workspace(call.site.workspace, folder / CONSOLE_LOG)
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    stream = log_events(folder / CONSOLE_LOG, folder, int(start_text))
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


def run_download(call: Call) -> Response:
    """GET /runs/PROCESS/STAMP/download: the run folder as a zip (or `format=tar.gz`, `format=tar.zst`), the
    same bytes as `taskctl pack RUN -o FILE`; a run still active is refused, as pack refuses it."""
    import tempfile

    from taskctl.archive import PackedRun, format_for, pack_runs
    from taskctl.runner.service import open_service

    run_id = _resolve(call)
    workspace = call.site.workspace
    with open_service(workspace, read_only=True) as service:
        (run_id,) = service.select([run_id], allow_running=False)
    folder = inside_workspace(workspace, workspace.run_folder(run_id))
    fmt = format_for("", call.arg("format") or "zip")
    parent = workspace.state_dir / "downloads"
    parent.mkdir(parents=True, exist_ok=True)
    inside_workspace(workspace, parent)
    handle, temporary = tempfile.mkstemp(dir=parent, suffix=f".{fmt}")
    os.close(handle)
    path = Path(temporary)
    try:
        pack_runs([PackedRun(run_id=run_id, folder=folder)], path, fmt)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    name = f"{run_id.replace('/', '_')}.{fmt}"
    media = {"zip": "application/zip", "tar.gz": "application/gzip", "tar.zst": "application/zstd"}[str(fmt)]
    return FileResponse(path, media_type=media, filename=name, background=BackgroundTask(path.unlink, True))


def run_file_view(call: Call) -> Response:
    """GET /runs/PROCESS/STAMP/files/PATH: one file of the run folder (text shown as text, anything else
    downloaded; never through a symbolic link, never outside the run folder)."""
    run_id = _resolve(call)
    name = call.param("path")
    path = run_file(call.site.workspace, run_id, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise UsageError(f"'{name}' in run {run_id} cannot be read ({error.strerror}).") from None
    size = os.fstat(fd).st_size
    text = path.suffix.lower() in _TEXT_FILES
    media = (
        "text/plain; charset=utf-8"
        if text
        else (mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    )
    disposition = "inline" if text else f'attachment; filename="{path.name}"'
    headers = {
        "content-disposition": disposition,
        "content-length": str(size),
        "content-security-policy": "sandbox",
        "x-content-type-options": "nosniff",
    }

    def chunks() -> Any:
        with os.fdopen(fd, "rb") as file:
            while block := file.read(1 << 20):
                yield block

    return StreamingResponse(chunks(), media_type=media, headers=headers)


def run_cancel(call: Call) -> Response:
    """POST /runs/PROCESS/STAMP/cancel: `cancel RUN --json` (waits up to 15 s for the runner to stop it)."""
    from taskctl.runner.service import open_service

    run_id = _resolve(call)
    with open_service(call.site.workspace) as service:
        result = service.cancel(run_id)
    if call.api:
        return json_response(result.to_json())
    return redirect(f"/runs/{run_id}")
