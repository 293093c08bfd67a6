"""A request as the views see it: path and query values, the form or JSON body, already checked against
forgery; views are plain functions run in a worker thread, so they call the (blocking) library directly."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from taskctl.errors import UsageError
from taskctl.web.render import error_response, is_api
from taskctl.web.security import (
    CSRF_FIELD,
    bearer,
    cross_site,
    form_token_matches,
    preflighted,
)
from taskctl.web.site import Site

MAX_FORM_FIELDS = 1000
MAX_FORM_FILES = 4
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class Forbidden(UsageError):
    """A state-changing request that may have been forged by another site (answered 403)."""


@dataclass
class Call:
    """One request to one view."""

    request: Request
    site: Site
    form: FormData = field(default_factory=FormData)
    body: Any = None  # a JSON body

    @property
    def api(self) -> bool:
        """True under /api/: the caller wants a JSON document."""
        return is_api(self.request)

    def param(self, name: str) -> str:
        """A value from the path."""
        return str(self.request.path_params[name])

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query value; an empty one counts as not given."""
        value = self.request.query_params.get(name)
        return value if value not in (None, "") else default

    def args(self, name: str) -> list[str]:
        """Every value of a repeated query key (`?status=failed&status=timed_out`)."""
        return [v for v in self.request.query_params.getlist(name) if v != ""]

    def number(self, name: str, default: int, low: int, high: int) -> int:
        """A whole-number query value from `low` to `high`; `default` when not given."""
        text = self.arg(name)
        if text is None:
            return default
        if not text.isdigit() or not low <= int(text) <= high:
            raise UsageError(f"{name} '{text}' must be a whole number from {low} to {high}.")
        return int(text)

    def flag(self, name: str) -> bool:
        """A yes/no query value: `1`, `true`, `yes`, `on` are yes."""
        return (self.arg(name) or "").lower() in ("1", "true", "yes", "on")

    def value(self, name: str) -> Any:
        """A field of the JSON body, else of the form; None when absent."""
        if isinstance(self.body, dict):
            return self.body.get(name)
        item = self.form.get(name)
        return None if isinstance(item, UploadFile) else item

    def upload(self, name: str) -> UploadFile | None:
        """The file sent in the form field `name`, if one was chosen."""
        item = self.form.get(name)
        return item if isinstance(item, UploadFile) and item.filename else None


View = Callable[[Call], Response]

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def endpoint(view: View) -> Callable[[Request], Any]:
    """The Starlette endpoint of `view`: reads and checks the body, then runs the view in a worker thread."""

    async def run(request: Request) -> Response:
        site: Site = request.app.state.site
        call = Call(request, site)
        try:
            if request.method not in _SAFE_METHODS:
                await _read_body(call)
                _check_not_forged(call)
            return await run_in_threadpool(view, call)
        except Forbidden as refused:
            return error_response(request, refused, 403)
        finally:
            await call.form.close()

    run.__name__ = view.__name__
    run.__doc__ = view.__doc__
    return run


async def _read_body(call: Call) -> None:
    request = call.request
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _FORM_TYPES:
        call.form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    elif kind == "application/json":
        raw = await request.body()
        try:
            call.body = json.loads(raw) if raw.strip() else {}
        except ValueError as error:
            raise UsageError(f"the request body is not valid JSON ({error}).") from None
        if not isinstance(call.body, dict):
            raise UsageError("the request body must be a JSON object ({...}).")


def _check_not_forged(call: Call) -> None:
    request = call.request
    if cross_site(request):
        raise Forbidden("a page of another site may not change anything here.")
    if call.site.options.token is not None and bearer(request.headers) is not None:
        return  # the middleware checked the token: only its holder sends this header
    if preflighted(request) or form_token_matches(request, call.form.get(CSRF_FIELD)):
        return
    raise Forbidden(
        "this form was not sent by a page of this server (its csrf_token is missing or stale); "
        "reload the page and try again. Scripts send a JSON body or an 'X-Requested-With' header."
    )


def words(values: Sequence[str] | str | None) -> list[str]:
    """Items typed one per line or separated by commas (a form's text area), without blanks."""
    if values is None:
        return []
    text = values if isinstance(values, str) else "\n".join(values)
    return [item.strip() for line in text.splitlines() for item in line.split(",") if item.strip()]


def lines(text: str | None) -> list[str]:
    """Items typed one per line (schedules may hold commas), without blanks."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
