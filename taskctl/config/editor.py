"""`thread edit NAME` / `process edit NAME` without flags: the entry alone in $EDITOR, like `crontab -e`.

The entry's own text goes into a temporary file. When the editor exits, the text is checked as the whole
config would be with it; if it is not valid, the file is reopened with the problems as comments at the top,
until it is valid, or the user gives up by saving it unchanged or empty.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from taskctl.config.edits import (
    ConfigChange,
    EditRefused,
    Section,
    apply_change,
    entry_source,
    locate,
    plan_source_edit,
)
from taskctl.config.writer import EditError
from taskctl.errors import ConfigProblem, TaskctlError, UsageError
from taskctl.workspace import Workspace

HEADER = "# taskctl: "

Editor = Callable[[Path], int]


class EditAbandoned(TaskctlError):
    """The user gave up: the editor failed, or the entry was saved unchanged or empty. Nothing was written."""


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi on a terminal; split like a shell (`code --wait` works)."""
    chosen = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if chosen:
        return shlex.split(chosen)
    if sys.stdin.isatty():
        return ["vi"]
    raise UsageError("no editor: set $EDITOR, or change the entry with options (see --help)")


def open_in_editor(path: Path) -> int:
    """Run the user's editor on `path` and wait for it; its exit status."""
    command = editor_command()
    try:
        return subprocess.run([*command, str(path)], check=False).returncode
    except OSError as exc:
        raise UsageError(f"cannot start the editor '{command[0]}' ({exc.strerror}); check $EDITOR") from None


def edit_in_editor(
    workspace: Workspace,
    section: Section,
    name: str,
    *,
    apply: bool = True,
    now: datetime | None = None,
    editor: Editor = open_in_editor,
) -> ConfigChange:
    """Let the user edit the entry until it is valid, then apply the change (unless `apply` is false).

    Raises EditAbandoned when the user gives up. If the file changed on disk meanwhile, the change is
    refused and the edited text is kept in the temporary file, whose path the error names.
    """
    before, shown = entry_source(workspace, section, name)
    first_line = locate(workspace, section, name).line or 1
    header: list[str] = []
    fd, temp_name = tempfile.mkstemp(prefix=f"taskctl-{name}-", suffix=".yaml")
    os.close(fd)
    temp = Path(temp_name)
    keep = False
    try:
        while True:
            temp.write_text("".join(header) + shown, encoding="utf-8")
            status = editor(temp)
            if status != 0:
                raise EditAbandoned(
                    f"the editor exited with status {status}; {before.display} was not changed"
                )
            body = _without_header(temp.read_text(encoding="utf-8", errors="replace"))
            if body == shown:
                raise EditAbandoned(
                    f"the {section.kind} was saved unchanged; {before.display} was not changed"
                )
            if not any(line.strip() and not line.lstrip().startswith("#") for line in body.splitlines()):
                raise EditAbandoned(
                    f"the {section.kind} was emptied; {before.display} was not changed (to remove it, use "
                    f"'taskctl {section.kind} rm {name}')"
                )
            try:
                change = plan_source_edit(workspace, section, name, before, body, now=now)
            except EditRefused as refused:
                shown = body
                header = _problem_header(refused.problems, before.display, first_line, body.count("\n") + 1)
                continue
            if apply:
                try:
                    apply_change(change)
                except EditError as exc:
                    keep = True
                    raise EditError(f"{exc.message}; your edit is kept in {temp}") from None
            return change
    finally:
        if not keep:
            temp.unlink(missing_ok=True)


def _without_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(HEADER):
        lines.pop(0)
    return "".join(lines)


def _problem_header(
    problems: list[ConfigProblem], display: str, first_line: int, body_lines: int
) -> list[str]:
    """The problems as comment lines; a line in the entry is given as a line of the editor's file.

    `first_line` is the entry's first line in `display` (the lines above it do not change).
    """
    lines = [f"{HEADER}not saved yet, because:\n"]
    shift = len(problems) + 2  # the header's own lines
    for problem in problems:
        line = problem.line
        if problem.file == display and line is not None and first_line <= line < first_line + body_lines:
            line -= first_line - 1
        elif problem.file is not None:
            lines.append(f"{HEADER}{problem.render()}\n")
            continue
        where = f"line {line + shift}: " if line else ""
        path = f"{problem.path}: " if problem.path else ""
        lines.append(f"{HEADER}{where}{path}{problem.message}\n")
    lines.append(f"{HEADER}fix it and save to try again; save it unchanged or empty to give up.\n")
    return lines
