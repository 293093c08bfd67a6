"""What to do when a process is asked to run while runs of it are still active (DESIGN §3, overlap policy).

A pure decision, shared by manual runs and the daemon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from taskctl.config.models import Overlap


class Admission(StrEnum):
    START = "start"  # run now
    SKIP = "skip"  # do not run; record the run as skipped
    QUEUE = "queue"  # wait until the active runs have finished
    REPLACE = "replace"  # stop the active runs, wait for them, then run


@dataclass(frozen=True)
class OverlapDecision:
    admission: Admission
    blockers: list[str] = field(default_factory=list)  # the active run ids that cause a skip, wait or replace


def decide_overlap(
    policy: Overlap, max_instances: int, active: Sequence[str], force: bool = False
) -> OverlapDecision:
    """Whether a new run of a process starts, given the ids of its runs still queued or running."""
    if force or not active:
        return OverlapDecision(Admission.START)
    blockers = list(active)
    if policy is Overlap.ALLOW:
        if len(active) < max_instances:
            return OverlapDecision(Admission.START)
        return OverlapDecision(Admission.SKIP, blockers)
    if policy is Overlap.QUEUE:
        return OverlapDecision(Admission.QUEUE, blockers)
    if policy is Overlap.REPLACE:
        return OverlapDecision(Admission.REPLACE, blockers)
    return OverlapDecision(Admission.SKIP, blockers)
