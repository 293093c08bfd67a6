"""`taskctl prune` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.runs import RunStatus
from taskctl.store import Store
from taskctl.workspace import Workspace
from tests.conftest import write
from tests.test_retention import add_run

runner = CliRunner()


def taskctl(ws: Workspace, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--root", str(ws.root), *args])


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    write(empty_workspace.config_dir / "taskctl.yaml", "timezone: Europe/Berlin\nretention: {keep_runs: 1}\n")
    write(
        empty_workspace.config_dir / "main.yaml",
        "threads:\n  hello: {code: pass}\nprocesses:\n  weekly: {threads: [hello]}\n",
    )
    with Store(empty_workspace.state_db) as store:
        add_run(empty_workspace, store, "weekly/2020-01-01_06-00-00", RunStatus.FAILED, size=3 << 20)
        add_run(empty_workspace, store, "weekly/2020-01-08_06-00-00")
    return empty_workspace


def test_dry_run_prints_what_would_go_and_removes_nothing(ws: Workspace) -> None:
    result = taskctl(ws, "prune", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "started", "status", "size", "reason"]
    assert lines[2].split()[:5] == ["weekly/2020-01-01_06-00-00", "2020-01-01", "06:00:00", "failed", "3.0"]
    assert lines[2].split()[-1] == "keep_runs"
    assert lines[-1].startswith("would remove 1 run(s), 3.0 MB")
    assert (ws.process_dir / "weekly" / "2020-01-01_06-00-00").is_dir()


def test_prune_removes_and_reports_as_json(ws: Workspace) -> None:
    result = taskctl(ws, "prune", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["dry_run"], report["runs"], report["archives"], report["problems"]) == (False, 1, [], [])
    assert report["removed"][0] == {
        "id": "weekly/2020-01-01_06-00-00",
        "process": "weekly",
        "started": "2020-01-01T05:00:00.000000Z",
        "status": "failed",
        "size": report["size"],
        "reason": "keep_runs",
        "archive": None,
    }
    assert not (ws.process_dir / "weekly" / "2020-01-01_06-00-00").exists()
    again = taskctl(ws, "prune")
    assert (again.exit_code, again.stdout) == (0, "removed 0 run(s), 0 B\n")


def test_prune_archive_writes_a_tar_gz_when_asked(ws: Workspace, tmp_path: Path) -> None:
    result = taskctl(ws, "prune", "--archive", str(tmp_path), "--format", "tar.gz")
    assert result.exit_code == 0, result.output
    archive = tmp_path / "weekly_2020-01-01_06-00-00_to_2020-01-01_06-00-00.tar.gz"
    assert archive.is_file()
    assert result.stdout.splitlines()[-1].endswith(f"; archived in {archive}")


def test_bad_names_and_formats_are_one_sentence(ws: Workspace) -> None:
    result = taskctl(ws, "prune", "weekli")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: no process named 'weekli'; did you mean 'weekly'?\n",
    )
    result = taskctl(ws, "prune", "--archive", ".", "--format", "rar")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: 'rar' is not an archive format; use --format zip, tar.gz or tar.zst.\n",
    )


def test_prune_has_help_with_an_example() -> None:
    result = runner.invoke(app, ["prune", "--help"])
    assert result.exit_code == 0 and "Example:" in result.stdout
