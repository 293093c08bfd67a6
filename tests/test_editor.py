"""`thread edit NAME` / `process edit NAME` without options: the $EDITOR loop, driven by a fake editor script."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.workspace import Workspace
from tests.conftest import write

runner = CliRunner()

# Each run of the fake editor saves what it was shown as shown-N, then writes answer-N (if any) into the file,
# runs action-N (if any) as Python, and exits with the status in status-N (default 0).
FAKE_EDITOR = """\
import pathlib, sys
state = pathlib.Path(__file__).parent / "state"
n = len(list(state.glob("shown-*")))
target = pathlib.Path(sys.argv[1])
(state / f"shown-{n}").write_text(target.read_text())
if (state / f"answer-{n}").exists():
    target.write_text((state / f"answer-{n}").read_text())
if (state / f"action-{n}").exists():
    exec((state / f"action-{n}").read_text())
sys.exit(int((state / f"status-{n}").read_text()) if (state / f"status-{n}").exists() else 0)
"""

THREADS = """\
threads:
  # fetches pages
  fetch:
    code: print('fetch')   # inline
    timeout: 10m

  other:
    code: print('other')
"""


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake editor's state folder: put answer-N / action-N / status-N files in it."""
    script = write(tmp_path / "editor" / "fake_editor.py", FAKE_EDITOR)
    (script.parent / "state").mkdir()
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    return script.parent / "state"


@pytest.fixture
def ws(empty_workspace: Workspace) -> Workspace:
    write(empty_workspace.config_dir / "threads.yaml", THREADS)
    return empty_workspace


def invoke(ws: Workspace, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--root", str(ws.root), *args])
    return result.exit_code, result.stdout, result.stderr


def shown(state: Path) -> list[str]:
    return [(state / f"shown-{n}").read_text() for n in range(len(list(state.glob("shown-*"))))]


def test_an_invalid_entry_is_reopened_with_the_problem_until_it_is_valid(ws: Workspace, editor: Path) -> None:
    (editor / "answer-0").write_text("fetch:\n  code: print('fetch')   # inline\n  timeout: soon\n")
    (editor / "answer-1").write_text("fetch:\n  code: print('fetch')   # inline\n  timeout: 15m  # was 10m\n")
    code, out, err = invoke(ws, "thread", "edit", "fetch")
    assert (code, out, err) == (0, "changed thread 'fetch' in config/threads.yaml\n", "")
    assert shown(editor) == [
        "fetch:\n  code: print('fetch')   # inline\n  timeout: 10m\n",
        "# taskctl: not saved yet, because:\n"
        "# taskctl: line 6: threads.fetch.timeout: 'soon' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)\n"
        "# taskctl: fix it and save to try again; save it unchanged or empty to give up.\n"
        "fetch:\n  code: print('fetch')   # inline\n  timeout: soon\n",
    ]
    assert (ws.config_dir / "threads.yaml").read_text() == THREADS.replace(
        "    timeout: 10m\n", "    timeout: 15m  # was 10m\n"
    )


def test_yaml_errors_in_the_editor_point_at_the_editor_line(ws: Workspace, editor: Path) -> None:
    (editor / "answer-0").write_text("fetch:\n  code: [unclosed\n")
    (editor / "status-1").write_text("1")
    code, _, err = invoke(ws, "thread", "edit", "fetch")
    assert code == 1
    assert shown(editor)[1].splitlines()[1].startswith("# taskctl: line ")
    assert err == "error: the editor exited with status 1; config/threads.yaml was not changed\n"
    assert (ws.config_dir / "threads.yaml").read_text() == THREADS


def test_saving_unchanged_gives_up(ws: Workspace, editor: Path) -> None:
    code, out, err = invoke(ws, "thread", "edit", "fetch")
    assert (code, out) == (1, "")
    assert err == "error: the thread was saved unchanged; config/threads.yaml was not changed\n"
    assert (ws.config_dir / "threads.yaml").read_text() == THREADS


def test_saving_an_invalid_entry_again_unchanged_gives_up(ws: Workspace, editor: Path) -> None:
    (editor / "answer-0").write_text("fetch:\n  timeout: soon\n")
    code, _, err = invoke(ws, "thread", "edit", "fetch")
    assert code == 1
    assert len(shown(editor)) == 2
    assert err == "error: the thread was saved unchanged; config/threads.yaml was not changed\n"
    assert (ws.config_dir / "threads.yaml").read_text() == THREADS


def test_emptying_the_file_gives_up(ws: Workspace, editor: Path) -> None:
    (editor / "answer-0").write_text("# nothing left\n")
    code, _, err = invoke(ws, "thread", "edit", "fetch")
    assert code == 1
    assert err == (
        "error: the thread was emptied; config/threads.yaml was not changed (to remove it, use "
        "'taskctl thread rm fetch')\n"
    )


def test_renaming_the_entry_is_refused_in_the_editor(ws: Workspace, editor: Path) -> None:
    (editor / "answer-0").write_text("fetcher:\n  code: x\n")
    (editor / "status-1").write_text("3")
    invoke(ws, "thread", "edit", "fetch")
    assert shown(editor)[1].splitlines()[1] == (
        "# taskctl: line 4: the thread must stay named 'fetch', not 'fetcher' (to rename it, add a new one and "
        "remove this one)"
    )


def test_a_file_changed_while_the_editor_was_open_is_not_overwritten(ws: Workspace, editor: Path) -> None:
    (editor / "answer-0").write_text("fetch:\n  code: print('mine')\n")
    (editor / "action-0").write_text(
        f"pathlib.Path({str(ws.config_dir / 'threads.yaml')!r}).write_text('threads: {{}}\\n')\n"
    )
    code, _, err = invoke(ws, "thread", "edit", "fetch")
    assert code == 1
    assert err.startswith(
        "error: config/threads.yaml changed on disk since taskctl read it; nothing was written (run the command "
        "again to apply it to the new text); your edit is kept in "
    )
    kept = Path(err.rsplit(" ", 1)[1].strip())
    assert kept.read_text() == "fetch:\n  code: print('mine')\n"
    kept.unlink()
    assert (ws.config_dir / "threads.yaml").read_text() == "threads: {}\n"


def test_dry_run_in_the_editor_prints_the_diff_only(ws: Workspace, editor: Path) -> None:
    (editor / "answer-0").write_text("fetch:\n  code: print('fetch')   # inline\n  timeout: 20m\n")
    code, out, _ = invoke(ws, "thread", "edit", "fetch", "--dry-run")
    assert code == 0
    assert "-    timeout: 10m\n+    timeout: 20m\n" in out
    assert (ws.config_dir / "threads.yaml").read_text() == THREADS


def test_a_process_is_edited_the_same_way(ws: Workspace, editor: Path) -> None:
    write(ws.config_dir / "processes.yaml", "processes:\n  p:\n    threads: [fetch]\n")
    (editor / "answer-0").write_text("p:\n  threads: [fetch, other]\n  enabled: false\n")
    code, out, _ = invoke(ws, "process", "edit", "p")
    assert (code, out) == (0, "changed process 'p' in config/processes.yaml\n")
    assert (ws.config_dir / "processes.yaml").read_text() == (
        "processes:\n  p:\n    threads: [fetch, other]\n    enabled: false\n"
    )


def test_without_an_editor_and_a_terminal_it_says_what_to_do(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    code, _, err = invoke(ws, "thread", "edit", "fetch")
    assert (code, err) == (
        2,
        "error: no editor: set $EDITOR, or change the entry with options (see --help)\n",
    )
