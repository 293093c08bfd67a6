"""What to do when a process is asked to run while runs of it are still active (the overlap policy).

A pure decision, shared by the CLI and the daemon. It never waits: a run told to QUEUE (or to REPLACE, once
the runs in its way are asked to stop) is decided again later with `waiting=` its id, by a CLI that polls or
by a daemon that holds the run in memory without tying up a worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from taskctl.config.models import Overlap
from taskctl.runs import RunStatus


class Admission(StrEnum):
    START = "start"  # run now
    SKIP = "skip"  # do not run; the run is recorded as skipped
    QUEUE = "queue"  # wait until the runs ahead have finished
    REPLACE = "replace"  # ask the runs ahead to stop, then run once they have


@dataclass(frozen=True)
class ActiveRun:
    """A run of the same process that is still queued or running."""

    id: str
    status: RunStatus


@dataclass(frozen=True)
class OverlapDecision:
    admission: Admission
    blockers: tuple[str, ...] = ()  # the active run ids that cause a skip, a wait or a replace


def decide_overlap(
    policy: Overlap,
    max_instances: int,
    active: Sequence[ActiveRun],
    force: bool = False,
    waiting: str | None = None,
) -> OverlapDecision:
    """Whether a run starts now, given the other runs of its process still active (oldest first).

    A new run: `skip` skips it while any run is active, `allow` starts it while fewer than `max_instances`
    are, `queue` makes it wait (and skips it when another run is already waiting: at most one waits),
    `replace` asks every active run to stop. A run already waiting (`waiting` is its id, and it is in
    `active`) starts once no run is running and no run queued before it is left.
    """
    if waiting is not None:
        return _decide_waiting(policy, max_instances, active, waiting)
    if force or not active:
        return OverlapDecision(Admission.START)
    everyone = tuple(run.id for run in active)
    if policy is Overlap.ALLOW:
        if len(active) < max_instances:
            return OverlapDecision(Admission.START)
        return OverlapDecision(Admission.SKIP, everyone)
    if policy is Overlap.QUEUE:
        queued = tuple(run.id for run in active if run.status is RunStatus.QUEUED)
        if queued:
            return OverlapDecision(Admission.SKIP, queued)
        return OverlapDecision(Admission.QUEUE, everyone)
    if policy is Overlap.REPLACE:
        return OverlapDecision(Admission.REPLACE, everyone)
    return OverlapDecision(Admission.SKIP, everyone)


def _decide_waiting(
    policy: Overlap, max_instances: int, active: Sequence[ActiveRun], waiting: str
) -> OverlapDecision:
    ids = [run.id for run in active]
    ahead = active[: ids.index(waiting)] if waiting in ids else active
    blockers = tuple(
        run.id for run in active if run.id != waiting and (run.status is RunStatus.RUNNING or run in ahead)
    )
    if policy is Overlap.ALLOW:
        running = [run for run in active if run.status is RunStatus.RUNNING]
        return OverlapDecision(Admission.START if len(running) < max_instances else Admission.QUEUE, blockers)
    if not blockers:
        return OverlapDecision(Admission.START)
    return OverlapDecision(Admission.REPLACE if policy is Overlap.REPLACE else Admission.QUEUE, blockers)
