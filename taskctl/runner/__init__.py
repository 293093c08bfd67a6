"""Running chains of threads in run folders (DESIGN §4). Knows nothing of schedules.

`service.RunService` is the seam the CLI, the daemon and a web API use to start, select, load, cancel and reap
runs; the other modules are its parts.
"""

from taskctl.runner.chain import RunHooks, ThreadPlan
from taskctl.runner.overlap import ActiveRun, Admission, OverlapDecision, decide_overlap
from taskctl.runner.process import CancelToken, StopReason, cancel_on_signals
from taskctl.runner.service import (
    CancelOutcome,
    CancelResult,
    CreatedRun,
    LoadedRun,
    RunRequest,
    RunService,
    open_service,
    plan_run,
    wait_for_all_notifications,
)

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
