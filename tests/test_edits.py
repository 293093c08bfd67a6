"""Planning and applying config changes: validated as a whole first, written all or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskctl.config import load_config
from taskctl.config.edits import (
    EditRefused,
    EntryEdit,
    NewEntry,
    Section,
    apply_change,
    ordered_entry,
    parse_assignment,
    plan_add,
    plan_edit,
    plan_remove,
)
from taskctl.config.threadfiles import ThreadFile, ThreadFileRole
from taskctl.config.writer import EditError
from taskctl.workspace import Workspace
from tests.conftest import write


def test_a_plan_changes_nothing_until_it_is_applied(empty_workspace: Workspace, tmp_path: Path) -> None:
    script = write(tmp_path / "job.py", "print(1)\n")
    change = plan_add(
        empty_workspace, NewEntry(Section.THREADS, "job", {}, (ThreadFile(ThreadFileRole.SCRIPT, script),))
    )
    assert list(empty_workspace.config_dir.iterdir()) == []
    assert not empty_workspace.thread_dir("job").exists()
    apply_change(change)
    assert load_config(empty_workspace).threads["job"].script == "job.py"


def test_a_file_changed_after_planning_refuses_the_change_and_undoes_the_copies(
    empty_workspace: Workspace, tmp_path: Path
) -> None:
    ws = empty_workspace
    threads = write(ws.config_dir / "threads.yaml", "threads:\n  job:\n    script: job.py\n")
    write(ws.thread_dir("job") / "job.py", "print('v1')\n")
    new_script = write(tmp_path / "job.py", "print('v2')\n")
    links = write(tmp_path / "links.csv", "url\n")
    files = (ThreadFile(ThreadFileRole.SCRIPT, new_script), ThreadFile(ThreadFileRole.INPUT, links))
    change = plan_edit(ws, Section.THREADS, "job", EntryEdit(files=files))

    threads.write_text("threads:\n  job:\n    script: job.py\n    timeout: 5m\n")  # someone else's edit
    with pytest.raises(EditError) as caught:
        apply_change(change)
    assert caught.value.message.startswith("config/threads.yaml changed on disk since taskctl read it")
    assert threads.read_text() == "threads:\n  job:\n    script: job.py\n    timeout: 5m\n"
    assert sorted(p.name for p in ws.thread_dir("job").iterdir()) == ["job.py"]
    assert (ws.thread_dir("job") / "job.py").read_text() == "print('v1')\n"


def test_a_thread_file_that_will_be_copied_counts_as_there_for_validation(empty_workspace: Workspace) -> None:
    with pytest.raises(EditRefused) as caught:
        plan_add(empty_workspace, NewEntry(Section.THREADS, "job", {"script": "job.py"}))
    assert [p.render() for p in caught.value.problems] == [
        "config/threads.yaml:3: threads.job.script: script threads/job/job.py does not exist; create it or set "
        "'script:'"
    ]


def test_removing_a_used_thread_with_force_edits_the_processes_first(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "threads.yaml", "threads:\n  a:\n    code: x\n  b:\n    code: y\n")
    write(ws.config_dir / "team/processes.yaml", "processes:\n  p:\n    threads: [a, b]\n")
    change = plan_remove(ws, Section.THREADS, "a", force=True)
    assert [e.before.display for e in change.edits] == ["config/team/processes.yaml", "config/threads.yaml"]
    apply_change(change)
    assert (ws.config_dir / "team/processes.yaml").read_text() == "processes:\n  p:\n    threads: [b]\n"
    assert (ws.config_dir / "threads.yaml").read_text() == "threads:\n  b:\n    code: y\n"


def test_a_thread_that_is_a_whole_chain_cannot_be_forced_out(empty_workspace: Workspace) -> None:
    write(
        empty_workspace.config_dir / "a.yaml",
        "threads:\n  a:\n    code: x\nprocesses:\n  p:\n    threads: [a]\n",
    )
    with pytest.raises(Exception) as caught:
        plan_remove(empty_workspace, Section.THREADS, "a", force=True)
    assert str(caught.value) == (
        "thread a is the only thread of process p (config/a.yaml:5); remove that process first "
        "('taskctl process rm p')"
    )


def test_assignments_take_text_keys_as_typed_and_read_the_rest_as_yaml() -> None:
    assert parse_assignment(Section.THREADS, "description=on: 10:30 # x") == ("description", "on: 10:30 # x")
    assert parse_assignment(Section.THREADS, "env.A=0777") == ("env.A", "0777")
    assert parse_assignment(Section.THREADS, "retries.count=3") == ("retries.count", 3)
    assert parse_assignment(Section.PROCESSES, "enabled=false") == ("enabled", False)
    assert parse_assignment(Section.PROCESSES, "timeout=4h") == ("timeout", "4h")
    assert parse_assignment(Section.PROCESSES, "threads=[a, b]") == ("threads", ["a", "b"])


def test_a_new_entry_lists_its_keys_in_the_order_of_the_docs() -> None:
    fields = {"tags": ["t"], "enabled": True, "timeout": None, "code": "x", "type": "others", "env": {}}
    assert list(ordered_entry(Section.THREADS, fields)) == ["type", "code", "tags"]
