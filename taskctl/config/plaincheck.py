"""Validating the entries of a config file without pydantic, when each is plainly valid.

A command that changes the config (`thread add`, `process edit`, ...) validates the file it changes, and
importing pydantic and building the models of `taskctl.config.spec` cost more than all the rest of it. An
entry whose keys are all known and whose values all have exactly the type the models take (text, whole
numbers in range, known words, durations, lists of text, ...) is valid; it becomes here the plain data that
validating it with the models gives. Anything else (an unknown key, a value pydantic would convert or
reject, the settings file) is left to `taskctl.config.validation`, which finds every problem and words it as
always: this module never reports a problem, it only answers "valid, and this is its data" or "not sure".

The key order, the keys that take one of a few words, and the keys `--set` takes as text are read from the
tables below by the edit planner too (`taskctl.config.edits`). A test checks every table against the models.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from taskctl.config.models import CatchUp, IntoSkus, OnFailure, Overlap, ThreadType, scalar_text
from taskctl.units import parse_duration, parse_size
from taskctl.workspace import NAME_PATTERN


class Unsure(Exception):
    """The value is not plainly valid: the models decide."""


Check = Callable[[Any], Any]  # a value -> its plain form; raises Unsure
FieldsCheck = Callable[[Any], dict[str, Any]]


def _text(value: Any) -> str:
    if type(value) is not str:
        raise Unsure
    return value


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _choice(kind: type[StrEnum]) -> Check:
    words = {member.value for member in kind}

    def check(value: Any) -> str:
        if type(value) is not str or value not in words:
            raise Unsure
        return value

    return check


def _whole(low: int, high: int | None = None) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int or value < low or (high is not None and value > high):
            raise Unsure
        return value

    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> float:
        if type(value) not in (int, float) or not low <= value <= high:
            raise Unsure
        return float(value)

    return check


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise Unsure
    return value


def _duration(value: Any) -> float:
    if type(value) not in (str, int, float):
        raise Unsure
    try:
        return float(parse_duration(value))
    except ValueError:
        raise Unsure from None


def _size(value: Any) -> int:
    if type(value) not in (str, int):
        raise Unsure
    try:
        return parse_size(value)
    except ValueError:
        raise Unsure from None


def _texts(value: Any) -> list[str]:
    if type(value) is not list or any(type(item) is not str for item in value):
        raise Unsure
    return list(value)


def _mapping_of_text_keys(value: Any) -> dict[str, Any]:
    if type(value) is not dict or any(type(key) is not str for key in value):
        raise Unsure
    return dict(value)


def _zone(value: Any) -> str:
    name = _text(value)
    try:
        zoneinfo.ZoneInfo(name)
    except Exception:  # not a zone (the models say which way): theirs to report
        raise Unsure from None
    return name


def _fields(fields: Mapping[str, Check], required: tuple[str, ...] = ()) -> FieldsCheck:
    """A mapping of these keys only (`required` among them), each checked; the keys given, in the models'
    order."""

    def check(value: Any) -> dict[str, Any]:
        if type(value) is not dict or any(key not in fields for key in value):
            raise Unsure
        if any(key not in value for key in required):
            raise Unsure
        return {key: field(value[key]) for key, field in fields.items() if key in value}

    return check


def _schedules(value: Any) -> list[Any]:
    items = [value] if type(value) in (str, dict) else value
    if type(items) is not list:
        raise Unsure
    return [item if type(item) is str else _mapping_of_text_keys(item) for item in items]


def _command(value: Any) -> str | list[str]:
    return value if type(value) is str else _texts(value)


def _args(value: Any) -> list[Any]:
    if type(value) is not list:
        raise Unsure
    return list(value)


def _env(value: Any) -> dict[str, str]:
    mapping = _mapping_of_text_keys(value)
    try:
        return {key: item if type(item) is str else scalar_text(item) for key, item in mapping.items()}
    except ValueError:
        raise Unsure from None


_retries_fields = _fields({"count": _whole(0, 100), "delay": _duration, "backoff": _number(1.0, 100.0)})


def _retries(value: Any) -> dict[str, Any]:
    if type(value) is int:
        return _retries_fields({"count": value})
    return _retries_fields(value)


_selection_fields = _fields(
    {
        "search": _optional(_text),
        "base_sku": _optional(_text),
        "min_rating": _optional(_number(0.0, 5.0)),
        "unrated": _flag,
        "limit": _optional(_whole(1)),
        "stale": _optional(_duration),
    }
)


def _selection(value: Any) -> dict[str, Any]:
    selection = _selection_fields({} if value is None else value)
    if selection.get("unrated") and selection.get("min_rating") is not None:
        raise Unsure  # they exclude each other
    return selection


_sku_input = _fields({"skus": _selection, "required": _flag}, required=("skus",))


def _input(value: Any) -> str | dict[str, Any]:
    return value if type(value) is str else _sku_input(value)


_retention = _fields(
    {"keep_runs": _optional(_whole(1)), "max_age": _optional(_duration), "max_total_size": _optional(_size)}
)

# The keys of a thread and of a process, in the models' order.
THREAD_FIELDS: dict[str, Check] = {
    "type": _choice(ThreadType),
    "script": _optional(_text),
    "command": _optional(_command),
    "code": _optional(_text),
    "func": _optional(_text),
    "test": _optional(_text),
    "input": _optional(_input),
    "output": _optional(_fields({"file": _text, "into_skus": _choice(IntoSkus)}, required=("file",))),
    "args": _args,
    "kwargs": _mapping_of_text_keys,
    "env": _env,
    "timeout": _optional(_duration),
    "retries": _retries,
    "requirements": _texts,
    "tags": _texts,
    "description": _optional(_text),
    "schedule": _schedules,
    "timezone": _optional(_zone),
    "enabled": _flag,
}


def _chain(value: Any) -> list[str]:
    threads = _texts(value)
    if not threads:
        raise Unsure
    return threads


PROCESS_FIELDS: dict[str, Check] = {
    "threads": _chain,
    "schedule": _schedules,
    "timezone": _optional(_zone),
    "on_failure": _optional(_choice(OnFailure)),
    "overlap": _optional(_choice(Overlap)),
    "max_instances": _whole(1, 100),
    "catch_up": _optional(_choice(CatchUp)),
    "misfire_grace": _optional(_duration),
    "timeout": _optional(_duration),
    "enabled": _flag,
    "notify": _texts,
    "retention": _optional(_retention),
    "tags": _texts,
    "description": _optional(_text),
}

_ENTRIES: dict[str, FieldsCheck] = {
    "threads": _fields(THREAD_FIELDS),
    "processes": _fields(PROCESS_FIELDS, required=("threads",)),
}

# The keys that take one of a few words, and the key paths `--set KEY=VALUE` takes as text ("env.*": any
# variable), as the models type them.
CHOICES: dict[str, dict[str, type[StrEnum]]] = {
    "threads": {"type": ThreadType},
    "processes": {"on_failure": OnFailure, "overlap": Overlap, "catch_up": CatchUp},
}
TEXT_KEYS: dict[str, frozenset[str]] = {
    "threads": frozenset(
        {"type", "script", "code", "func", "test", "description", "output.file", "output.into_skus", "env.*"}
    ),
    "processes": frozenset({"on_failure", "overlap", "catch_up", "description"}),
}


def plain_entry(section: str, entry: Any) -> dict[str, Any]:
    """A thread's or process's entry (`section`: threads or processes) as the plain data validation gives;
    raises Unsure unless it is plainly valid."""
    return _ENTRIES[section]({} if entry is None else entry)


def plain_file_entries(data: Any) -> dict[str, dict[str, dict[str, Any]]] | None:
    """The entries of a config file other than config/taskctl.yaml (its parsed data), section -> name ->
    plain data, if every one of them is plainly valid and well named; else None."""
    data = {} if data is None else data
    if type(data) is not dict or any(key not in _ENTRIES for key in data):
        return None
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for section in _ENTRIES:
        entries = data.get(section)
        if entries is None:
            continue
        if type(entries) is not dict:
            return None
        for name, entry in entries.items():
            if type(name) is not str or not NAME_PATTERN.fullmatch(name):
                return None
            try:
                found.setdefault(section, {})[name] = plain_entry(section, entry)
            except Unsure:
                return None
    return found
