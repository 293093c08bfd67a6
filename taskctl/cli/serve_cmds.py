"""`taskctl serve`: the web dashboard, the HTTP API (/api/v1) and /metrics (the `taskctl[web]` extra)."""

from __future__ import annotations

from pathlib import Path

import typer

from taskctl.cli import common


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on (loopback by default)."),
    port: int = typer.Option(8470, "--port", min=0, max=65535, help="The port to listen on."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="A file holding a secret every request must carry (needed off loopback)."
    ),
    max_upload_size: str = typer.Option(
        "100MB", "--max-upload-size", help="The largest request body accepted (uploads, CSV imports)."
    ),
) -> None:
    """Serve the web dashboard, the HTTP API under /api/v1 and /metrics for this workspace.

    Listens on 127.0.0.1 unless --host says otherwise; any other address needs --token-file, and then every
    request must carry the token (an 'Authorization: Bearer TOKEN' header, or the login form's cookie).
    Needs the web extra: pip install 'taskctl[web]'. Ctrl-C stops it.

    Example:

        taskctl serve
        taskctl serve --host 0.0.0.0 --port 8470 --token-file ~/.taskctl-token
    """
    from taskctl.web.serve import ServeRequest, serve_workspace

    request = ServeRequest(host, port, token_file, max_upload_size)
    serve_workspace(common.workspace(), request, echo=lambda line: typer.echo(line, err=True))
