"""The daemon's status for the dashboard and /metrics, in the shape of `taskctl status --json`.

Isolated here, behind `status_document`, because the daemon's own status record is not in this version yet:
until `taskctl.daemon.status` lands, the document is built from what the daemon leaves today (its lock: is
one running, and its pid; its record of the config it applied: revision and when) and from the run index.
When the status API lands, `status_document` becomes `status_json(current_status(workspace, now))`, and
the pages and metrics keep working unchanged (they read only the keys below).

    {"daemon": {"running", "pid", "config_revision", "applied_at", "last_reload", "config_errors"},
     "running": [{"id", "process", "status", "trigger", "thread", "progress", "started", "elapsed"}],
     "next": [{"process", "at"}],
     "last_24h": {"missed", "missed_by_process", "skipped", "failed", "failed_runs"},
     "notes": [...]}
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskctl.runs import RunStatus, utc_text
from taskctl.web.site import Site

NEXT_FIRES = 5
RECENT = timedelta(hours=24)
FAILED_STATUSES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)


def status_document(site: Site) -> dict[str, Any]:
    """The status of the daemon and of the runs, now."""
    from taskctl.daemon.lock import running_daemon
    from taskctl.daemon.plan import SnapshotError, read_applied
    from taskctl.runner.service import open_service

    now = site.now()
    notes: list[str] = []
    pid = running_daemon(site.workspace)
    daemon: dict[str, Any] = {"running": pid is not None, "pid": pid or None}
    config, error = site.config_or_error()
    if pid is not None:
        try:
            applied = read_applied(site.workspace)
        except SnapshotError as problem:
            applied = None
            notes.append(problem.message)
        daemon["config_revision"] = applied.view.revision if applied else None
        daemon["applied_at"] = utc_text(applied.applied_at) if applied else None
        daemon["last_reload"] = daemon["applied_at"]
        daemon["config_errors"] = [p.render() for p in error.problems] if error else []
    elif error is not None:
        notes.append("the config on disk is invalid: " + error.problems[0].render())
    with open_service(site.workspace, read_only=True) as service:
        service.reap()
        active = service.store.active()
        recent = service.store.runs(
            statuses=[*FAILED_STATUSES, RunStatus.SKIPPED], since=now - RECENT, limit=None
        )
    missed: dict[str, int] = {}
    for row in recent:
        if row.status is RunStatus.SKIPPED and not row.has_folder:
            missed[row.process] = missed.get(row.process, 0) + 1
    failed = [row for row in recent if row.status in FAILED_STATUSES]
    return {
        "daemon": daemon,
        "tag": None,
        "running": [
            {
                "id": row.id,
                "process": row.process,
                "status": str(row.status),
                "trigger": str(row.trigger),
                "thread": row.current_thread,
                "progress": row.progress,
                "started": utc_text(row.started),
                "elapsed": round((now - row.started).total_seconds(), 3),
            }
            for row in active
        ],
        "next": _next_fires(site) if config is not None else [],
        "last_24h": {
            "missed": sum(missed.values()),
            "missed_by_process": dict(sorted(missed.items())),
            "skipped": sum(1 for row in recent if row.status is RunStatus.SKIPPED and row.has_folder),
            "failed": len(failed),
            "failed_runs": [row.to_json() for row in failed[:10]],
        },
        "notes": notes,
    }


def _next_fires(site: Site) -> list[dict[str, Any]]:
    from taskctl.upcoming import upcoming

    items = upcoming(site.config(), site.now(), count=NEXT_FIRES)
    return [{"process": item.process, "at": utc_text(item.at)} for item in items]
