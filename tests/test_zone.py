"""The display zone that history and show read from config/taskctl.yaml alone."""

from __future__ import annotations

import os
import sys
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.config.zone import display_zone
from taskctl.workspace import Workspace
from tests.conftest import write

BERLIN = ZoneInfo("Europe/Berlin")  # the machine's zone in every test (conftest sets TZ)


def test_the_settings_zone_wins(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", "timezone: America/New_York\n")
    assert display_zone(empty_workspace) == (ZoneInfo("America/New_York"), None)


def test_no_settings_file_or_no_timezone_means_the_machine_zone_quietly(empty_workspace: Workspace) -> None:
    assert display_zone(empty_workspace) == (BERLIN, None)
    write(empty_workspace.config_dir / "taskctl.yaml", "max_parallel_runs: 2\n")
    assert display_zone(empty_workspace) == (BERLIN, None)


def test_a_dangling_settings_link_is_reported_not_silently_replaced(empty_workspace: Workspace) -> None:
    (empty_workspace.config_dir / "taskctl.yaml").symlink_to("/nowhere/taskctl.yaml")
    zone, problem = display_zone(empty_workspace)
    assert zone == BERLIN
    assert problem is not None
    assert problem.render() == (
        "config/taskctl.yaml: is a link to '/nowhere/taskctl.yaml', which does not exist; fix the link or remove it"
    )


def test_a_fifo_at_the_settings_path_does_not_hang(empty_workspace: Workspace) -> None:
    os.mkfifo(empty_workspace.config_dir / "taskctl.yaml")
    zone, problem = display_zone(empty_workspace)
    assert zone == BERLIN
    assert problem is not None and "named pipe (FIFO)" in problem.render()


def test_an_unknown_zone_names_its_line(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", "# settings\ntimezone: Mars/Olympus\n")
    zone, problem = display_zone(empty_workspace)
    assert zone == BERLIN
    assert problem is not None
    assert problem.render() == (
        "config/taskctl.yaml:2: timezone: 'Mars/Olympus' is not an IANA time zone (use a name like Europe/Berlin)"
    )


def test_history_says_which_zone_it_falls_back_to(empty_workspace: Workspace) -> None:
    root = ["--root", str(empty_workspace.root)]
    write(empty_workspace.config_dir / "threads.yaml", "threads:\n  hello:\n    code: print('hi')\n")
    assert CliRunner().invoke(app, [*root, "run", "hello"]).exit_code == 0
    (empty_workspace.config_dir / "taskctl.yaml").symlink_to("/nowhere/taskctl.yaml")
    result = CliRunner().invoke(app, [*root, "history"])
    assert result.exit_code == 0
    assert "hello/" in result.stdout
    assert result.stderr == (
        "warning: config/taskctl.yaml: is a link to '/nowhere/taskctl.yaml', which does not exist; fix the link or "
        "remove it; showing times in Europe/Berlin\n"
    )


def test_a_settings_file_a_load_validated_is_taken_from_the_cache_and_an_edit_is_seen(
    empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskctl.config import load_config

    settings = empty_workspace.config_dir / "taskctl.yaml"
    write(settings, "timezone: America/New_York\n")
    load_config(empty_workspace)
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "taskctl.config.yamlfile", None)  # importing the YAML reader fails
        assert display_zone(empty_workspace) == (ZoneInfo("America/New_York"), None)

    write(settings, "timezone: Asia/Tokyo\n")  # edited, not loaded since: read from the file itself
    assert display_zone(empty_workspace) == (ZoneInfo("Asia/Tokyo"), None)
