"""Turning the data a view built into a response: JSON under /api/, a Jinja page elsewhere, and errors as the
CLI words them (the same exception, the same sentence)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
import markupsafe
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from taskctl.documents import dumps
from taskctl.errors import ConfigError, NotFoundError, TaskctlError, UsageError
from taskctl.units import format_duration, format_size
from taskctl.web.security import CSRF_COOKIE, new_csrf_token

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """One JSON document, encoded as the CLI's `--json` encodes it."""
    return Response(dumps(data), status, headers, media_type="application/json")


def page(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
    """A page: `template` rendered with `data` (and what every page needs: the CSRF token, the site)."""
    token = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    site = request.app.state.site
    context = {
        **data,
        "request": request,
        "csrf_token": token,
        "zone": site.zone,
        "logged_in": site.options.token is not None,
    }
    html = environment().get_template(template).render(context)
    response = HTMLResponse(html, status, headers=SECURITY_HEADERS)
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


def respond(
    request: Request, template: str, data: dict[str, Any], document: Any = None, status: int = 200
) -> Response:
    """The API's JSON `document` (default: `data`), or the page `template` showing `data`."""
    if is_api(request):
        return json_response(data if document is None else document, status)
    return page(request, template, data, status)


def redirect(path: str) -> Response:
    """After a form succeeded: see the result (303, so a reload does not post again)."""
    return RedirectResponse(path, status_code=303)


def error_status(error: Exception) -> int:
    """The HTTP status of an expected failure."""
    from taskctl.config.edits import EditRefused
    from taskctl.skus import ImportRejected, InvalidSkuError, SkuExistsError
    from taskctl.store import IndexUnavailableError

    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, UsageError | InvalidSkuError):
        return 400
    if isinstance(error, EditRefused | ConfigError | ImportRejected):
        return 422
    if isinstance(error, IndexUnavailableError):
        return 503
    if isinstance(error, SkuExistsError):
        return 409
    return 409  # the workspace's state does not allow it (a run that finished, a name that is taken)


def error_document(error: TaskctlError) -> dict[str, Any]:
    """`{"ok": false, "error": sentence}`, with every config problem or import problem when there are
    several."""
    from taskctl.config.edits import EditRefused
    from taskctl.skus import ImportRejected

    document: dict[str, Any] = {"ok": False, "error": error.message}
    if isinstance(error, EditRefused | ConfigError):
        document["errors"] = [problem.as_dict() for problem in error.problems]
    if isinstance(error, ImportRejected):
        document["problems"] = error.lines
    return document


def error_lines(error: TaskctlError) -> list[str]:
    """The error as the CLI prints it on stderr, one line each."""
    from taskctl.config.edits import EditRefused
    from taskctl.skus import ImportRejected

    if isinstance(error, EditRefused):
        return [
            "nothing was written; the config would not be valid after this change:",
            *(problem.render() for problem in error.problems),
        ]
    if isinstance(error, ConfigError):
        return [problem.render() for problem in error.problems]
    if isinstance(error, ImportRejected):
        return list(error.lines)
    return [error.message]


def error_response(request: Request, error: TaskctlError, status: int | None = None) -> Response:
    status = status or error_status(error)
    if is_api(request):
        return json_response(error_document(error), status)
    return page(request, "error.html", {"title": "Error", "lines": error_lines(error)}, status)


# -- the template environment ------------------------------------------------------------------------


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        local=local_time,
        duration=format_duration,
        size=format_size,
        path=lambda text: quote(str(text), safe="/"),
        part=lambda text: quote(str(text), safe=""),
        zoneinfo=ZoneInfo,
        percent=progress_percent,
        ticks=code_spans,
    )
    env.globals.update(query=query_string)
    return env


def local_time(moment: datetime | str | None, zone: ZoneInfo, with_zone: bool = False) -> str:
    """An instant on the workspace's (or a process's) wall clock, as the CLI's tables show it."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    local = moment.astimezone(zone)
    return local.strftime("%a %Y-%m-%d %H:%M %Z" if with_zone else "%Y-%m-%d %H:%M:%S")


def code_spans(text: str) -> markupsafe.Markup:
    """Text with `code` in back-ticks shown as code (everything else escaped)."""
    import re

    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def progress_percent(text: str | None) -> int:
    """The percentage in a progress text as the run index keeps it (`40/100 (40%)`, `40%`)."""
    import re

    found = re.search(r"(\d+(?:\.\d+)?)%", text or "")
    return round(float(found.group(1))) if found else 0


def query_string(values: dict[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from `values` with `changes` applied (None drops a key), for links that keep the filters."""
    merged = {**values, **changes}
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if value is None or value == "" or value is False:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, "1" if item is True else str(item)))
    return "?" + urlencode(pairs) if pairs else "?"
