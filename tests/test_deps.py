"""Per-thread environments, built offline from tiny wheels made by the tests, with uv and with venv + pip."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskctl import deps
from taskctl.cli.main import app
from taskctl.config import load_config
from taskctl.config.models import ThreadConfig
from taskctl.deps import (
    DependencyError,
    EnvironmentState,
    Installer,
    InstallStopped,
    RequirementState,
    choose_installer,
    deps_status,
    ensure_environment,
    environment_for,
    find_uv,
    install_threads,
    prune_environments,
    thread_requirements,
)
from taskctl.errors import UsageError
from taskctl.workspace import Workspace
from tests.conftest import write

runner = CliRunner()


@pytest.fixture(autouse=True)
def _offline(offline: Path) -> None:
    """Every test here installs from the test wheels only."""


def thread_config(*requirements: str) -> ThreadConfig:
    return ThreadConfig(code="pass", requirements=list(requirements))


def run_python(python: Path, code: str) -> str:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


needs_uv = pytest.mark.skipif(find_uv() is None, reason="uv is not installed")


# -- requirements and keys ------------------------------------------------------------------------------


def test_identical_requirements_written_differently_share_a_key(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    a = environment_for(ws, "a", thread_config("TinyPkg >= 1.0", "otherpkg"))
    b = environment_for(ws, "b", thread_config("otherpkg", "tinypkg>=1.0", "TINYPKG >=1.0"))
    c = environment_for(ws, "c", thread_config("tinypkg>=2.0", "otherpkg"))
    assert a is not None and b is not None and c is not None
    assert a.key == b.key != c.key
    assert a.folder == ws.state_dir / "venvs" / a.key
    assert a.python == a.folder / "bin" / "python"
    assert not a.ready
    assert environment_for(ws, "d", thread_config()) is None


def test_requirements_txt_is_read_like_pip_and_its_includes_count(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.thread_dir("scrape") / "requirements.txt",
        "# pinned for the shop\nTinyPkg==1.0  # the parser\n\notherpkg \\\n  >=0.5\n-r more.txt\n",
    )
    write(ws.thread_dir("scrape") / "more.txt", "tinypkg[fast] ; python_version >= '3'\n")
    requirements = thread_requirements(ws, "scrape", thread_config("extra-pkg<3"))
    assert requirements is not None
    assert [r.text for r in requirements.items] == [
        "extra-pkg<3",
        "tinypkg==1.0",
        "otherpkg>=0.5",
        'tinypkg[fast]; python_version >= "3"',
    ]
    before = requirements.key("py")
    write(ws.thread_dir("scrape") / "more.txt", "tinypkg[fast]\n")
    after = thread_requirements(ws, "scrape", thread_config("extra-pkg<3"))
    assert after is not None and after.key("py") != before
    assert after.key("another python") != after.key("py")


def test_a_bad_requirement_names_where_it_is(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    with pytest.raises(
        DependencyError, match=r"^threads\.x\.requirements\[1\]: 'tinypkg>>2' is not a valid requirement \("
    ):
        thread_requirements(ws, "x", thread_config("otherpkg", "tinypkg>>2"))
    write(ws.thread_dir("y") / "requirements.txt", "otherpkg\n\nnot a requirement!\n")
    with pytest.raises(
        DependencyError, match=r"threads/y/requirements\.txt:3: 'not a requirement!' is not a valid"
    ):
        thread_requirements(ws, "y", thread_config())


def test_the_installer_is_uv_when_found_and_either_can_be_forced() -> None:
    assert choose_installer(None, "/usr/bin/uv", environ={}) is Installer.UV
    assert choose_installer(None, None, environ={}) is Installer.PIP
    assert choose_installer("pip", "/usr/bin/uv", environ={}) is Installer.PIP
    assert choose_installer(None, "/usr/bin/uv", environ={"TASKCTL_INSTALLER": "pip"}) is Installer.PIP
    with pytest.raises(DependencyError, match=r"^uv was asked for but is not installed; install it with"):
        choose_installer("uv", None, environ={})
    with pytest.raises(UsageError, match=r"^\$TASKCTL_INSTALLER is 'conda'; use uv or pip\.$"):
        choose_installer(None, None, environ={"TASKCTL_INSTALLER": "conda"})


# -- building -------------------------------------------------------------------------------------------


@needs_uv
def test_uv_builds_once_and_an_identical_thread_reuses_it(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    log: list[str] = []
    python = ensure_environment(ws, "scrape", thread_config("tinypkg==1.0"), log.append, Installer.UV)
    assert run_python(python, "import tinypkg; print(tinypkg.VERSION)") == "1.0"
    assert log[0].startswith("deps: building environment ") and "with uv" in log[0]
    assert log[-1].startswith("deps: environment ") and " ready in " in log[-1]
    again: list[str] = []
    assert ensure_environment(ws, "report", thread_config("TinyPkg==1.0"), again.append) == python
    assert again == []
    builds = [p.name for p in (ws.state_dir / "venvs").iterdir() if p.name.startswith(".build-")]
    assert len(builds) == 1
    # the thread script API stays importable inside the environment
    assert run_python(python, "import taskctl.skus; print(taskctl.skus.SKU_DB_ENV)") == "TASKCTL_SKU_DB"


def test_venv_and_pip_build_an_environment_when_asked(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    log: list[str] = []
    python = ensure_environment(ws, "scrape", thread_config("tinypkg>=2"), log.append, Installer.PIP)
    assert run_python(python, "import tinypkg; print(tinypkg.VERSION)") == "2.0"
    assert "with pip" in log[0]
    assert any("Successfully installed tinypkg-2.0" in line for line in log)


@pytest.mark.parametrize("installer", [pytest.param(Installer.UV, marks=needs_uv), Installer.PIP])
def test_a_failed_install_raises_the_installers_message_and_leaves_nothing(
    empty_workspace: Workspace, installer: Installer
) -> None:
    ws = empty_workspace
    log: list[str] = []
    with pytest.raises(DependencyError) as caught:
        ensure_environment(ws, "scrape", thread_config("nosuchpkg==1.0"), log.append, installer)
    message = caught.value.message
    assert message.startswith(
        f"installing the requirements of thread 'scrape' with {installer} failed (exit "
    )
    assert "nosuchpkg" in message
    assert caught.value.output and caught.value.output[-1] in log
    leftovers = [p.name for p in (ws.state_dir / "venvs").iterdir() if not p.name.startswith(".locks")]
    assert leftovers == []


@needs_uv
def test_concurrent_builders_of_one_environment_build_it_once(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    logs: list[list[str]] = [[], [], []]
    results: list[Path] = []

    def build(index: int) -> None:
        results.append(ensure_environment(ws, f"t{index}", thread_config("otherpkg"), logs[index].append))

    workers = [threading.Thread(target=build, args=(i,)) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert len(set(results)) == 1 and len(results) == 3
    assert sum(1 for log in logs if log and log[0].startswith("deps: building")) == 1
    builds = [p for p in (ws.state_dir / "venvs").iterdir() if p.name.startswith(".build-")]
    assert len(builds) == 1


# -- status and prune -----------------------------------------------------------------------------------


def deps_workspace(ws: Workspace, requirement: str) -> Workspace:
    write(
        ws.config_dir / "threads.yaml",
        f"threads:\n  scrape: {{code: pass, requirements: ['{requirement}', otherpkg]}}\n  plain: {{code: pass}}\n",
    )
    return ws


@needs_uv
def test_status_shows_ready_then_outdated_after_the_requirements_change(empty_workspace: Workspace) -> None:
    ws = deps_workspace(empty_workspace, "tinypkg==1.0")
    install_threads(load_config(ws), None, lambda line: None)
    (ready,) = deps_status(load_config(ws))
    assert (ready.thread, ready.state) == ("scrape", EnvironmentState.READY)
    assert [(r.requested, r.installed, r.state) for r in ready.requirements] == [
        ("tinypkg==1.0", "1.0", RequirementState.OK),
        ("otherpkg", "0.5", RequirementState.OK),
    ]
    deps_workspace(ws, "tinypkg>=2")
    (changed,) = deps_status(load_config(ws))
    assert changed.state is EnvironmentState.NOT_BUILT
    assert changed.inspected == ready.environment.folder
    assert [(r.requested, r.installed, r.state) for r in changed.requirements] == [
        ("tinypkg>=2", "1.0", RequirementState.OUTDATED),
        ("otherpkg", "0.5", RequirementState.OK),
    ]


@needs_uv
def test_prune_removes_the_environments_no_thread_uses(empty_workspace: Workspace) -> None:
    ws = deps_workspace(empty_workspace, "tinypkg==1.0")
    (old,) = install_threads(load_config(ws), None, lambda line: None)
    deps_workspace(ws, "tinypkg==2.0")
    (new,) = install_threads(load_config(ws), None, lambda line: None)
    config = load_config(ws)
    (would,) = prune_environments(config, dry_run=True)
    assert would.path == old.environment.folder and would.size > 0
    assert old.environment.ready
    assert [e.path for e in prune_environments(config)] == [old.environment.folder]
    assert not old.environment.folder.exists() and new.environment.ready
    assert [p.name for p in (ws.state_dir / "venvs").iterdir() if p.name.startswith(".build-")] == [
        os.readlink(new.environment.folder)
    ]
    assert prune_environments(config) == []


# -- the CLI --------------------------------------------------------------------------------------------


@needs_uv
def test_deps_install_status_and_prune_from_the_command_line(empty_workspace: Workspace) -> None:
    ws = deps_workspace(empty_workspace, "tinypkg==1.0")
    root = ["--root", str(ws.root)]
    result = runner.invoke(app, [*root, "deps", "install"])
    assert result.exit_code == 0, result.output
    key = environment_for(ws, "scrape", load_config(ws).threads["scrape"]).key  # type: ignore[union-attr]
    assert result.stdout.startswith("scrape: built in ")
    assert result.stdout.endswith(f"s ({ws.state_dir / 'venvs' / key})\n")
    assert "deps: building environment" in result.stderr
    again = runner.invoke(app, [*root, "deps", "install", "scrape"])
    assert again.stdout == f"scrape: up to date ({ws.state_dir / 'venvs' / key})\n"
    status = json.loads(runner.invoke(app, [*root, "deps", "status", "--json"]).stdout)
    assert status["threads"][0]["state"] == "ready"
    assert status["threads"][0]["requirements"][0] == {
        "requested": "tinypkg==1.0",
        "name": "tinypkg",
        "installed": "1.0",
        "state": "ok",
    }
    table = runner.invoke(app, [*root, "deps", "status"]).stdout.splitlines()
    assert table[0].split() == ["thread", "environment", "key", "requested", "installed", "state"]
    assert table[2].split() == ["scrape", "ready", key, "tinypkg==1.0", "1.0", "ok"]
    pruned = runner.invoke(app, [*root, "deps", "prune", "--dry-run"])
    assert (pruned.exit_code, pruned.stdout) == (0, "would remove 0 environment(s), 0 B\n")


def test_deps_commands_explain_bad_names_and_failed_installs(empty_workspace: Workspace) -> None:
    ws = deps_workspace(empty_workspace, "nosuchpkg")
    root = ["--root", str(ws.root)]
    result = runner.invoke(app, [*root, "deps", "install", "plain"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: thread 'plain' has no requirements (neither 'requirements:' nor threads/plain/requirements.txt); "
        "nothing to install.\n",
    )
    result = runner.invoke(app, [*root, "deps", "status", "scrap"])
    assert (result.exit_code, result.stderr) == (
        1,
        "error: no thread named 'scrap'; did you mean 'scrape'?\n",
    )
    result = runner.invoke(app, [*root, "deps", "install", "--installer", "conda"])
    assert (result.exit_code, result.stderr) == (2, "error: --installer is 'conda'; use uv or pip.\n")
    status = runner.invoke(app, [*root, "deps", "status"])
    assert status.stdout.splitlines()[2].split()[-3:] == ["nosuchpkg", "-", "missing"]
    failed = runner.invoke(app, [*root, "deps", "install", "--installer", "pip"])
    assert failed.exit_code == 1
    last = failed.stderr.splitlines()[-1]
    assert last.startswith("error: installing the requirements of thread 'scrape' with pip failed (exit 1): ")
    assert last.endswith("(from versions: none); ERROR: No matching distribution found for nosuchpkg.")


def test_every_deps_command_has_help_with_an_example() -> None:
    for command in ("install", "status", "prune"):
        result = runner.invoke(app, ["deps", command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout, command


# -- test threads and stopping a build ----------------------------------------------------------------------


def test_a_test_thread_always_requires_pytest_unless_it_pins_its_own(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    implicit = thread_requirements(ws, "t", ThreadConfig(test="tests/"))
    assert implicit is not None and [r.text for r in implicit.items] == ["pytest"]
    assert implicit.listed == ("pytest",)
    pinned = thread_requirements(
        ws, "t", ThreadConfig(test="tests/", requirements=["PyTest==8.1", "tinypkg"])
    )
    assert pinned is not None and [r.text for r in pinned.items] == ["pytest==8.1", "tinypkg"]
    assert thread_requirements(ws, "t", ThreadConfig(code="1")) is None


def test_an_installer_step_stops_when_asked(tmp_path: Path) -> None:
    lines: list[str] = []
    asked = threading.Event()
    threading.Timer(0.3, asked.set).start()
    with pytest.raises(InstallStopped, match=r"^sleeping was stopped before it finished\.$"):
        deps._call(["sh", "-c", "echo started; sleep 30"], tmp_path, lines.append, "sleeping", asked.is_set)
    assert lines == ["started"]
