"""Starting the server: the checks `taskctl serve` makes before it listens, then uvicorn.

Imported by the command before anything of the web stack, so that a missing extra is one sentence, not a
traceback.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from taskctl.errors import TaskctlError, UsageError
from taskctl.workspace import Workspace

if TYPE_CHECKING:
    from taskctl.web.site import Site

WEB_PACKAGES = ("starlette", "uvicorn", "jinja2", "multipart")


@dataclass(frozen=True)
class ServeRequest:
    """The options of `taskctl serve`, as typed."""

    host: str
    port: int
    token_file: Path | None
    max_upload_size: str


def check_web_extra() -> None:
    """A TaskctlError saying how to install the web extra when one of its packages is missing."""
    missing = [name for name in WEB_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise TaskctlError(
            f"taskctl serve needs the web extra, which is not installed (missing: {', '.join(missing)}); "
            "install it with: pip install 'taskctl[web]'"
        )


def serve_workspace(workspace: Workspace, request: ServeRequest, echo: Callable[[str], None]) -> None:
    """Check the options, listen, and serve until Ctrl-C or SIGTERM."""
    check_web_extra()
    from taskctl.units import parse_size
    from taskctl.web.security import check_listen, read_token, token_file_warning
    from taskctl.web.site import ServeOptions, Site

    try:
        max_upload = parse_size(request.max_upload_size)
    except ValueError as error:
        raise UsageError(f"--max-upload-size: {error}") from None
    check_listen(request.host, request.token_file)
    token = None
    if request.token_file is not None:
        token = read_token(request.token_file)
        warning = token_file_warning(request.token_file)
        if warning:
            echo(f"warning: {warning}")
    listener = listen(request.host, request.port)
    options = ServeOptions(request.host, listener.getsockname()[1], token, max_upload)
    site = Site(workspace, options)
    _, problem = site.config_or_error()
    if problem is not None:
        echo(f"warning: the config is invalid ({problem.problems[0].render()}); the pages say what to fix")
    shown = f"[{request.host}]" if ":" in request.host else request.host
    echo(f"serving {workspace.root} on http://{shown}:{options.port}/ (API: /api/v1/docs); Ctrl-C stops")
    _run(site, listener)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or one sentence saying why there cannot be one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise TaskctlError(
            f"cannot listen on {host}:{port}: {reason}; choose another --port (or --host)."
        ) from None


def _run(site: Site, listener: socket.socket) -> None:
    import uvicorn

    from taskctl.web.app import create_app

    config = uvicorn.Config(create_app(site), log_level="info", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[listener])
    finally:
        listener.close()
