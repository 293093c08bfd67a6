"""Shell completion: the scripts for bash, zsh and fish, and the names completed from the workspace, through
the protocol the shells use (environment variables), in a real bash too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taskctl.workspace import Workspace
from tests.conftest import write

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("taskctl")  # the console script, as the shell calls it
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="needs taskctl installed beside this Python")


def environment(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}",
        **extra,
    }


def completions(cwd: Path, words: str, shell: str = "bash") -> tuple[list[str], str]:
    """What `taskctl` offers for the command line `words` (the last word being completed): offers, stderr."""
    parts = words.split(" ")
    if shell == "bash":
        env = environment(_TASKCTL_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    elif shell == "zsh":
        env = environment(_TASKCTL_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=words)
    else:
        env = environment(
            _TASKCTL_COMPLETE="complete_fish",
            _TYPER_COMPLETE_ARGS=words,
            _TYPER_COMPLETE_FISH_ACTION="get-args",
        )
    done = subprocess.run([str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if shell == "zsh":  # _arguments '*: :(("name":"help"\n"name"))'
        lines = [line.split('"')[1] for line in lines if '"' in line]
    return lines, done.stderr


@pytest.fixture
def ws(example: Workspace) -> Workspace:
    write(
        example.config_dir / "processes.yaml",
        "processes:\n  example: {threads: [product_pages, summary], tags: [shop]}\n"
        "  nightly: {threads: [summary], schedule: daily at 02:00, tags: [night]}\n",
    )
    write(example.config_dir / "taskctl.yaml", "notify:\n  ops: {url: 'https://hooks.example.com/x'}\n")
    for stamp in ("2026-11-22_02-30-00", "2026-11-23_02-30-00"):
        (example.root / "process" / "nightly" / stamp).mkdir(parents=True)
    return example


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_thread_names_complete_in_every_shell(ws: Workspace, shell: str) -> None:
    assert completions(ws.root, "taskctl thread show ", shell)[0] == ["product_pages", "seed_skus", "summary"]


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        ("taskctl run ", ["example", "nightly", "product_pages", "seed_skus", "summary"]),
        ("taskctl process show n", ["nightly"]),
        ("taskctl upcoming ", ["example", "nightly"]),
        ("taskctl show ", ["nightly"]),
        ("taskctl logs nightly/", ["nightly/2026-11-22_02-30-00", "nightly/2026-11-23_02-30-00"]),
        ("taskctl cancel nightly/2026-11-23", ["nightly/2026-11-23_02-30-00"]),
        ("taskctl history ", ["example", "nightly", "product_pages", "seed_skus", "summary"]),
        ("taskctl history --status f", ["failed"]),
        ("taskctl thread list --tag ", ["example", "night", "shop"]),
        ("taskctl notify test ", ["ops"]),
        ("taskctl deps status s", ["seed_skus", "summary"]),
        ("taskctl th", ["thread"]),
    ],
)
def test_names_come_from_the_workspace(ws: Workspace, words: str, offered: list[str]) -> None:
    assert completions(ws.root, words) == (offered, "")


def test_root_on_the_command_line_chooses_the_workspace(ws: Workspace, tmp_path: Path) -> None:
    assert completions(tmp_path, f"taskctl --root {ws.root} thread show ") == (
        ["product_pages", "seed_skus", "summary"],
        "",
    )
    assert completions(tmp_path, f"taskctl thread show --root {ws.root} s") == (["seed_skus", "summary"], "")


def test_outside_a_workspace_nothing_is_offered_and_nothing_is_printed(tmp_path: Path) -> None:
    assert completions(tmp_path, "taskctl run ") == ([], "")
    assert completions(tmp_path, "taskctl show ") == ([], "")


def test_a_broken_config_still_offers_the_names_it_declares(ws: Workspace) -> None:
    write(ws.config_dir / "threads.yaml", "threads:\n  product_pages: {timeout: never}\n  summary: {}\n")
    write(ws.config_dir / "broken.yaml", "threads: [\n")

    assert completions(ws.root, "taskctl thread show ") == (["product_pages", "summary"], "")


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o default -F"), ("zsh", "compdef"), ("fish", "complete --command taskctl")],
)
def test_show_completion_prints_the_script_for_each_shell(tmp_path: Path, shell: str, marker: str) -> None:
    done = subprocess.run(
        [str(SCRIPT), "--show-completion", shell],
        cwd=tmp_path,
        env=environment(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert marker in done.stdout and "_TASKCTL_COMPLETE" in done.stdout


def test_install_completion_writes_the_bash_script_and_sources_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "--install-completion", "bash"],
        cwd=tmp_path,
        env=environment(HOME=str(tmp_path), _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".bash_completions" / "taskctl.sh").is_file()
    assert "source '" in (tmp_path / ".bashrc").read_text()


@pytest.mark.skipif(
    not SCRIPT.exists() or shutil.which("bash") is None, reason="needs bash and the installed script"
)
def test_a_real_bash_completes_thread_names(ws: Workspace) -> None:
    script = (
        "source <(taskctl --show-completion bash); "
        'COMP_WORDS=(taskctl thread run ""); COMP_CWORD=3; _taskctl_completion taskctl; '
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=ws.root, env=environment(), capture_output=True, text=True, timeout=60
    )

    assert (done.stdout, done.stderr) == ("product_pages\nseed_skus\nsummary\n", "")
