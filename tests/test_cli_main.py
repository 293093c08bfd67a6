"""The root of the command line: building commands on demand, `--root` anywhere, `--help`, a Ctrl-C while the
libraries load, closed pipes, and what start-up imports."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from taskctl.cli import main
from taskctl.cli.main import COMMANDS, app
from taskctl.workspace import Workspace
from tests.conftest import write

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def taskctl_process(
    *args: str, cwd: Path, stdout: int | None = subprocess.PIPE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """taskctl as a user runs it: its own process, the console-script entry point."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from taskctl.cli import console_script; console_script()", *args],
        cwd=cwd,
        env=environment,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=120,
    )


def into_closed_pipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """taskctl writing into a pipe whose reader has already gone, as after `| head -1`."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return taskctl_process(*args, cwd=cwd, stdout=write_end)
    finally:
        os.close(write_end)


# -- building commands on demand -------------------------------------------------------------------


def test_every_command_a_module_registers_is_listed_under_its_module() -> None:
    registered = {}
    for path in sorted((REPO / "taskctl" / "cli").glob("*_cmds.py")):
        staging = typer.Typer()
        importlib.import_module(f"taskctl.cli.{path.stem}").register(staging)
        for name in typer.main.get_group(staging).commands:
            registered[name] = path.stem
    assert registered == COMMANDS


def test_help_lists_every_command_in_order() -> None:
    result = runner.invoke(app, ["--help"])

    assert result.exit_code == 0
    assert re.findall(r"^│ ([a-z][a-z-]*) ", result.stdout, re.M) == list(COMMANDS)


def _register_more(app: typer.Typer) -> None:
    """A command module as the tests below need it: deprecated, hidden, and a group in its own panel."""

    @app.command("old", deprecated=True, help="An old command.")
    def old() -> None:
        """Not this text."""

    @app.command("secret", hidden=True)
    def secret() -> None:
        """Hidden."""

    group = typer.Typer(help="A group of two.")
    group.command("one")(old)
    app.add_typer(group, name="pair", rich_help_panel="More")


def _root_help(monkeypatch: pytest.MonkeyPatch, build_first: bool) -> str:
    module = types.ModuleType("taskctl.cli.more_for_test")
    module.register = _register_more  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for name in ("old", "secret", "pair"):
        monkeypatch.setitem(COMMANDS, name, "more_for_test")
    if build_first:  # the root's help as typer makes it: every command built first
        monkeypatch.setattr(main._Root, "format_help", TyperGroup.format_help)
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    return result.stdout


def test_help_lists_each_command_as_it_reads_once_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # --help lists summaries (name and help text, no parameters); a root whose commands are all built lists
    # them from the commands themselves: both must read the same.
    summarised = _root_help(monkeypatch, build_first=False)
    built = _root_help(monkeypatch, build_first=True)

    assert summarised == built
    assert re.search(r"│ old +An old command\. +\(deprecated\) +│", summarised)
    assert "secret" not in summarised
    assert re.search(r"─ More ─+╮\n│ pair +A group of two\. +│", summarised)


def built_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The commands typer builds from here on (their parameters and all), by name; "command" holds --root."""
    built: list[str] = []
    build = typer.main.get_command_from_info

    def spy(info: typer.models.CommandInfo, **settings: object) -> object:
        command = build(info, **settings)  # type: ignore[arg-type]
        if command.name != "command":
            built.append(command.name or "")
        return command

    monkeypatch.setattr(typer.main, "get_command_from_info", spy)
    return built


def test_help_builds_no_command(monkeypatch: pytest.MonkeyPatch) -> None:
    built = built_commands(monkeypatch)

    assert runner.invoke(app, ["--help"]).exit_code == 0
    assert built == []
    assert runner.invoke(app, ["validate", "--help"]).exit_code == 0
    assert built == ["init", "validate", "schema", "upcoming"]  # config_cmds's commands
    assert runner.invoke(app, ["thread", "--help"]).exit_code == 0
    assert built == ["init", "validate", "schema", "upcoming"]


@pytest.mark.parametrize("group", ["thread", "process", "sku", "pair"])
def test_a_groups_help_lists_each_subcommand_as_it_reads_once_built(
    monkeypatch: pytest.MonkeyPatch, group: str
) -> None:
    module = types.ModuleType("taskctl.cli.more_for_test")
    module.register = _register_more  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(COMMANDS, "pair", "more_for_test")
    summarised = runner.invoke(app, [group, "--help"])
    monkeypatch.setattr(main._LazyGroup, "format_help", TyperGroup.format_help)
    built = runner.invoke(app, [group, "--help"])

    assert (summarised.exit_code, built.exit_code) == (0, 0)
    assert summarised.stdout == built.stdout
    assert re.search(r"^│ (list|one) ", summarised.stdout, re.M)


def test_a_subcommand_of_a_group_is_built_alone(monkeypatch: pytest.MonkeyPatch, example: Workspace) -> None:
    built = built_commands(monkeypatch)
    args = ["thread", "add", "extra", "--code", "print(1)", "--dry-run", "--root", str(example.root)]
    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "+  extra:\n+    code: print(1)\n" in result.stdout
    assert built == ["add"]


def test_a_misspelt_command_is_a_usage_error_with_a_suggestion() -> None:
    result = runner.invoke(app, ["histroy"])

    assert result.exit_code == 2
    assert "histroy" in result.output and "history" in result.output


# -- --root ----------------------------------------------------------------------------------------


def test_root_may_follow_the_command(example: Workspace) -> None:
    result = runner.invoke(app, ["validate", "--root", str(example.root)])

    assert (result.exit_code, result.stdout) == (0, "config OK: 3 threads, 1 process, 5 schedules\n")


def test_root_may_follow_a_subcommand_of_a_group(example: Workspace) -> None:
    result = runner.invoke(app, ["thread", "list", "--json", "--root", str(example.root)])

    assert [t["name"] for t in json.loads(result.stdout)] == ["product_pages", "seed_skus", "summary"]


def test_root_after_the_command_wins_over_root_before_it(example: Workspace, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--root", str(tmp_path), "validate", "--root", str(example.root)])

    assert result.exit_code == 0


# -- --help and values -----------------------------------------------------------------------------


def test_help_shows_no_type_for_flags() -> None:
    result = runner.invoke(app, ["run", "--help"])

    assert result.exit_code == 0
    assert "--dry-run" in result.stdout and "--root" in result.stdout
    assert "<bool>" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
        (["history", "--limit", "lots"], "Invalid value for '--limit': 'lots' is not a whole number."),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_option(args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})

    assert result.exit_code == 2
    assert message in result.output


# -- what start-up imports -------------------------------------------------------------------------

IMPORTS_OF = textwrap.dedent(
    """
    import sys
    from taskctl.cli import console_script
    try:
        console_script()
    except SystemExit:
        pass
    heavy = (
        "pydantic", "yaml", "taskctl.runner.chain", "taskctl.config.models", "importlib.metadata", "taskctl.archive"
    )
    loaded = [m for m, module in sys.modules.items() if getattr(module, "__file__", None)]  # not stand-ins
    print(" ".join(sorted(m for m in loaded if m in heavy or m.split(".")[0] in heavy)), file=sys.stderr)
    """
)


def heavy_imports(*args: str, cwd: Path, also: tuple[str, ...] = ()) -> tuple[list[str], str]:
    """The heavy modules (those of IMPORTS_OF, and `also`) that `taskctl ARGS` imports, and its stdout."""
    code = IMPORTS_OF.replace("heavy = (", f"heavy = {also!r} + (")
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stderr.splitlines()[-1].split(), done.stdout


@pytest.mark.parametrize(
    "args",
    [["--version"], ["history"], ["show", "hello"], ["logs", "hello"], ["cancel", "hello"]],
    ids=lambda args: " ".join(args),
)
def test_commands_that_read_runs_import_neither_pydantic_nor_yaml_nor_the_runner(
    args: list[str], empty_workspace: Workspace
) -> None:
    write(empty_workspace.config_dir / "threads.yaml", "threads:\n  hello:\n    code: print('hi')\n")
    assert taskctl_process("run", "hello", cwd=empty_workspace.root).returncode == 0

    assert heavy_imports(*args, cwd=empty_workspace.root)[0] == []


def test_commands_that_load_the_config_skip_pydantics_plugin_discovery(example: Workspace) -> None:
    imported, _ = heavy_imports("validate", cwd=example.root)

    assert "pydantic" in imported and "importlib.metadata" not in imported


@pytest.mark.parametrize(
    "args", [["validate"], ["thread", "list"], ["upcoming"], ["run", "example", "--dry-run"]], ids=" ".join
)
def test_commands_on_an_unchanged_config_import_neither_pydantic_nor_yaml(
    args: list[str], example: Workspace
) -> None:
    def imports() -> list[str]:
        return heavy_imports(*args, cwd=example.root)[0]

    assert "pydantic" in imports()  # the first load validates the files
    assert [m for m in imports() if m.split(".")[0] in ("pydantic", "yaml")] == []


@pytest.mark.parametrize(
    "args",
    [
        ["thread", "add", "extra", "--code", "print(1)", "--dry-run"],
        ["process", "edit", "example", "--add-tag", "x", "--dry-run"],
        ["process", "edit", "example", "--set", "timeout=2h"],
    ],
    ids=" ".join,
)
def test_a_plainly_valid_edit_imports_no_pydantic(args: list[str], example: Workspace) -> None:
    assert taskctl_process("validate", cwd=example.root).returncode == 0  # the other files are cached
    imported, out = heavy_imports(*args, cwd=example.root)

    assert out.startswith(("--- a/config/", "changed process"))
    assert [m for m in imported if m.startswith("pydantic")] == []


def test_an_edit_the_models_must_judge_is_refused_as_before(example: Workspace) -> None:
    done = taskctl_process("process", "edit", "example", "--set", "max_instances=0", cwd=example.root)

    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[1] == (
        "error: config/processes.yaml:15: processes.example.max_instances: 0 is out of range (must be at least 1)"
    )


@pytest.mark.parametrize(
    "args", [["run", "example", "--dry-run"], ["thread", "run", "summary", "--dry-run"]], ids=" ".join
)
def test_a_dry_run_imports_neither_the_run_index_nor_the_process_machinery(
    args: list[str], example: Workspace
) -> None:
    imported, out = heavy_imports(*args, cwd=example.root, also=("taskctl.store", "taskctl.runner.service"))

    assert "TASKCTL_STEP=1/" in out
    assert [m for m in imported if m.startswith(("taskctl.store", "taskctl.runner"))] == []


# -- Ctrl-C while the libraries load ---------------------------------------------------------------


def test_the_garbage_collector_is_off_while_the_command_line_loads_and_on_for_the_command(
    example: Workspace,
) -> None:
    probe = (
        "import gc, sys\n"
        "from taskctl.cli import console_script, main\n"
        "original = main._Root.invoke\n"
        "def invoke(self, ctx):\n"
        "    print('loading:', gc.isenabled(), file=sys.stderr)\n"
        "    result = original(self, ctx)\n"
        "    print('command:', gc.isenabled(), file=sys.stderr)\n"
        "    return result\n"
        "main._Root.invoke = invoke\n"
        "console_script()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "validate"],
        cwd=example.root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "loading: False\ncommand: True\n" in result.stderr


def test_ctrl_c_while_the_libraries_load_is_one_word_and_exit_130(tmp_path: Path) -> None:
    # A Ctrl-C arriving while typer is imported, the first ~0.3 s of every command.
    write(
        tmp_path / "hook" / "sitecustomize.py",
        textwrap.dedent(
            """
            import os, signal, sys

            class CtrlCOnTyper:
                def find_spec(self, name, path=None, target=None):
                    if name == "typer":
                        os.kill(os.getpid(), signal.SIGINT)
                    return None

            sys.meta_path.insert(0, CtrlCOnTyper())
            """
        ),
    )
    python_path = os.pathsep.join([str(tmp_path / "hook"), str(REPO)])

    done = taskctl_process("--version", cwd=tmp_path, env={"PYTHONPATH": python_path})

    assert (done.returncode, done.stderr, done.stdout) == (130, b"interrupted\n", b"")


# -- closed pipes ----------------------------------------------------------------------------------


@pytest.fixture
def ws_with_a_run(empty_workspace: Workspace) -> Workspace:
    code = "for i in range(20000): print('line', i)"
    write(empty_workspace.config_dir / "threads.yaml", f'threads:\n  chatty:\n    code: "{code}"\n')
    done = taskctl_process("run", "chatty", cwd=empty_workspace.root)
    assert done.returncode == 0, done.stderr
    return empty_workspace


@pytest.mark.parametrize(
    "args",
    [["logs", "chatty"], ["run", "chatty", "--dry-run"], ["history"], ["show", "chatty"], ["thread", "list"]],
    ids=lambda args: " ".join(args),
)
def test_a_closed_pipe_ends_the_command_quietly_with_exit_0(
    args: list[str], ws_with_a_run: Workspace
) -> None:
    done = into_closed_pipe(*args, cwd=ws_with_a_run.root)

    assert (done.returncode, done.stderr) == (0, b"")


@pytest.mark.parametrize(
    "command",
    ["taskctl logs chatty | head -1", "taskctl run chatty --dry-run | head -1", "taskctl history | head -1"],
)
def test_head_takes_the_first_line_and_taskctl_exits_0(command: str, ws_with_a_run: Workspace) -> None:
    script = f"set -o pipefail; {command}"
    shim = f"{sys.executable} -c 'from taskctl.cli import console_script; console_script()'"
    done = subprocess.run(
        ["bash", "-c", f'taskctl() {{ {shim} "$@"; }}; {script}'],
        cwd=ws_with_a_run.root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )

    assert (done.returncode, done.stderr) == (0, b"")
    assert len(done.stdout.splitlines()) == 1


def test_sigpipe_does_not_stop_a_running_run_it_goes_on_and_is_recorded(ws_with_a_run: Workspace) -> None:
    # `run` is not a filter: the run's outcome is its exit code, whoever reads its console.
    done = into_closed_pipe("run", "chatty", cwd=ws_with_a_run.root)

    assert done.returncode == 0
    assert b"succeeded" in done.stderr


def test_prune_imports_the_archive_module_only_to_archive(example: Workspace, tmp_path: Path) -> None:
    def imports(*args: str) -> list[str]:
        return heavy_imports("prune", *args, cwd=example.root)[0]

    assert "taskctl.archive" not in imports("--dry-run")
    assert "taskctl.archive" in imports("--dry-run", "--archive", str(tmp_path))
