"""The SKU table: a page of rows (keyset paging, search, filters and sort as `sku list`), add, edit, delete,
CSV import (all or nothing, every bad line named, as `sku import`) and export (as `sku export`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.skus import KEEP, SORT_COLUMNS, ImportRejected, OnConflict, SkuQuery, SkuTable
from taskctl.web.call import Call
from taskctl.web.edits import save_upload, upload_folder
from taskctl.web.render import error_lines, error_status, json_response, redirect, respond
from taskctl.web.site import Site

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
FIELDS = ("name", "base_sku", "link", "rating", "review_count")


def _open(site: Site) -> SkuTable:
    return SkuTable.open(site.workspace.sku_db)


def sku_list(call: Call) -> Response:
    """GET /skus: one page of `sku list --json` (`search`, `base_sku`, `min_rating`, `unrated`, `sort`,
    `desc`, `limit` (50, at most 1000), `after`: the last sku of the previous page)."""
    query = SkuQuery(
        search=call.arg("search"),
        base_sku=call.arg("base_sku"),
        min_rating=_number(call.arg("min_rating"), "min_rating"),
        unrated=call.flag("unrated"),
        sort=call.arg("sort", "sku") or "sku",
        descending=call.flag("desc"),
        limit=call.number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        after=call.arg("after"),
    )
    with _open(call.site) as table:
        page = table.query(query)
    filters = {
        "search": query.search,
        "base_sku": query.base_sku,
        "min_rating": call.arg("min_rating"),
        "unrated": query.unrated,
        "sort": query.sort,
        "desc": query.descending,
        "limit": call.arg("limit"),
    }
    data = {"page": page, "filters": filters, "sorts": SORT_COLUMNS, "after": query.after}
    return respond(call.request, "skus.html", data, document=page.as_dict())


def _number(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{name} '{text}' is not a number.") from None


def sku_page(call: Call) -> Response:
    """GET /sku/SKU: `sku show --json`; the page is the form to change or delete it."""
    with _open(call.site) as table:
        sku = table.get(call.param("sku"))
    if call.api:
        return json_response(sku.as_dict())
    return respond(call.request, "sku_form.html", {"sku": sku, "values": sku.as_dict(), "errors": []})


def sku_new_form(call: Call) -> Response:
    """GET /skus/new: the form to add a SKU."""
    return respond(call.request, "sku_form.html", {"sku": None, "values": {}, "errors": []})


def sku_add(call: Call) -> Response:
    """POST /skus: `sku add --json` (fields sku, name, base_sku, link, rating, review_count)."""
    values = {key: _text(call.value(key)) for key in ("sku", *FIELDS)}
    try:
        with _open(call.site) as table:
            added = table.add(
                values["sku"] or "",
                values["name"] or "",
                values["base_sku"] or "",
                values["link"] or "",
                values["rating"],
                values["review_count"],
            )
    except TaskctlError as error:
        if call.api:
            raise
        return _form_again(call, None, values, error)
    if call.api:
        return json_response(added.as_dict(), 201)
    return redirect(f"/sku/{_quoted(added.sku)}")


def sku_edit(call: Call) -> Response:
    """PATCH /sku/SKU (or POST the form): `sku edit --json`; a field left out stays, an empty one clears
    link, rating or review_count (and makes base_sku the sku itself)."""
    sku = call.param("sku")
    changes = {key: _text(call.value(key)) for key in FIELDS}
    given = {key: value for key, value in changes.items() if value is not None}
    if not given:
        raise UsageError("nothing to change: give at least one of " + ", ".join(FIELDS) + ".")
    try:
        with _open(call.site) as table:
            changed = table.update(sku, **{key: given.get(key, KEEP) for key in FIELDS})
    except TaskctlError as error:
        if call.api or isinstance(error, NotFoundError):
            raise
        with _open(call.site) as table:
            current = table.get(sku)
        return _form_again(call, current, {**current.as_dict(), **given}, error)
    if call.api:
        return json_response(changed.as_dict())
    return redirect(f"/sku/{_quoted(changed.sku)}")


def sku_remove(call: Call) -> Response:
    """DELETE /sku/SKU (or POST /skus/delete with the field `sku`): `sku rm SKU`; `{"removed": 1}`."""
    sku = call.param("sku") if "sku" in call.request.path_params else str(call.value("sku") or "")
    if not sku:
        raise UsageError("name the SKU to remove (the field 'sku').")
    with _open(call.site) as table:
        removed = table.remove([sku])
    if call.api:
        return json_response({"removed": removed})
    return redirect("/skus")


def _form_again(call: Call, sku: Any, values: dict[str, Any], error: TaskctlError) -> Response:
    data = {"sku": sku, "values": values, "errors": error_lines(error)}
    return respond(call.request, "sku_form.html", data, status=error_status(error))


def _text(value: Any) -> Any:
    """A JSON value as given; a form's text as typed."""
    return value.strip() if isinstance(value, str) else value


def _quoted(sku: str) -> str:
    from urllib.parse import quote

    return quote(sku, safe="")


# -- import and export ------------------------------------------------------------------------------------


def sku_import_form(call: Call) -> Response:
    """GET /skus/import: the form to upload a CSV."""
    return respond(call.request, "sku_import.html", {"summary": None, "errors": [], "values": {}})


def sku_import(call: Call) -> Response:
    """POST /skus/import: `sku import --json` of the uploaded CSV (form field `file`; `on_conflict`,
    `dry_run`, `delimiter`, `ignore_extra`): all or nothing, every bad line named (422 otherwise)."""
    from taskctl.skus import parse_delimiter

    upload = call.upload("file")
    if upload is None:
        raise UsageError("choose a CSV file to import (form field 'file').")
    on_conflict = str(call.value("on_conflict") or "update")
    if on_conflict not in {mode.value for mode in OnConflict}:
        raise UsageError(f"on_conflict '{on_conflict}' is not a choice (use update, skip or error).")
    dry_run = bool(call.value("dry_run"))
    delimiter = parse_delimiter(str(call.value("delimiter") or ","))
    ignore_extra = bool(call.value("ignore_extra"))
    values: dict[str, Any] = {"on_conflict": on_conflict, "dry_run": dry_run, "ignore_extra": ignore_extra}
    with upload_folder(call.site.workspace) as folder:
        name = upload.filename or "upload.csv"
        path = folder / "file.csv"
        save_upload(upload, path)
        try:
            with _open(call.site) as table:
                summary = table.import_csv(
                    path,
                    on_conflict=on_conflict,
                    dry_run=dry_run,
                    delimiter=delimiter,
                    ignore_extra=ignore_extra,
                )
        except ImportRejected as rejected:
            # The messages name the file as the user knows it, not where the server kept it.
            lines = [line.replace(str(path), name) for line in rejected.lines]
            problems = [line.replace(str(path), name) for line in rejected.problems]
            renamed = ImportRejected(name, problems, rejected.total)
            renamed.lines = lines
            if call.api:
                raise renamed from None
            data: dict[str, Any] = {"summary": None, "errors": lines, "values": values, "file": name}
            return respond(call.request, "sku_import.html", data, status=422)
    if call.api:
        return json_response(summary.as_dict())
    return respond(
        call.request, "sku_import.html", {"summary": summary, "errors": [], "values": values, "file": name}
    )


def sku_export(call: Call) -> Response:
    """GET /skus/export: every SKU as CSV (importable as it is) or `format=json`, streamed (`sku export`)."""
    chosen = (call.arg("format") or "csv").lower()
    if chosen not in ("csv", "json"):
        raise UsageError(f"format '{chosen}' is not an export format (choose csv or json).")
    with _open(call.site):
        pass  # a database that cannot be opened is an error now, not a broken download
    media = "text/csv; charset=utf-8" if chosen == "csv" else "application/json"
    headers = {"content-disposition": f'attachment; filename="skus.{chosen}"'}
    return StreamingResponse(_Export(call.site, chosen).blocks(), media_type=media, headers=headers)


class _Gone(Exception):
    """The client stopped reading the export."""


class _Export:
    """An export written by a thread of its own (an SQLite connection stays in the thread that opened it;
    a streamed response is read from any worker thread), handed over in blocks through a short queue."""

    BLOCK = 1 << 16

    def __init__(self, site: Site, fmt: str) -> None:
        import queue

        self.path = site.workspace.sku_db
        self.fmt = fmt
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self.stop = threading.Event()
        self.parts: list[str] = []
        self.size = 0

    def blocks(self) -> Iterator[bytes]:
        writer = threading.Thread(target=self._write_all, name="taskctl-sku-export", daemon=True)
        writer.start()
        try:
            while (block := self.queue.get()) is not None:
                yield block
        finally:
            self.stop.set()

    def write(self, text: str) -> int:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= self.BLOCK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.parts:
            self._offer("".join(self.parts).encode())
            self.parts, self.size = [], 0

    def _write_all(self) -> None:
        try:
            with SkuTable.open(self.path) as table:
                table.export(self, self.fmt)  # type: ignore[arg-type]
            self.flush()
            self._offer(None)
        except _Gone:
            pass

    def _offer(self, item: bytes | None) -> None:
        import queue

        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Gone
