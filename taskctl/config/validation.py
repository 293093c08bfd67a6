"""Validating config files with the pydantic models of `taskctl.config.spec`, entry by entry, turning
pydantic's errors into problems that name the file, line and key and say what would be valid.

Only a file that changed since the last load is validated (see `taskctl.config.cache`), and only here when one
of its entries is not plainly valid (see `taskctl.config.plaincheck`): this module is where pydantic is
imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from taskctl.config import spec
from taskctl.config.loader import SETTINGS_FILE, FileEntries, InvalidEntry, show_value
from taskctl.config.models import ThreadConfig, thread_from_json
from taskctl.config.rawfile import PathKey, format_path
from taskctl.config.spec import INPUT_TAGS, ConfigFile, Settings
from taskctl.config.yamlfile import YamlDocument
from taskctl.errors import ConfigProblem, closest
from taskctl.workspace import NAME_PATTERN, bad_name

_SETTINGS_KEYS = set(Settings.model_fields)
_FILE_KEYS = set(ConfigFile.model_fields)
_M = TypeVar("_M", bound=BaseModel)


def validate_file(
    doc: YamlDocument, display: str, is_settings: bool, problems: list[ConfigProblem]
) -> FileEntries:
    """Validate one file entry by entry, so one bad entry does not hide the problems of the others."""
    found = FileEntries()
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        message = "must be a mapping with 'threads:' and/or 'processes:' at the top"
        problems.append(ConfigProblem(display, doc.line_of(()), "", message))
        return found
    allowed = _FILE_KEYS | (_SETTINGS_KEYS if is_settings else set())
    for key in data:
        if key in allowed:
            continue
        if key in _SETTINGS_KEYS:
            message = f"'{key}' is a setting; move it to config/{SETTINGS_FILE}"
        else:
            hint = closest(str(key), allowed)
            message = f"unknown key '{key}'" + (
                f" (did you mean '{hint}'?)" if hint else f" (valid keys: {', '.join(sorted(allowed))})"
            )
        problems.append(ConfigProblem(display, doc.line_of((key,)), str(key), message))
    if is_settings:
        subset = {k: v for k, v in data.items() if k in _SETTINGS_KEYS}
        settings = _validated(Settings, subset, (), doc, display, problems)
        found.settings = None if settings is None else spec.plain(settings)
    for section, model in (("threads", spec.ThreadConfig), ("processes", spec.ProcessConfig)):
        entries = data.get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            message = f"must be a mapping of names to {section} ({show_value(entries)} given)"
            problems.append(ConfigProblem(display, doc.line_of((section,)), section, message))
            continue
        for name, entry in entries.items():
            name = str(name)
            if not NAME_PATTERN.fullmatch(name):
                line = doc.line_of((section, name))
                problems.append(ConfigProblem(display, line, f"{section}.{name}", bad_name(name)))
                continue
            found.declared.append((section, name))
            if section == "processes" and isinstance(entry, dict) and isinstance(entry.get("threads"), list):
                found.thread_refs[name] = [str(t) for t in entry["threads"]]
            raw = {} if entry is None else entry
            bad_keys: set[str] = set()
            validated = _validated(model, raw, (section, name), doc, display, problems, bad_keys)
            if validated is not None:
                getattr(found, section)[name] = spec.plain(validated)
            elif isinstance(raw, dict):
                found.invalid[(section, name)] = InvalidEntry(raw, frozenset(bad_keys))
    return found


def _validated(
    model: type[_M],
    data: Any,
    prefix: PathKey,
    doc: YamlDocument,
    display: str,
    problems: list[ConfigProblem],
    bad_keys: set[str] | None = None,
) -> _M | None:
    """`model` validated from `data`, or None after adding every error to `problems` (and the top-level keys
    they are about to `bad_keys`)."""
    if not isinstance(data, dict):
        kinds: dict[type[BaseModel], str] = {spec.ThreadConfig: "a thread", spec.ProcessConfig: "a process"}
        what = kinds.get(model, "settings")
        line = doc.line_of(prefix)
        problems.append(
            ConfigProblem(display, line, format_path(prefix), f"must be a mapping describing {what}")
        )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_problem_from(error, doc, display, model, prefix))
            if bad_keys is not None:
                bad_keys.add(str(error["loc"][0]) if error["loc"] else "*")
        return None


def _problem_from(
    error: Any, doc: YamlDocument, display: str, model: type[Any], prefix: PathKey
) -> ConfigProblem:
    # a tagged union (a thread's `input`) puts its tag in the location: not a key the user wrote
    inner: PathKey = tuple(part for part in error["loc"] if part not in INPUT_TAGS)
    loc: PathKey = prefix + inner
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx", {})
    if kind == "missing":
        parent, key = loc[:-1], loc[-1]
        return ConfigProblem(
            display, doc.line_of(parent), format_path(parent), f"required key '{key}' is missing"
        )
    path = format_path(loc)
    line = doc.line_of(loc)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, inner[:-1])
        key = str(loc[-1])
        hint = closest(key, allowed)
        if hint:
            message = f"unknown key '{key}' (did you mean '{hint}'?)"
        else:
            message = f"unknown key '{key}' (valid keys: {', '.join(sorted(allowed))})"
        return ConfigProblem(display, line, format_path(loc[:-1]), message)
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        hint = closest(str(value), [e.strip() for e in expected.replace(" or ", ",").split(",")])
        tail = f" (did you mean '{hint}'?)" if hint else f" (use {expected})"
        return ConfigProblem(display, line, path, f"{show_value(value)} is not valid{tail}")
    if kind == "value_error":
        return ConfigProblem(display, line, path, str(error["msg"]).removeprefix("Value error, "))
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), "?")
        relation = {
            "greater_than_equal": f"must be at least {bound}",
            "greater_than": f"must be more than {bound}",
            "less_than_equal": f"must be at most {bound}",
            "less_than": f"must be less than {bound}",
        }[kind]
        return ConfigProblem(display, line, path, f"{show_value(value)} is out of range ({relation})")
    if kind in ("model_type", "model_attributes_type", "string_type") and inner == ("input",):
        return ConfigProblem(
            display,
            line,
            path,
            f"{show_value(value)} is not an input "
            "(give a CSV file in the thread's folder, or {skus: QUERY})",
        )
    if kind == "too_short" and loc[-1] == "threads":
        return ConfigProblem(display, line, path, "a process must name at least one thread")
    if kind == "string_pattern_mismatch" and loc[-1] == "url":
        return ConfigProblem(display, line, path, f"{show_value(value)} is not an http(s) URL")
    wanted = _WANTED.get(kind)
    if wanted:
        return ConfigProblem(display, line, path, f"{show_value(value)} is not {wanted}")
    message = str(error["msg"])
    return ConfigProblem(display, line, path, f"{show_value(value)}: {message[0].lower()}{message[1:]}")


_WANTED = {
    "string_type": "text (quote it)",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _allowed_keys(model: type[Any], loc: PathKey) -> set[str]:
    """The keys valid at `loc` (field names, dict keys and list indexes) inside `model`."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return set()
            current = current.model_fields[part].annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return set()
    current = _unwrap(current)
    return (
        set(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else set()
    )


def _unwrap(annotation: Any) -> Any:
    """`X | None`, `Annotated[X, ...]` -> X (preferring a model or a container among union members)."""
    while get_origin(annotation) in (Union, UnionType, Annotated):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) is Annotated:
            annotation = args[0]
            continue
        args = [get_args(a)[0] if get_origin(a) is Annotated else a for a in args]
        preferred = [
            a
            for a in args
            if get_origin(a) in (dict, list) or (isinstance(a, type) and issubclass(a, BaseModel))
        ]
        annotation = (preferred or args)[0]
    return annotation


# The keys that decide which files a thread needs; when one of them is wrong, its files are not checked.
_FILE_KEYS_OF_THREADS = frozenset({"type", "script", "command", "code", "input", "*"})


def partial_threads(invalid: Mapping[tuple[str, str], InvalidEntry]) -> dict[str, ThreadConfig]:
    """Threads that failed validation, without their bad keys, so that their files are still checked (a
    missing script shows with a bad timeout, not after it is fixed)."""
    found = {}
    for (section, name), entry in invalid.items():
        if section != "threads" or entry.bad_keys & _FILE_KEYS_OF_THREADS:
            continue
        good = {key: value for key, value in entry.raw.items() if key not in entry.bad_keys}
        try:
            found[name] = thread_from_json(spec.plain(spec.ThreadConfig.model_validate(good)))
        except ValidationError:
            continue
    return found
