"""`taskctl plan` and `taskctl systemd-unit` through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.config import load_config
from taskctl.daemon.plan import applied_now, write_applied
from taskctl.workspace import Workspace
from tests.conftest import write

runner = CliRunner()
# A one-shot far ahead keeps the next run independent of today's date.
CONFIG = (
    "timezone: Europe/Berlin\n"
    "threads:\n  fetch: {command: [echo, hi]}\n"
    "processes:\n  launch:\n    threads: [fetch]\n    schedule: '2099-01-01 10:00'\n"
)


def invoke(ws: Workspace, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--root", str(ws.root), *args])
    return result.exit_code, result.stdout, result.stderr


def test_plan_before_any_daemon_shows_everything_as_new(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG)
    revision = load_config(empty_workspace).revision
    assert invoke(empty_workspace, "plan") == (
        0,
        f"no daemon has applied a config yet; everything on disk is new; on disk: revision {revision}\n"
        "+ process launch: added; next run Thu 2099-01-01 10:00 CET\n"
        "+ thread fetch: added\n",
        "",
    )


def test_plan_after_an_edit_and_as_json(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG)
    applied = load_config(empty_workspace)
    write_applied(empty_workspace, applied_now(applied, datetime(2027, 6, 1, 8, 0, tzinfo=UTC)))
    assert invoke(empty_workspace, "plan")[1].splitlines()[1:] == ["no changes"]
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG.replace("10:00", "11:30"))
    code, out, err = invoke(empty_workspace, "plan")
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == (
        "~ process launch: changed schedule; schedule - '2099-01-01 10:00' + '2099-01-01 11:30'; "
        "next run Thu 2099-01-01 10:00 CET -> Thu 2099-01-01 11:30 CET"
    )
    code, out, _ = invoke(empty_workspace, "plan", "--json")
    document = json.loads(out)
    assert (code, document["changed"], document["applied"]["revision"]) == (0, True, applied.revision)
    assert document["processes"][0]["next_after"] == "2099-01-01T10:30:00Z"


def test_plan_of_an_invalid_config_is_an_error_like_validate(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG.replace("'2099-01-01 10:00'", "dayly at 10:00"))
    code, out, err = invoke(empty_workspace, "plan")
    assert (code, out) == (1, "")
    assert err == (
        "error: config/taskctl.yaml:7: processes.launch.schedule[0]: "
        "'dayly at 10:00' is not a schedule (try 'daily at 10:00')\n"
    )


def test_systemd_unit_runs_this_taskctl_for_this_workspace(empty_workspace: Workspace) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", CONFIG + "daemon: {shutdown_grace: 2m}\n")
    code, out, err = invoke(empty_workspace, "systemd-unit")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    root = empty_workspace.root.resolve()
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    assert exec_start.endswith(f" --root {root} daemon")
    assert exec_start.removeprefix("ExecStart=").startswith("/")
    for expected in (
        "Type=notify",
        "ExecReload=kill -HUP $MAINPID",
        "KillMode=mixed",
        "TimeoutStopSec=145",  # 2 minutes of shutdown grace, 10 s to kill, 15 s to spare
        "Restart=on-failure",
        "After=network-online.target time-sync.target",
        f"WorkingDirectory={root}",
        "WantedBy=multi-user.target",
    ):
        assert expected in lines
    code, out, _ = invoke(empty_workspace, "systemd-unit", "--user")
    assert code == 0
    assert "WantedBy=default.target" in out.splitlines()
