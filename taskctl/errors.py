"""Expected failures, with messages written for the person at the terminal.

A `TaskctlError` is turned into one line on stderr and an exit code by the CLI; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TaskctlError(Exception):
    """An expected failure: `str(error)` is a finished sentence for the user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(TaskctlError):
    """The command line itself was wrong (exit 2)."""

    exit_code = 2


class NotFoundError(TaskctlError):
    """A named thing (process, thread, run, sku) does not exist."""


class WorkspaceError(TaskctlError):
    """No workspace, or a workspace that cannot be used."""


class ConfigError(TaskctlError):
    """The YAML config is invalid; `problems` holds every problem found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        first = problems[0].render() if problems else "the config is invalid"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(first + more)


class ConfigProblem:
    """One problem in the config: where it is and what would be valid."""

    def __init__(self, file: str | None, line: int | None, path: str, message: str) -> None:
        self.file = file
        self.line = line
        self.path = path
        self.message = message

    def render(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}

    def __repr__(self) -> str:
        return f"ConfigProblem({self.render()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigProblem) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(self.render())


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like `word`, for 'did you mean' hints, or None if nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def not_found(kind: str, name: str, choices: Iterable[str], hint: str = "") -> NotFoundError:
    """A NotFoundError naming the closest existing name, if any."""
    choices = sorted(choices)
    suggestion = closest(name, choices)
    if suggestion:
        tail = f"; did you mean '{suggestion}'?"
    elif hint:
        tail = f"; {hint}"
    elif choices:
        shown = ", ".join(choices[:8]) + (", ..." if len(choices) > 8 else "")
        tail = f"; known: {shown}."
    else:
        tail = "."
    return NotFoundError(f"no {kind} named '{name}'{tail}")
