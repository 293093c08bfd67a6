"""The ASGI application of `taskctl serve`: the pages, /api/v1 (the same views, answering JSON), /metrics.

from taskctl.web.app import create_app
app = create_app(Site(workspace, ServeOptions()))     # any ASGI server runs it; tests drive it in process
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.web import config_views, dashboard, runs, skus
from taskctl.web.api import ENDPOINTS, PREFIX, openapi_document
from taskctl.web.call import Call, View, endpoint
from taskctl.web.paths import OutsideWorkspace
from taskctl.web.render import error_response, json_response, page
from taskctl.web.security import BodyTooLarge, Guard
from taskctl.web.site import Site

STATIC = Path(__file__).parent / "static"

# The pages. Under /api/v1 the same views answer JSON (see taskctl.web.api).
PAGES: tuple[tuple[str, str, View], ...] = (
    ("GET", "/", dashboard.dashboard),
    ("GET", "/processes", config_views.process_list),
    ("POST", "/processes", config_views.process_add),
    ("GET", "/processes/new", config_views.process_new_form),
    ("GET", "/processes/{name}", config_views.process_page),
    ("GET", "/processes/{name}/edit", config_views.process_edit_form),
    ("POST", "/processes/{name}/edit", config_views.process_edit),
    ("POST", "/processes/{name}/yaml", config_views.process_source),
    ("POST", "/processes/{name}/enable", config_views.process_enable),
    ("POST", "/processes/{name}/disable", config_views.process_disable),
    ("POST", "/processes/{name}/delete", config_views.process_remove),
    ("POST", "/processes/{name}/run", config_views.process_run),
    ("GET", "/threads", config_views.thread_list),
    ("POST", "/threads", config_views.thread_add),
    ("GET", "/threads/new", config_views.thread_new_form),
    ("GET", "/threads/{name}", config_views.thread_page),
    ("GET", "/threads/{name}/edit", config_views.thread_edit_form),
    ("POST", "/threads/{name}/edit", config_views.thread_edit),
    ("POST", "/threads/{name}/yaml", config_views.thread_source),
    ("POST", "/threads/{name}/files", config_views.thread_upload),
    ("POST", "/threads/{name}/enable", config_views.thread_enable),
    ("POST", "/threads/{name}/disable", config_views.thread_disable),
    ("POST", "/threads/{name}/delete", config_views.thread_remove),
    ("POST", "/threads/{name}/run", config_views.thread_run),
    ("GET", "/runs", runs.history),
    ("GET", "/runs/{process}/{stamp}", runs.run_page),
    ("GET", "/runs/{process}/{stamp}/log", runs.run_log),
    ("GET", "/runs/{process}/{stamp}/events", runs.run_events),
    ("GET", "/runs/{process}/{stamp}/download", runs.run_download),
    ("GET", "/runs/{process}/{stamp}/files/{path:path}", runs.run_file_view),
    ("POST", "/runs/{process}/{stamp}/cancel", runs.run_cancel),
    ("GET", "/skus", skus.sku_list),
    ("POST", "/skus", skus.sku_add),
    ("GET", "/skus/new", skus.sku_new_form),
    ("GET", "/skus/import", skus.sku_import_form),
    ("POST", "/skus/import", skus.sku_import),
    ("GET", "/skus/export", skus.sku_export),
    ("POST", "/skus/delete", skus.sku_remove),
    ("GET", "/sku/{sku:path}", skus.sku_page),
    ("POST", "/sku/{sku:path}", skus.sku_edit),
    ("GET", "/metrics", dashboard.metrics),
    ("GET", "/login", dashboard.login_form),
    ("POST", "/login", dashboard.login),
    ("POST", "/logout", dashboard.logout),
)


def openapi_json(call: Call) -> Response:
    """GET /api/v1/openapi.json."""
    return json_response(openapi_document())


def api_docs(call: Call) -> Response:
    """GET /api/v1/docs: the API described as a page (from the same OpenAPI document)."""
    return page(call.request, "api_docs.html", {"spec": openapi_document()})


def create_app(site: Site) -> Starlette:
    """The application serving `site`."""
    routes: list[BaseRoute] = [Route(path, endpoint(view), methods=[method]) for method, path, view in PAGES]
    routes += [Route(PREFIX + e.path, endpoint(e.view), methods=[e.method]) for e in ENDPOINTS]
    routes += [
        Route(PREFIX + "/openapi.json", endpoint(openapi_json), methods=["GET"]),
        Route(PREFIX + "/docs", endpoint(api_docs), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, site=site)],
        exception_handlers={
            TaskctlError: _expected_failure,
            BodyTooLarge: _too_large,
            HTTPException: _http_error,
        },
    )
    app.state.site = site
    return app


async def _expected_failure(request: Request, error: Exception) -> Response:
    assert isinstance(error, TaskctlError)
    return error_response(request, error, 403 if isinstance(error, OutsideWorkspace) else None)


async def _too_large(request: Request, error: Exception) -> Response:
    assert isinstance(error, BodyTooLarge)
    return error_response(request, UsageError(error.message), 413)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        failure: TaskctlError = NotFoundError(f"there is no page at {request.url.path}.")
    elif error.status_code == 405:
        failure = UsageError(f"{request.method} is not allowed on {request.url.path}.")
    else:
        failure = UsageError(str(error.detail))
    return error_response(request, failure, error.status_code)
