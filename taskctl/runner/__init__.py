"""Running chains of threads in run folders (DESIGN §4). Knows nothing of schedules.

`run_chain` runs a process now; the daemon may call `prepare_run`, `admit_run` and `execute_run` itself.
"""

from taskctl.runner.chain import (
    RunHooks,
    ThreadPlan,
    admit_run,
    create_run_folder,
    execute_run,
    plan_chain,
    prepare_run,
    run_chain,
    run_stamp,
)
from taskctl.runner.control import (
    CancelOutcome,
    cancel_run,
    is_alive,
    mark_interrupted,
    reap_dead_runs,
    resolve_run_id,
)
from taskctl.runner.overlap import Admission, OverlapDecision, decide_overlap
from taskctl.runner.process import CancelToken, StopReason

__all__ = [
    "Admission",
    "CancelOutcome",
    "CancelToken",
    "OverlapDecision",
    "RunHooks",
    "StopReason",
    "ThreadPlan",
    "admit_run",
    "cancel_run",
    "create_run_folder",
    "decide_overlap",
    "execute_run",
    "is_alive",
    "mark_interrupted",
    "plan_chain",
    "prepare_run",
    "reap_dead_runs",
    "resolve_run_id",
    "run_chain",
    "run_stamp",
]
