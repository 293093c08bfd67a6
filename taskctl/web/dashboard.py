"""The dashboard (`/`, and `/api/v1/status`: the status document), /metrics, and logging in.

The status is `taskctl status`'s own: `current_status` builds the report and `status_json` the document, so
`GET /api/v1/status` is `taskctl status --json` (`?tag=T`, repeatable, is `--tag T`) and the dashboard shows
what `taskctl status` shows.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from taskctl.web.call import Call
from taskctl.web.render import page, redirect, respond
from taskctl.web.security import SESSION_COOKIE, safe_next, session_value, token_matches


def status_document(call: Call) -> dict[str, Any]:
    """`taskctl status --json [--tag T ...]` at the site's now (`?tag=T`, repeatable)."""
    from taskctl.daemon.status import current_status, status_json

    site = call.site
    return status_json(current_status(site.workspace, site.now(), call.args("tag"), site.config))


def dashboard(call: Call) -> Response:
    """GET / (and /api/v1/status): the daemon, the runs going on, the next fires, the last 24 hours."""
    status = status_document(call)
    config, error = call.site.config_or_error()
    data: dict[str, Any] = {
        "status": status,
        "config_errors": [p.render() for p in error.problems] if error else [],
        "counts": {
            "processes": len(config.processes) if config else 0,
            "threads": len(config.threads) if config else 0,
        },
    }
    template = "dashboard_live.html" if call.arg("part") == "live" else "dashboard.html"
    return respond(call.request, template, data, document=status)


def metrics(call: Call) -> Response:
    """GET /metrics: the Prometheus text format."""
    from taskctl.web.metrics import render_metrics

    text = render_metrics(call.site, status_document(call))
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def login_form(call: Call) -> Response:
    """GET /login: the form that asks for the token."""
    if call.site.options.token is None:
        return redirect("/")  # nothing to log in to
    return page(call.request, "login.html", {"next": safe_next(call.arg("next")), "error": None})


def login(call: Call) -> Response:
    """POST /login: a right token sets the session cookie and goes on to `next`."""
    token = call.site.options.token
    given = str(call.value("token") or "").strip()
    target = safe_next(str(call.value("next") or "/"))
    if token is None:
        return redirect(target)
    if not token_matches(given, token):
        error = "that is not the token this server was started with (see its --token-file)."
        return page(call.request, "login.html", {"next": target, "error": error}, 401)
    response = redirect(target)
    response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True, samesite="strict")
    return response


def logout(call: Call) -> Response:
    """POST /logout: forget the session cookie."""
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response
