"""The web side of taskctl (`taskctl serve`): the dashboard pages, the HTTP API under /api/v1 and /metrics,
a thin layer over the same library the CLI calls (the `taskctl[web]` extra: Starlette, uvicorn, Jinja2).

Nothing is imported here: `taskctl.web.serve` checks that the extra is installed before anything of it loads.
"""
