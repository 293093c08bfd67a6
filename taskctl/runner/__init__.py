"""Running chains of threads in run folders. Knows nothing of schedules.

`service.RunService` is the seam the CLI, the daemon and a web API use to start, select, load, cancel and reap
runs; the other modules are its parts.

Names are imported on first use, so that a command that only reads runs (`history`, `show`, `logs`) does not
pay for the config models and the process machinery that starting a run needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskctl.runner.chain import RunHooks
    from taskctl.runner.overlap import ActiveRun, Admission, OverlapDecision, decide_overlap
    from taskctl.runner.plan import ThreadPlan, plan_run
    from taskctl.runner.process import CancelToken, StopReason, cancel_on_signals
    from taskctl.runner.service import (
        CancelOutcome,
        CancelResult,
        CreatedRun,
        LoadedRun,
        RunRequest,
        RunService,
        open_service,
        wait_for_all_notifications,
    )

_HOMES = {
    "RunHooks": "chain",
    "ThreadPlan": "plan",
    "ActiveRun": "overlap",
    "Admission": "overlap",
    "OverlapDecision": "overlap",
    "decide_overlap": "overlap",
    "CancelToken": "process",
    "StopReason": "process",
    "cancel_on_signals": "process",
    "CancelOutcome": "service",
    "CancelResult": "service",
    "CreatedRun": "service",
    "LoadedRun": "service",
    "RunRequest": "service",
    "RunService": "service",
    "open_service": "service",
    "plan_run": "plan",
    "wait_for_all_notifications": "service",
}

__all__ = [
    "ActiveRun",
    "Admission",
    "CancelOutcome",
    "CancelResult",
    "CancelToken",
    "CreatedRun",
    "LoadedRun",
    "OverlapDecision",
    "RunHooks",
    "RunRequest",
    "RunService",
    "StopReason",
    "ThreadPlan",
    "cancel_on_signals",
    "decide_overlap",
    "open_service",
    "plan_run",
    "wait_for_all_notifications",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'taskctl.runner' has no attribute '{name}'")
    return getattr(importlib.import_module(f"taskctl.runner.{home}"), name)
