"""The run service: creating runs in one step, admission, selection, loading, cancelling and reaping."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from taskctl.clock import FakeClock
from taskctl.config import load_config
from taskctl.config.loader import ResolvedProcess
from taskctl.errors import NotFoundError, TaskctlError, UsageError
from taskctl.runner import Admission, CancelOutcome, CancelToken, RunRequest, RunService, open_service
from taskctl.runner.service import ClaimLater, CreatedRun, SlotClaim
from taskctl.runs import (
    RunId,
    RunOwner,
    RunRecord,
    RunStatus,
    ThreadStatus,
    Trigger,
    read_run_json,
    write_run_json,
)
from taskctl.store import RunRow, SlotTakenError, Store, Transaction
from taskctl.workspace import Workspace
from tests.conftest import write

# 03:30 in Berlin: the run folders of this clock are named 2026-11-22_03-30-00
NIGHT = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
DEAD = 999_999  # a pid no process has


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    write(
        empty_workspace.config_dir / "taskctl.yaml", "timezone: Europe/Berlin\ndefaults: {kill_grace: 0.3}\n"
    )
    write(empty_workspace.config_dir / "threads.yaml", "threads:\n  job:\n    code: pass\n")
    write(
        empty_workspace.config_dir / "processes.yaml",
        "processes:\n"
        "  queued:\n    threads: [job]\n    overlap: queue\n"
        "  replaced:\n    threads: [job]\n    overlap: replace\n",
    )
    return empty_workspace


def definition(ws: Workspace, name: str = "job") -> ResolvedProcess:
    return load_config(ws).resolved(name)


def service(ws: Workspace, clock: FakeClock | None = None) -> RunService:
    return RunService(ws, Store(ws.state_db), clock or FakeClock(NIGHT))


def as_if_dead(svc: RunService, record: RunRecord) -> None:
    """Make `record`'s runner look dead, in the index only (as after a kill -9)."""
    record.pid, record.pid_start = DEAD, 1
    svc.store.save_run(record)


# -- creating ----------------------------------------------------------------------------------------


def test_a_created_run_has_its_row_folder_and_run_json_and_this_process_as_runner(ws: Workspace) -> None:
    svc = service(ws)

    created = svc.create(definition(ws), RunRequest())

    record = created.record
    assert (created.decision.admission, record.id) == (Admission.START, "job/2026-11-22_03-30-00")
    assert record.folder == ws.root / "process" / "job" / "2026-11-22_03-30-00"
    on_disk = read_run_json(record.folder)
    assert (on_disk.status, on_disk.threads[0].status) == (RunStatus.RUNNING, ThreadStatus.RUNNING)
    assert (on_disk.pid, on_disk.owner, on_disk.host) == (os.getpid(), RunOwner.CLI, record.host)
    row = svc.store.get(record.id)
    assert row is not None and (row.status, row.current_thread) == (RunStatus.RUNNING, "job")


def test_runs_created_in_the_same_second_are_numbered_from_2(ws: Workspace) -> None:
    svc = service(ws)

    ids = [svc.create(definition(ws), RunRequest(force=True)).record.id for _ in range(3)]

    assert ids == ["job/2026-11-22_03-30-00", "job/2026-11-22_03-30-00-2", "job/2026-11-22_03-30-00-3"]


def test_one_schedule_slot_creates_one_run(ws: Workspace) -> None:
    svc = service(ws)
    slot = RunRequest(Trigger.SCHEDULE, scheduled_for=NIGHT, owner=RunOwner.DAEMON, force=True)

    first = svc.create(definition(ws), slot)
    with pytest.raises(SlotTakenError):
        svc.create(definition(ws), slot)

    assert [p.name for p in (ws.root / "process" / "job").iterdir()] == [first.record.folder.name]
    assert [r.id for r in svc.store.runs()] == [first.record.id]


def test_what_the_caller_adds_to_the_creating_transaction_commits_or_fails_with_it(ws: Workspace) -> None:
    svc = service(ws)

    def claim_cursor(tx: Transaction) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS cursors (process TEXT PRIMARY KEY, next TEXT)")
        tx.execute("INSERT INTO cursors VALUES ('job', 'later')")

    svc.create(definition(ws), RunRequest(force=True), within=claim_cursor)
    with pytest.raises(Exception, match="UNIQUE"):
        svc.create(definition(ws), RunRequest(force=True), within=claim_cursor)

    assert len(svc.store.runs()) == 1  # the second run rolled back with the cursor that failed
    assert len(list((ws.root / "process" / "job").iterdir())) == 1


def test_slots_claimed_together_are_one_transaction_that_writes_no_folder(ws: Workspace) -> None:
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  skipper:\n    threads: [job]\n    overlap: skip\n",
    )
    svc = service(ws)
    later = datetime(2026, 11, 22, 2, 31, tzinfo=UTC)
    taken = svc.create(definition(ws), RunRequest(Trigger.SCHEDULE, NIGHT, owner=RunOwner.DAEMON))
    saved: list[str] = []

    def note(name: str) -> Callable[[Transaction], None]:
        def within(tx: Transaction) -> None:
            tx.execute("CREATE TABLE IF NOT EXISTS notes (name TEXT)")
            tx.execute("INSERT INTO notes VALUES (?)", (name,))
            saved.append(name)

        return within

    results = svc.claim_slots(
        [
            SlotClaim(
                definition(ws), RunRequest(Trigger.SCHEDULE, NIGHT, owner=RunOwner.DAEMON), note("taken")
            ),
            SlotClaim(
                definition(ws), RunRequest(Trigger.SCHEDULE, later, owner=RunOwner.DAEMON), note("job")
            ),
            SlotClaim(
                definition(ws, "skipper"),
                RunRequest(Trigger.SCHEDULE, NIGHT, owner=RunOwner.DAEMON),
                note("s1"),
            ),
            SlotClaim(
                definition(ws, "skipper"),
                RunRequest(Trigger.SCHEDULE, later, owner=RunOwner.DAEMON),
                note("s2"),
            ),
        ]
    )

    assert isinstance(results[0], SlotTakenError)  # only that claim fails: the others are created
    created = [r for r in results[1:] if isinstance(r, CreatedRun)]
    # overlap: skip (the default): each second run saw the first one, even one claimed in this transaction
    assert [c.decision.admission for c in created] == [Admission.SKIP, Admission.START, Admission.SKIP]
    assert created[2].record.status is RunStatus.SKIPPED
    assert created[0].record.id != taken.record.id  # numbered after the run of the same second
    assert {r.id for r in svc.store.runs()} == {taken.record.id, *(c.record.id for c in created)}
    assert [row[0] for row in svc.store.query("SELECT name FROM notes")] == ["job", "s1", "s2"]
    assert not any(c.record.folder.exists() for c in created)  # the caller writes them: make_folder
    for claimed in created:
        svc.make_folder(definition(ws, claimed.record.process), claimed)
    assert read_run_json(created[2].record.folder).status is RunStatus.SKIPPED


def test_slots_claimed_early_start_at_their_instant_or_wait_to_be_claimed_then(ws: Workspace) -> None:
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  busy:\n    threads: [job]\n    overlap: skip\n  behind:\n    threads: [job]\n",
    )
    svc = service(ws, FakeClock(NIGHT - timedelta(seconds=0.2)))  # 03:29:59.8 in Berlin
    ahead = RunRequest(Trigger.SCHEDULE, NIGHT, owner=RunOwner.DAEMON)
    late = RunRequest(Trigger.CATCH_UP, NIGHT - timedelta(minutes=1), owner=RunOwner.DAEMON)
    blocker = svc.create(definition(ws, "busy"), RunRequest())  # still running
    notes: list[str] = []

    results = svc.claim_slots(
        [
            SlotClaim(definition(ws, "behind"), late),
            SlotClaim(definition(ws, "busy"), ahead, lambda tx: notes.append("busy")),
            SlotClaim(definition(ws), ahead),
        ],
        early=True,
    )

    caught_up, later, early = results
    # a slot already due is claimed as always, at the clock's second
    assert isinstance(caught_up, CreatedRun) and caught_up.record.started == NIGHT - timedelta(seconds=0.2)
    assert str(caught_up.record.id) == "behind/2026-11-22_03-29-59"
    # a slot ahead: its run starts at the slot, named by it
    assert isinstance(early, CreatedRun) and early.decision.admission is Admission.START
    assert early.record.started == NIGHT and early.record.threads[0].started == NIGHT
    assert str(early.record.id) == "job/2026-11-22_03-30-00"
    # one that would be skipped now is not decided ahead: the run in its way may end before its instant
    assert isinstance(later, ClaimLater) and later.slot == NIGHT
    assert notes == []
    assert [row.id for row in svc.store.runs("busy", limit=None)] == [blocker.record.id]
    # claimed again at its instant (without early, as the daemon does), the policy decides
    [skipped] = svc.claim_slots([SlotClaim(definition(ws, "busy"), ahead)])
    assert isinstance(skipped, CreatedRun) and skipped.decision.admission is Admission.SKIP


def test_a_missed_slot_is_a_skipped_row_without_a_folder_that_claims_the_slot(ws: Workspace) -> None:
    svc = service(ws)

    run_id = svc.record_missed("job", NIGHT, "Europe/Berlin")

    assert run_id == "job/2026-11-22_03-30-00-missed"
    assert not (ws.root / "process" / "job").exists()
    loaded = svc.load(run_id)
    assert (loaded.record.status, loaded.record.error, loaded.problem) == (RunStatus.SKIPPED, "missed", None)
    with pytest.raises(SlotTakenError):
        svc.create(definition(ws), RunRequest(Trigger.SCHEDULE, scheduled_for=NIGHT, owner=RunOwner.DAEMON))


# -- admission ---------------------------------------------------------------------------------------


def test_a_second_run_is_skipped_while_the_first_runs_and_starts_once_its_runner_died(ws: Workspace) -> None:
    svc = service(ws)
    first = svc.create(definition(ws), RunRequest()).record

    second = svc.create(definition(ws), RunRequest())
    as_if_dead(svc, first)
    third = svc.create(definition(ws), RunRequest())

    assert second.decision.admission is Admission.SKIP
    assert read_run_json(second.record.folder).error == f"skipped: {first.id} still active (overlap: skip)"
    assert third.decision.admission is Admission.START
    assert read_run_json(first.folder).status is RunStatus.INTERRUPTED


def test_a_queued_run_is_decided_again_without_waiting_and_one_more_is_skipped(ws: Workspace) -> None:
    svc = service(ws)
    running = svc.create(definition(ws, "queued"), RunRequest()).record

    waiting = svc.create(definition(ws, "queued"), RunRequest())
    third = svc.create(definition(ws, "queued"), RunRequest())
    still = svc.admit(waiting.record, definition(ws, "queued"))
    running.status = RunStatus.SUCCEEDED
    svc.store.save_run(running)
    now = svc.admit(waiting.record, definition(ws, "queued"))

    assert waiting.decision.admission is Admission.QUEUE
    assert svc.store.get(waiting.record.id).status is RunStatus.RUNNING  # type: ignore[union-attr]
    assert third.decision.admission is Admission.SKIP
    assert (still.admission, now.admission) == (Admission.QUEUE, Admission.START)
    assert read_run_json(waiting.record.folder).status is RunStatus.RUNNING


def test_a_waiting_run_starts_when_the_run_ahead_finishes_in_another_thread(ws: Workspace) -> None:
    first = service(ws).create(definition(ws, "queued"), RunRequest()).record
    with open_service(ws) as svc:
        waiting = svc.create(definition(ws, "queued"), RunRequest())

        def finish_first() -> None:
            time.sleep(0.3)
            with Store(ws.state_db) as other:  # one Store per thread
                first.status = RunStatus.SUCCEEDED
                other.save_run(first)

        threading.Thread(target=finish_first).start()
        started = time.monotonic()
        assert svc.wait_for_admission(waiting, definition(ws, "queued"), CancelToken(), poll=0.05)
        assert time.monotonic() - started >= 0.25


def test_a_run_cancelled_while_it_waits_is_recorded_cancelled(ws: Workspace) -> None:
    svc = service(ws)
    svc.create(definition(ws, "queued"), RunRequest())
    waiting = svc.create(definition(ws, "queued"), RunRequest())
    token = CancelToken()
    token.cancel()

    assert not svc.wait_for_admission(waiting, definition(ws, "queued"), token)
    record = read_run_json(waiting.record.folder)
    assert (record.status, record.error) == (
        RunStatus.CANCELLED,
        "cancelled while waiting for the runs ahead of it",
    )
    assert svc.store.get(waiting.record.id).status is RunStatus.CANCELLED  # type: ignore[union-attr]


def test_replace_asks_a_daemon_run_in_the_way_to_stop(ws: Workspace) -> None:
    svc = service(ws)
    daemon_run = svc.create(definition(ws, "replaced"), RunRequest(owner=RunOwner.DAEMON)).record
    replacing = svc.create(definition(ws, "replaced"), RunRequest())
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()

    svc.wait_for_admission(replacing, definition(ws, "replaced"), token, poll=0.05)

    assert replacing.decision.blockers == (daemon_run.id,)
    assert svc.cancel_requests([daemon_run.id]) == {daemon_run.id}


# -- selecting and loading ---------------------------------------------------------------------------


def test_runs_are_selected_by_id_prefix_latest_and_since(ws: Workspace) -> None:
    clock = FakeClock(NIGHT)
    svc = service(ws, clock)
    ids = []
    for _ in range(3):
        record = svc.create(definition(ws), RunRequest()).record
        record.status = RunStatus.SUCCEEDED
        svc.store.save_run(record)
        ids.append(record.id)
        clock.advance(3600)

    assert svc.select(["job@latest"]) == [ids[2]]
    assert svc.select(["job/2026-11-22_04"]) == [ids[1]]
    assert svc.select(["job"], latest=True) == [ids[2]]
    assert svc.select(["job"], since=NIGHT.replace(hour=3)) == ids[1:]
    with pytest.raises(UsageError, match="'job' is a process; add --latest or --since 7d"):
        svc.select(["job"])
    with pytest.raises(UsageError, match="matches several runs"):
        svc.resolve("job/2026-11-22")
    with pytest.raises(NotFoundError, match=r"no run of 'jobb'; did you mean 'job'\?"):
        svc.resolve("jobb@latest")


def test_a_run_still_running_is_refused_unless_allowed(ws: Workspace) -> None:
    svc = service(ws)
    record = svc.create(definition(ws), RunRequest()).record

    with pytest.raises(
        TaskctlError, match="is still running; wait for it, cancel it, or pass --allow-running"
    ):
        svc.select([record.id], allow_running=False)
    assert svc.select([record.id]) == [record.id]


def test_an_unreadable_run_json_loads_as_the_index_knows_it_with_the_reason(ws: Workspace) -> None:
    svc = service(ws)
    record = svc.create(definition(ws), RunRequest()).record
    (record.folder / "run.json").write_text("[]")

    loaded = svc.load(record.id)

    assert (loaded.record.id, loaded.record.status) == (record.id, RunStatus.RUNNING)
    assert loaded.problem == f"{record.folder / 'run.json'} is unreadable: it is not a JSON object"


# -- cancelling --------------------------------------------------------------------------------------


def test_cancelling_a_daemon_run_asks_the_daemon_through_the_index(ws: Workspace) -> None:
    svc = service(ws)
    record = svc.create(definition(ws), RunRequest(owner=RunOwner.DAEMON)).record  # this process: alive

    result = svc.cancel(record.id, wait=0.1)

    assert (result.outcome, result.status) == (CancelOutcome.REQUESTED, RunStatus.RUNNING)
    assert svc.cancel_requests([record.id]) == {record.id}


def test_cancelling_a_run_whose_runner_is_gone_marks_it_interrupted(ws: Workspace) -> None:
    svc = service(ws)
    record = svc.create(definition(ws), RunRequest()).record
    as_if_dead(svc, record)

    result = svc.cancel(record.id)

    assert (result.outcome, result.status) == (CancelOutcome.INTERRUPTED, RunStatus.INTERRUPTED)
    assert read_run_json(record.folder).status is RunStatus.INTERRUPTED


# -- reaping: every crash leaves something the next reader repairs -----------------------------------


def crashed_after_the_commit(svc: RunService, ws: Workspace, folder: bool) -> RunRecord:
    """The state a `kill -9` leaves between the creating transaction and run.json: a row, maybe a folder."""
    record = svc.create(definition(ws), RunRequest(force=True)).record
    (record.folder / "run.json").unlink()
    if not folder:
        record.folder.rmdir()
    as_if_dead(svc, record)
    return record


@pytest.mark.parametrize("folder", [False, True], ids=["before the folder", "before run.json"])
def test_a_run_whose_runner_died_while_creating_it_becomes_interrupted_with_a_run_json(
    ws: Workspace, folder: bool
) -> None:
    svc = service(ws)
    record = crashed_after_the_commit(svc, ws, folder)

    assert svc.reap() == [record.id]

    on_disk = read_run_json(record.folder)
    assert (on_disk.status, on_disk.error) == (
        RunStatus.INTERRUPTED,
        f"the runner (pid {DEAD}) stopped before the run finished",
    )
    assert svc.store.get(record.id).status is RunStatus.INTERRUPTED  # type: ignore[union-attr]


def test_run_json_wins_over_an_index_that_missed_the_end_of_a_run(ws: Workspace) -> None:
    svc = service(ws)
    record = svc.create(definition(ws), RunRequest()).record
    svc.store.save_run(record)  # the index says running, with a live runner (this process)
    finished = read_run_json(record.folder)
    finished.status = RunStatus.SUCCEEDED
    finished.finished = NIGHT
    write_run_json(finished)

    assert svc.reap() == [record.id]
    assert svc.store.get(record.id).status is RunStatus.SUCCEEDED  # type: ignore[union-attr]


def test_only_runs_recorded_on_this_host_are_reaped(ws: Workspace) -> None:
    svc = service(ws)
    record = svc.create(definition(ws), RunRequest()).record
    as_if_dead(svc, record)
    with svc.store.transaction() as tx:
        tx.execute("UPDATE runs SET host = 'another-machine' WHERE id = ?", (record.id,))

    assert svc.reap() == []
    row = svc.store.get(record.id)
    assert isinstance(row, RunRow) and row.status is RunStatus.RUNNING


def test_the_service_refuses_a_thread_that_did_not_open_its_store(ws: Workspace) -> None:
    svc = service(ws)
    errors: list[str] = []

    def use() -> None:
        try:
            svc.history()
        except RuntimeError as exc:
            errors.append(str(exc))

    worker = threading.Thread(target=use)
    worker.start()
    worker.join()

    assert errors == ["a Store was used from a thread that did not open it; open one Store per thread"]


def test_a_run_id_names_its_folder(ws: Workspace) -> None:
    assert ws.run_folder(RunId("job/2026-11-22_03-30-00-2")) == ws.root / "process/job/2026-11-22_03-30-00-2"
