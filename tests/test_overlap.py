"""The overlap decision: pure, never waiting, shared by the CLI and the daemon."""

from __future__ import annotations

from taskctl.config.models import Overlap
from taskctl.runner import ActiveRun, Admission, OverlapDecision, decide_overlap
from taskctl.runs import RunStatus

RUNNING = ActiveRun("p/2026-11-22_02-30-00", RunStatus.RUNNING)
WAITING = ActiveRun("p/2026-11-22_02-31-00", RunStatus.QUEUED)
LATER = ActiveRun("p/2026-11-22_02-32-00", RunStatus.QUEUED)


def test_a_new_run_starts_when_nothing_is_active_whatever_the_policy() -> None:
    for policy in Overlap:
        assert decide_overlap(policy, 1, []) == OverlapDecision(Admission.START)


def test_skip_skips_while_a_run_is_active_unless_forced() -> None:
    assert decide_overlap(Overlap.SKIP, 1, [RUNNING]) == OverlapDecision(Admission.SKIP, (RUNNING.id,))
    assert decide_overlap(Overlap.SKIP, 1, [RUNNING], force=True).admission is Admission.START


def test_allow_starts_up_to_max_instances() -> None:
    assert decide_overlap(Overlap.ALLOW, 2, [RUNNING]).admission is Admission.START
    assert decide_overlap(Overlap.ALLOW, 1, [RUNNING]).admission is Admission.SKIP


def test_queue_keeps_at_most_one_run_waiting() -> None:
    assert decide_overlap(Overlap.QUEUE, 1, [RUNNING]) == OverlapDecision(Admission.QUEUE, (RUNNING.id,))
    assert decide_overlap(Overlap.QUEUE, 1, [RUNNING, WAITING]) == OverlapDecision(
        Admission.SKIP, (WAITING.id,)
    )


def test_a_waiting_run_starts_once_the_running_one_and_those_queued_before_it_are_gone() -> None:
    assert (
        decide_overlap(Overlap.QUEUE, 1, [RUNNING, WAITING], waiting=WAITING.id).admission is Admission.QUEUE
    )
    assert decide_overlap(Overlap.QUEUE, 1, [WAITING, LATER], waiting=LATER.id) == OverlapDecision(
        Admission.QUEUE, (WAITING.id,)
    )
    assert decide_overlap(Overlap.QUEUE, 1, [WAITING, LATER], waiting=WAITING.id).admission is Admission.START


def test_replace_names_every_active_run_to_stop_then_starts_once_they_are_gone() -> None:
    assert decide_overlap(Overlap.REPLACE, 1, [RUNNING]) == OverlapDecision(Admission.REPLACE, (RUNNING.id,))
    assert decide_overlap(Overlap.REPLACE, 1, [RUNNING, WAITING], waiting=WAITING.id) == OverlapDecision(
        Admission.REPLACE, (RUNNING.id,)
    )
    assert decide_overlap(Overlap.REPLACE, 1, [WAITING], waiting=WAITING.id).admission is Admission.START
