"""The HTTP API under /api/v1: one table that both makes the routes and documents them (OpenAPI 3.1), so the
documentation cannot drift from what the server answers.

Every endpoint returns the document of the CLI command named in its description; errors are
`{"ok": false, "error": SENTENCE}` (plus `errors`, the config problems, or `problems`, an import's bad lines)
with 400 (bad request), 401 (no token), 403 (forged, or outside the workspace), 404 (no such thing), 409 (the
workspace's state does not allow it), 413 (too large), 422 (the config or file would not be valid) or 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskctl import __version__
from taskctl.web import config_views, dashboard, runs, skus
from taskctl.web.call import View

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    kind: str = "string"  # the JSON Schema type
    where: str = "query"
    repeated: bool = False
    required: bool = False

    def to_openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.kind}
        if self.repeated:
            schema = {"type": "array", "items": schema}
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "description": self.description,
            "schema": schema,
            **({"style": "form", "explode": True} if self.repeated else {}),
        }


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # below PREFIX, in Starlette's syntax (`{sku:path}`)
    view: View
    summary: str
    returns: str  # what the 2xx answer holds (the CLI command whose document it is)
    params: tuple[Param, ...] = ()
    body: str | None = None  # what a JSON or form body holds
    body_types: tuple[str, ...] = ("application/json",)
    status: int = 200
    media: str = "application/json"
    errors: tuple[int, ...] = (400, 404)
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def openapi_path(self) -> str:
        return (PREFIX + self.path).replace(":path}", "}")


NAME = Param("name", "The process or thread name.", where="path")
PROCESS = Param("process", "The process of the run.", where="path")
STAMP = Param(
    "stamp", "The run folder's name (YYYY-MM-DD_HH-MM-SS[-N]), a unique prefix, or `latest`.", where="path"
)
SKU = Param("sku", "The SKU code (may contain `/`).", where="path")
RUN = (PROCESS, STAMP)
DRY_RUN = Param("dry_run", "`1`: report what would change, write nothing.", "boolean")

ENTRY_BODY = (
    "`name`, the entry's keys as in YAML (e.g. `threads`, `schedule`, `timezone`, `tags`), optional `file` "
    "(a .yaml under config/) and `dry_run`; a thread may instead be sent as a multipart form with its "
    "`script` and `input` files."
)
EDIT_BODY = (
    '`{"set": {KEY: VALUE}, "unset": [KEY], "add": {LIST: [ITEM]}, "remove": {LIST: [ITEM]}, "enabled": '
    'BOOL, "dry_run": BOOL, "base": HASH}`; dotted keys reach inside mappings (`retries.count`).'
)
CHANGE = (
    "The change, as `--json` of the CLI's add/edit/rm: `ok`, `action`, `kind`, `name`, `file`, `diff`, ..."
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/status",
        dashboard.dashboard,
        "The daemon and the runs now",
        "`taskctl status --json`",
        params=(Param("tag", "Only the runs and fires of what carries this tag (`--tag`).", repeated=True),),
        tags=("status",),
        errors=(),
    ),
    Endpoint(
        "GET",
        "/processes",
        config_views.process_list,
        "List the processes",
        "`taskctl process list --json`",
        tags=("processes",),
        errors=(422,),
    ),
    Endpoint(
        "POST",
        "/processes",
        config_views.process_add,
        "Add a process",
        CHANGE,
        body=ENTRY_BODY,
        status=201,
        errors=(400, 409, 422),
        tags=("processes",),
    ),
    Endpoint(
        "GET",
        "/processes/{name}",
        config_views.process_page,
        "One process with its next fire times",
        "`taskctl process show NAME --json`",
        (NAME, Param("count", "How many next fire times (default 5).", "integer")),
        tags=("processes",),
    ),
    Endpoint(
        "PATCH",
        "/processes/{name}",
        config_views.process_edit,
        "Change a process",
        CHANGE,
        (NAME,),
        body=EDIT_BODY,
        errors=(400, 404, 409, 422),
        tags=("processes",),
    ),
    Endpoint(
        "DELETE",
        "/processes/{name}",
        config_views.process_remove,
        "Remove a process (its runs are kept)",
        CHANGE,
        (NAME, DRY_RUN),
        errors=(404, 409, 422),
        tags=("processes",),
    ),
    Endpoint(
        "PUT",
        "/processes/{name}/yaml",
        config_views.process_source,
        "Replace a process's YAML text",
        CHANGE,
        (NAME,),
        body="`source`: the entry alone, as `NAME:` and its keys; optional `base`.",
        errors=(400, 404, 409, 422),
        tags=("processes",),
    ),
    Endpoint(
        "POST",
        "/processes/{name}/run",
        config_views.process_run,
        "Run a process now, in the background",
        "`taskctl run NAME --detach --json`: `id`, `folder`",
        (NAME,),
        body="optional `force`: run whatever the overlap policy says.",
        status=202,
        errors=(404, 409, 422),
        tags=("processes",),
    ),
    Endpoint(
        "GET",
        "/threads",
        config_views.thread_list,
        "List the threads",
        "`taskctl thread list --json`",
        tags=("threads",),
        errors=(422,),
    ),
    Endpoint(
        "POST",
        "/threads",
        config_views.thread_add,
        "Add a thread",
        CHANGE,
        body=ENTRY_BODY,
        body_types=("application/json", "multipart/form-data"),
        status=201,
        errors=(400, 409, 413, 422),
        tags=("threads",),
    ),
    Endpoint(
        "GET",
        "/threads/{name}",
        config_views.thread_page,
        "One thread",
        "`taskctl thread show NAME --json`",
        (NAME,),
        tags=("threads",),
    ),
    Endpoint(
        "PATCH",
        "/threads/{name}",
        config_views.thread_edit,
        "Change a thread",
        CHANGE,
        (NAME,),
        body=EDIT_BODY,
        errors=(400, 404, 409, 422),
        tags=("threads",),
    ),
    Endpoint(
        "DELETE",
        "/threads/{name}",
        config_views.thread_remove,
        "Remove a thread",
        CHANGE,
        (
            NAME,
            DRY_RUN,
            Param("force", "`1`: also take it out of the processes that run it.", "boolean"),
            Param("keep_files", "`1`: keep threads/NAME/.", "boolean"),
        ),
        errors=(404, 409, 422),
        tags=("threads",),
    ),
    Endpoint(
        "PUT",
        "/threads/{name}/yaml",
        config_views.thread_source,
        "Replace a thread's YAML text",
        CHANGE,
        (NAME,),
        body="`source`: the entry alone; optional `base`.",
        errors=(400, 404, 409, 422),
        tags=("threads",),
    ),
    Endpoint(
        "POST",
        "/threads/{name}/files",
        config_views.thread_upload,
        "Upload a thread's script and/or input CSV",
        CHANGE,
        (NAME,),
        body="multipart: `script` and/or `input` files, optional `script_as`, `input_as` (plain file names).",
        body_types=("multipart/form-data",),
        errors=(400, 403, 404, 409, 413, 422),
        tags=("threads",),
    ),
    Endpoint(
        "POST",
        "/threads/{name}/run",
        config_views.thread_run,
        "Run one thread alone now, in the background",
        "`taskctl thread run NAME --detach --json`: `id`, `folder`",
        (NAME,),
        body="optional `force`.",
        status=202,
        errors=(404, 409, 422),
        tags=("threads",),
    ),
    Endpoint(
        "GET",
        "/runs",
        runs.history,
        "The history of runs, newest first",
        "`taskctl history --json`",
        (
            Param("process", "Only runs of this process."),
            Param("status", "Only runs with this status.", repeated=True),
            Param("tag", "Only runs of processes or threads with this tag."),
            Param("since", "Only runs started within this long, e.g. 7d."),
            Param("limit", "At most this many runs (default 50, at most 1000).", "integer"),
        ),
        tags=("runs",),
    ),
    Endpoint(
        "GET",
        "/runs/{process}/{stamp}",
        runs.run_page,
        "One run",
        "`taskctl show RUN --json`",
        RUN,
        tags=("runs",),
    ),
    Endpoint(
        "GET",
        "/runs/{process}/{stamp}/log",
        runs.run_log,
        "A run's console log (or one thread's)",
        "`taskctl logs RUN [--thread T] [--tail N]`, as text",
        (
            *RUN,
            Param("thread", "Only this thread's log."),
            Param("tail", "Only the last N lines.", "integer"),
        ),
        media="text/plain",
        tags=("runs",),
    ),
    Endpoint(
        "GET",
        "/runs/{process}/{stamp}/events",
        runs.run_events,
        "A run's console, live",
        "server-sent events: `log` (text; id = byte offset), `run` (run.json as JSON), `end`",
        (
            *RUN,
            Param("from", "The byte offset of the console log to start at (or Last-Event-ID).", "integer"),
        ),
        media="text/event-stream",
        tags=("runs",),
    ),
    Endpoint(
        "GET",
        "/runs/{process}/{stamp}/download",
        runs.run_download,
        "The run folder as an archive",
        "the archive `taskctl pack RUN -o FILE` writes",
        (*RUN, Param("format", "zip (default), tar.gz or tar.zst (needs the zstd extra).")),
        media="application/zip",
        errors=(400, 403, 404, 409),
        tags=("runs",),
    ),
    Endpoint(
        "GET",
        "/runs/{process}/{stamp}/files/{path:path}",
        runs.run_file_view,
        "One file of a run folder",
        "the file (text inline, anything else as a download)",
        (*RUN, Param("path", "The file, relative to the run folder.", where="path")),
        media="application/octet-stream",
        errors=(400, 403, 404),
        tags=("runs",),
    ),
    Endpoint(
        "POST",
        "/runs/{process}/{stamp}/cancel",
        runs.run_cancel,
        "Cancel a run",
        "`taskctl cancel RUN --json`: `id`, `outcome`, `status`",
        RUN,
        errors=(404, 409),
        tags=("runs",),
    ),
    Endpoint(
        "GET",
        "/skus",
        skus.sku_list,
        "One page of SKUs",
        "`taskctl sku list --json`: `skus`, `next_after`",
        (
            Param("search", "Text the name or sku contains."),
            Param("base_sku", "Only this family."),
            Param("min_rating", "Only rated at least this.", "number"),
            Param("unrated", "`1`: only SKUs without a rating.", "boolean"),
            Param("sort", "sku, name, base_sku, rating, review_count or updated_at."),
            Param("desc", "`1`: largest first.", "boolean"),
            Param("limit", "Rows per page (default 50, at most 1000).", "integer"),
            Param("after", "The last sku of the previous page (keyset paging)."),
        ),
        tags=("skus",),
    ),
    Endpoint(
        "POST",
        "/skus",
        skus.sku_add,
        "Add a SKU",
        "`taskctl sku add --json`",
        body="`sku`, `name`, optional `base_sku`, `link`, `rating`, `review_count`.",
        status=201,
        errors=(400, 409),
        tags=("skus",),
    ),
    Endpoint(
        "POST",
        "/skus/import",
        skus.sku_import,
        "Import a CSV file, all or nothing",
        "`taskctl sku import --json`: `rows`, `new`, `updated`, `unchanged`, `skipped`, `dry_run`",
        body="multipart: `file`, optional `on_conflict` (update, skip, error), `dry_run`, `delimiter`, "
        "`ignore_extra`.",
        body_types=("multipart/form-data",),
        errors=(400, 413, 422),
        tags=("skus",),
    ),
    Endpoint(
        "GET",
        "/skus/export",
        skus.sku_export,
        "Every SKU as CSV or JSON",
        "`taskctl sku export - [--format json]`",
        (Param("format", "csv (default) or json."),),
        media="text/csv",
        errors=(400,),
        tags=("skus",),
    ),
    Endpoint(
        "GET",
        "/sku/{sku:path}",
        skus.sku_page,
        "One SKU",
        "`taskctl sku show SKU --json`",
        (SKU,),
        errors=(404,),
        tags=("skus",),
    ),
    Endpoint(
        "PATCH",
        "/sku/{sku:path}",
        skus.sku_edit,
        "Change a SKU",
        "`taskctl sku edit SKU --json`",
        (SKU,),
        body="any of `name`, `base_sku`, `link`, `rating`, `review_count` (null or empty clears).",
        tags=("skus",),
    ),
    Endpoint(
        "DELETE",
        "/sku/{sku:path}",
        skus.sku_remove,
        "Remove a SKU",
        '`{"removed": 1}` (`taskctl sku rm SKU`)',
        (SKU,),
        errors=(404,),
        tags=("skus",),
    ),
)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of ENDPOINTS."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        responses: dict[str, Any] = {
            str(endpoint.status): {
                "description": endpoint.returns,
                "content": {endpoint.media: {"schema": {}}},
            }
        }
        for status in (*endpoint.errors, 401):
            responses[str(status)] = {
                "description": _ERRORS[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        operation: dict[str, Any] = {
            "operationId": endpoint.view.__name__,
            "summary": endpoint.summary,
            "description": endpoint.returns,
            "tags": list(endpoint.tags),
            "parameters": [p.to_openapi() for p in endpoint.params],
            "responses": responses,
        }
        if endpoint.body is not None:
            operation["requestBody"] = {
                "description": endpoint.body,
                "content": {kind: {"schema": {"type": "object"}} for kind in endpoint.body_types},
            }
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "taskctl",
            "version": __version__,
            "description": __doc__,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["ok", "error"],
                    "properties": {
                        "ok": {"const": False},
                        "error": {"type": "string", "description": "One sentence, as the CLI prints it."},
                        "errors": {
                            "type": "array",
                            "description": "Every config problem (file, line, path).",
                        },
                        "problems": {"type": "array", "description": "An import's bad lines."},
                    },
                }
            },
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"token": []}],
    }


_ERRORS = {
    400: "The request is wrong (a bad value, a missing field).",
    401: "The server was started with a token and the request does not carry it.",
    403: "Refused: sent from another site, or a path leading outside the workspace.",
    404: "No such process, thread, run, file or SKU.",
    409: "The workspace's state does not allow it (a taken name, a run still going or already over).",
    413: "The body is larger than the upload limit.",
    422: "The config would not be valid (every problem listed), or the CSV has bad lines (every one listed).",
}
