"""Retention: the pure choice of runs to remove, and prune applying it to run folders and the index."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from taskctl.config import load_config
from taskctl.errors import TaskctlError
from taskctl.retention import (
    RemovalReason,
    RetentionPolicy,
    RunEntry,
    folder_size,
    plan_prune,
    policy_for,
    prune,
    select_removals,
)
from taskctl.runs import RunRecord, RunStatus, Trigger, write_run_json
from taskctl.store import Store
from taskctl.workspace import Workspace
from tests.conftest import write

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=BERLIN)


def entry(day: int, status: RunStatus = RunStatus.SUCCEEDED, size: int = 0, hour: int = 6) -> RunEntry:
    started = datetime(2026, 11, day, hour, 0, tzinfo=BERLIN)
    return RunEntry(f"nightly/2026-11-{day:02d}_{hour:02d}-00-00", started, status, size)


def removed(runs: list[RunEntry], policy: RetentionPolicy) -> list[tuple[str, str]]:
    return [(r.run.id[8:18], str(r.reason)) for r in select_removals(runs, policy, NOW)]


# -- the pure choice --------------------------------------------------------------------------------


def test_keep_runs_keeps_the_newest_finished_runs_and_never_touches_running_ones() -> None:
    runs = [entry(17), entry(18, RunStatus.FAILED), entry(19), entry(20), entry(21, RunStatus.RUNNING)]
    assert removed(runs, RetentionPolicy(keep_runs=2)) == [
        ("2026-11-17", "keep_runs"),
        ("2026-11-18", "keep_runs"),
    ]


def test_max_age_counts_from_the_start_and_keeps_the_newest_run_however_old() -> None:
    runs = [entry(1), entry(14, hour=11), entry(15, hour=13), entry(20)]
    # 7 days before 2026-11-22 12:00 Berlin is 2026-11-15 12:00: the run of the 14th at 11:00 is too old
    assert removed(runs, RetentionPolicy(max_age=7 * 86400)) == [
        ("2026-11-01", "max_age"),
        ("2026-11-14", "max_age"),
    ]
    assert removed([entry(1), entry(2)], RetentionPolicy(max_age=86400)) == [("2026-11-01", "max_age")]


def test_max_total_size_keeps_the_newest_runs_that_fit_and_drops_everything_older() -> None:
    runs = [entry(17, size=100), entry(18, size=200), entry(19, size=300), entry(20, size=400)]
    # 400 + 300 fit in 800; 200 more would not, and the small run before it goes too (no patchwork)
    assert removed(runs, RetentionPolicy(max_total_size=800)) == [
        ("2026-11-17", "max_total_size"),
        ("2026-11-18", "max_total_size"),
    ]


def test_a_running_run_counts_against_the_size_budget_and_the_newest_finished_run_is_kept_anyway() -> None:
    runs = [entry(19, size=300), entry(20, size=900), entry(21, RunStatus.RUNNING, size=500)]
    assert removed(runs, RetentionPolicy(max_total_size=1000)) == [("2026-11-19", "max_total_size")]


def test_the_first_limit_broken_is_the_reason_and_no_limits_remove_nothing() -> None:
    runs = [entry(1), entry(2), entry(21)]
    assert removed(runs, RetentionPolicy(keep_runs=2, max_age=86400)) == [
        ("2026-11-01", "keep_runs"),
        ("2026-11-02", "max_age"),
    ]
    assert removed(runs, RetentionPolicy()) == []


def test_queued_and_running_runs_are_never_chosen_even_when_old() -> None:
    runs = [entry(1, RunStatus.QUEUED), entry(2, RunStatus.RUNNING), entry(3), entry(4)]
    assert removed(runs, RetentionPolicy(keep_runs=1)) == [("2026-11-03", "keep_runs")]


# -- settings --------------------------------------------------------------------------------------


SETTINGS = "retention: {keep_runs: 3, max_age: 30d, max_total_size: 1MB}\n"
CONFIG = """\
threads:
  hello: {code: "print('hi')"}
  ticker: {code: "print('tick')", schedule: "every 1 hours"}
processes:
  nightly: {threads: [hello], retention: {keep_runs: 10, max_age: null}}
  weekly: {threads: [hello]}
"""


def configured(ws: Workspace, settings: str = SETTINGS) -> Workspace:
    write(ws.config_dir / "taskctl.yaml", settings)
    write(ws.config_dir / "main.yaml", CONFIG)
    return ws


def test_a_process_overrides_the_workspace_retention_key_by_key(empty_workspace: Workspace) -> None:
    config = load_config(configured(empty_workspace))
    assert policy_for(config, "nightly") == RetentionPolicy(
        keep_runs=10, max_age=None, max_total_size=1 << 20
    )
    assert policy_for(config, "weekly") == RetentionPolicy(3, 30 * 86400.0, 1 << 20)
    assert policy_for(config, "ticker") == RetentionPolicy(3, 30 * 86400.0, 1 << 20)
    assert policy_for(config, "gone") == RetentionPolicy(3, 30 * 86400.0, 1 << 20)


def test_a_bad_retention_value_names_the_file_line_and_key(empty_workspace: Workspace) -> None:
    from taskctl.errors import ConfigError

    configured(empty_workspace, "retention:\n  max_total_size: lots\n")
    with pytest.raises(ConfigError) as caught:
        load_config(empty_workspace)
    assert [p.render() for p in caught.value.problems] == [
        "config/taskctl.yaml:2: retention.max_total_size: 'lots' is not a size (use e.g. 50MB, 512KB, 1GB)"
    ]


# -- pruning on disk --------------------------------------------------------------------------------


def add_run(
    ws: Workspace, store: Store, run_id: str, status: RunStatus = RunStatus.SUCCEEDED, size: int = 10
) -> Path:
    process, stamp = run_id.split("/")
    folder = ws.process_dir / process / stamp
    folder.mkdir(parents=True)
    local = datetime.strptime(stamp, "%Y-%m-%d_%H-%M-%S").replace(tzinfo=BERLIN)
    record = RunRecord(
        id=run_id,
        process=process,
        folder=folder,
        trigger=Trigger.SCHEDULE,
        status=status,
        started=local.astimezone(UTC),
        finished=None if not status.finished else local.astimezone(UTC) + timedelta(minutes=1),
    )
    write_run_json(record)
    (folder / "output.bin").write_bytes(b"x" * size)
    store.save_run(record)
    return folder


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    return configured(empty_workspace, "retention: {keep_runs: 2}\n")


def test_prune_removes_the_folders_and_index_rows_of_what_it_chooses(ws: Workspace) -> None:
    config = load_config(ws)
    with Store(ws.state_db) as store:
        old = add_run(ws, store, "weekly/2026-11-01_06-00-00")
        old_size = folder_size(old)
        add_run(ws, store, "weekly/2026-11-08_06-00-00", RunStatus.FAILED)
        add_run(ws, store, "weekly/2026-11-15_06-00-00")
        add_run(ws, store, "weekly/2026-11-22_06-00-00", RunStatus.RUNNING)
        report = prune(config, store, NOW)
        assert [(r.id, r.reason, r.size) for r in report.removed] == [
            ("weekly/2026-11-01_06-00-00", RemovalReason.KEEP_RUNS, old_size)
        ]
        assert [r.id for r in store.runs("weekly")] == [
            "weekly/2026-11-22_06-00-00",
            "weekly/2026-11-15_06-00-00",
            "weekly/2026-11-08_06-00-00",
        ]
    assert sorted(p.name for p in (ws.process_dir / "weekly").iterdir()) == [
        "2026-11-08_06-00-00",
        "2026-11-15_06-00-00",
        "2026-11-22_06-00-00",
    ]
    assert list((ws.state_dir / "trash").iterdir()) == []
    assert report.problems == []


def test_a_dry_run_lists_the_same_runs_and_removes_nothing(ws: Workspace) -> None:
    config = load_config(ws)
    with Store(ws.state_db) as store:
        for day in (1, 8, 15):
            add_run(ws, store, f"weekly/2026-11-{day:02d}_06-00-00")
        report = prune(config, store, NOW, dry_run=True)
        assert [r.id for r in report.removed] == ["weekly/2026-11-01_06-00-00"]
        assert len(store.runs("weekly")) == 3
    assert (ws.process_dir / "weekly" / "2026-11-01_06-00-00" / "run.json").is_file()


def test_prune_archives_what_it_removes_when_asked(ws: Workspace, tmp_path: Path) -> None:
    config = load_config(ws)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with Store(ws.state_db) as store:
        for day in (1, 8, 15, 22):
            add_run(ws, store, f"weekly/2026-11-{day:02d}_06-00-00")
        report = prune(config, store, NOW, archive_dir=archive_dir)
    (archive,) = report.archives
    assert archive == archive_dir / "weekly_2026-11-01_06-00-00_to_2026-11-08_06-00-00.zip"
    with zipfile.ZipFile(archive) as packed:
        assert sorted(n for n in packed.namelist() if n.endswith("output.bin")) == [
            "weekly/2026-11-01_06-00-00/output.bin",
            "weekly/2026-11-08_06-00-00/output.bin",
        ]
    assert [r.archive for r in report.removed] == [archive, archive]
    assert not (ws.process_dir / "weekly" / "2026-11-01_06-00-00").exists()


def test_archiving_into_a_missing_folder_is_refused_before_anything_is_removed(
    ws: Workspace, tmp_path: Path
) -> None:
    config = load_config(ws)
    with Store(ws.state_db) as store:
        for day in (1, 8, 15):
            add_run(ws, store, f"weekly/2026-11-{day:02d}_06-00-00")
        with pytest.raises(
            TaskctlError, match=r"cannot archive into .*/nowhere: it is not a folder; create it first\."
        ):
            prune(config, store, NOW, archive_dir=tmp_path / "nowhere")
        assert len(store.runs("weekly")) == 3


def test_an_indexed_run_whose_folder_is_gone_loses_its_index_row(ws: Workspace) -> None:
    import shutil

    config = load_config(ws)
    with Store(ws.state_db) as store:
        for day in (1, 8, 15):
            add_run(ws, store, f"weekly/2026-11-{day:02d}_06-00-00")
        shutil.rmtree(ws.process_dir / "weekly" / "2026-11-01_06-00-00")
        report = prune(config, store, NOW)
        assert [(r.id, r.size) for r in report.removed] == [("weekly/2026-11-01_06-00-00", 0)]
        assert len(store.runs("weekly")) == 2


def test_only_the_named_processes_are_pruned(ws: Workspace) -> None:
    config = load_config(ws)
    with Store(ws.state_db) as store:
        for process in ("weekly", "nightly"):
            for day in (1, 8, 15):
                add_run(ws, store, f"{process}/2026-11-{day:02d}_06-00-00")
        assert [r.id for r in plan_prune(config, store, NOW, ["nightly"])] == []  # keep_runs: 10 there
        assert [r.id for r in plan_prune(config, store, NOW)] == ["weekly/2026-11-01_06-00-00"]


def test_folder_size_counts_regular_files_below_and_does_not_follow_links(tmp_path: Path) -> None:
    write(tmp_path / "run" / "a.txt", "12345")
    write(tmp_path / "run" / "sub" / "b.txt", "123")
    write(tmp_path / "big.bin", "x" * 1000)
    (tmp_path / "run" / "link").symlink_to(tmp_path / "big.bin")
    assert folder_size(tmp_path / "run") == 8
    assert folder_size(tmp_path / "missing") == 0
