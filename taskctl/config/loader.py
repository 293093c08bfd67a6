"""Loading every YAML file under config/, merging them, and checking what no single file can check.

All problems are collected (not only the first) and each names file, line, key path and what would be
valid. A config either loads whole or raises `ConfigError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from taskctl import schedule as schedules
from taskctl.clock import machine_zone_name
from taskctl.config.models import (
    FUNC_PATTERN,
    INPUT_TAGS,
    THREAD_KINDS,
    ConfigFile,
    NotifyTarget,
    OnFailure,
    Overlap,
    ProcessConfig,
    Settings,
    ThreadConfig,
    ThreadType,
)
from taskctl.config.yamlfile import PathKey, YamlDocument, format_path, parse_yaml, read_yaml
from taskctl.errors import ConfigError, ConfigProblem, closest
from taskctl.workspace import NAME_PATTERN, Workspace

SETTINGS_FILE = "taskctl.yaml"
_SETTINGS_KEYS = set(Settings.model_fields)
_FILE_KEYS = set(ConfigFile.model_fields)
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class Origin:
    """Where an entry was declared."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class ResolvedThread:
    """A thread as a run uses it: every default applied."""

    name: str
    config: ThreadConfig
    timeout: float | None  # its own, else the workspace default; None = no limit
    kill_grace: float
    max_log_size: int


@dataclass(frozen=True)
class ResolvedProcess:
    """What a run executes, fully resolved and immutable: a process, or a thread run alone as a one-thread
    process of the same name. The runner reads only this, never the settings it came from."""

    name: str
    threads: tuple[ResolvedThread, ...]
    on_failure: OnFailure
    overlap: Overlap
    max_instances: int
    timeout: float | None  # for the whole chain
    zone_name: str  # the workspace zone: run folder names and log time stamps
    revision: str
    notify: tuple[tuple[str, NotifyTarget], ...] = ()  # the targets the process names, in its order


@dataclass(frozen=True)
class LoadedConfig:
    """A whole, valid config. Processes include one-thread processes for scheduled threads."""

    workspace: Workspace
    settings: Settings
    threads: dict[str, ThreadConfig]
    processes: dict[str, ProcessConfig]
    schedules: dict[str, list[schedules.Schedule]]
    zone_name: str
    revision: str
    files: list[str]
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    implicit: set[str] = field(default_factory=set)  # processes that are scheduled threads
    warnings: list[ConfigProblem] = field(default_factory=list)
    definitions: dict[str, ResolvedProcess] = field(default_factory=dict)  # every runnable name, resolved

    def zone_of(self, process: str) -> ZoneInfo:
        return ZoneInfo(self.processes[process].timezone or self.zone_name)

    def thread(self, name: str) -> ThreadConfig:
        from taskctl.errors import not_found

        if name not in self.threads:
            raise not_found("thread", name, self.threads)
        return self.threads[name]

    def process(self, name: str) -> ProcessConfig:
        from taskctl.errors import not_found

        if name not in self.processes:
            raise not_found("process", name, self.processes)
        return self.processes[name]

    def thread_timeout(self, thread: str) -> float | None:
        """The per-thread timeout: the thread's own, else the workspace default."""
        own = self.threads[thread].timeout
        return own if own is not None else self.settings.defaults.timeout

    def resolved(self, name: str) -> ResolvedProcess:
        """What a run of `name` (a process, or a thread alone) executes. Raises NotFoundError."""
        from taskctl.errors import not_found

        if name not in self.definitions:
            raise not_found("process or thread", name, [*self.processes, *self.threads])
        return self.definitions[name]


@dataclass(frozen=True)
class PendingChanges:
    """Edits not yet on disk, so that a change is checked as a whole before anything is written."""

    texts: Mapping[Path, str] = field(default_factory=dict)  # config file -> its text after the change
    new_files: frozenset[Path] = frozenset()  # files (resolved paths) the change will create in threads/


def load_config(
    workspace: Workspace, now: datetime | None = None, pending: PendingChanges | None = None
) -> LoadedConfig:
    """Read, merge and check the config of `workspace`. Raises ConfigError listing every problem.

    `now` (aware) enables the warning about one-shot schedules that are already in the past. `pending`
    loads the config as it would be after an edit.
    """
    pending = pending or PendingChanges()
    files = config_files(workspace, extra=pending.texts)
    problems: list[ConfigProblem] = []
    settings = Settings()
    threads: dict[str, ThreadConfig] = {}
    processes: dict[str, ProcessConfig] = {}
    origins: dict[tuple[str, str], Origin] = {}
    digest = hashlib.sha256()
    lines: dict[str, dict[PathKey, int]] = {}  # key path -> line, per file
    thread_refs: dict[str, list[str]] = {}  # process -> the threads it names, even if the process is invalid
    invalid: dict[tuple[str, str], _InvalidEntry] = {}  # entries that failed validation, for further checks

    warnings: list[ConfigProblem] = []
    for path in files:
        display = config_display(workspace, path)
        if path in pending.texts:
            doc = parse_yaml(pending.texts[path], display)
            doc.raw = pending.texts[path].encode()
        else:
            doc = read_yaml(path, display)
        digest.update(display.encode() + b"\0" + doc.raw + b"\0")
        lines[display] = doc.lines
        for problem in (*doc.problems, *doc.warnings):
            problem.file = display
        problems.extend(doc.problems)
        warnings.extend(doc.warnings)
        if doc.data is None and doc.problems:
            continue
        is_settings = path.name == SETTINGS_FILE and path.parent == workspace.config_dir
        parsed = _validate_file(doc, display, is_settings, problems)
        if parsed.settings is not None:
            settings = parsed.settings
        for section, name in parsed.declared:
            origin = Origin(display, doc.lines.get((section, name)))
            previous = origins.get((section, name))
            if previous is not None:
                message = f"'{name}' is already declared in {previous}; rename one of them"
                problems.append(ConfigProblem(display, origin.line, f"{section}.{name}", message))
                continue
            origins[(section, name)] = origin
            if section == "processes":
                thread_refs[name] = parsed.thread_refs.get(name, [])
            if (section, name) in parsed.invalid:
                invalid[(section, name)] = parsed.invalid[(section, name)]
            if name in parsed.threads and section == "threads":
                threads[name] = parsed.threads[name]
            elif name in parsed.processes and section == "processes":
                processes[name] = parsed.processes[name]

    zone_name = settings.timezone or machine_zone_name()
    _check_threads(workspace, threads, origins, lines, problems, pending.new_files)
    _check_threads(workspace, _partial_threads(invalid), origins, lines, problems, pending.new_files)
    declared_threads = {name for section, name in origins if section == "threads"}
    _check_thread_refs(declared_threads, thread_refs, origins, lines, problems)
    _check_processes(processes, settings, origins, lines, problems)
    _check_name_clashes(origins, problems)
    warnings.extend(_disabled_threads_in_chains(threads, processes, origins, lines))

    resolved: dict[str, ProcessConfig] = {name: _with_defaults(p, settings) for name, p in processes.items()}
    implicit: set[str] = set()
    for name, thread in threads.items():
        if thread.schedule and name not in processes:
            resolved[name] = _thread_as_process(thread, name, settings)
            implicit.add(name)

    parsed_schedules: dict[str, list[schedules.Schedule]] = {}
    for name, process in resolved.items():
        section = "threads" if name in implicit else "processes"
        origin = origins.get((section, name), Origin("config", None))
        zone = ZoneInfo(process.timezone or zone_name)
        check = _ScheduleCheck(section, name, origin, lines.get(origin.file, {}), now, problems, warnings)
        parsed_schedules[name] = check.parse(process.schedule, zone)
    for (section, name), entry in invalid.items():
        # An entry that failed validation still has its schedules checked: the next error shows now, not
        # after the first is fixed.
        origin = origins[(section, name)]
        specs = entry.valid("schedule")
        if "*" in entry.bad_keys or not specs:
            continue
        if section == "processes":
            _check_notify(name, entry.valid("notify"), settings, origin, lines, problems)
        zone_text = entry.valid("timezone")
        zone = ZoneInfo(zone_text if isinstance(zone_text, str) else zone_name)
        check = _ScheduleCheck(section, name, origin, lines.get(origin.file, {}), now, problems, warnings)
        check.parse(specs if isinstance(specs, list) else [specs], zone)

    if problems:
        raise ConfigError(_sorted(problems))
    revision = digest.hexdigest()[:12]
    return LoadedConfig(
        workspace=workspace,
        settings=settings,
        threads=threads,
        processes=resolved,
        schedules=parsed_schedules,
        zone_name=zone_name,
        revision=revision,
        files=[config_display(workspace, p) for p in files],
        origins=origins,
        implicit=implicit,
        warnings=warnings,
        definitions=_definitions(threads, resolved, settings, zone_name, revision),
    )


def _definitions(
    threads: dict[str, ThreadConfig],
    processes: dict[str, ProcessConfig],  # with their defaults applied
    settings: Settings,
    zone_name: str,
    revision: str,
) -> dict[str, ResolvedProcess]:
    """Every runnable name with its defaults filled once: each process, and each thread as a one-thread
    process (a scheduled thread is both)."""
    defaults = settings.defaults
    resolved_threads = {
        name: ResolvedThread(
            name=name,
            config=thread,
            timeout=thread.timeout if thread.timeout is not None else defaults.timeout,
            kill_grace=defaults.kill_grace,
            max_log_size=defaults.max_log_size,
        )
        for name, thread in threads.items()
    }
    runnable = {name: _thread_as_process(thread, name, settings) for name, thread in threads.items()}
    runnable.update(processes)
    return {
        name: ResolvedProcess(
            name=name,
            threads=tuple(resolved_threads[thread] for thread in process.threads),
            on_failure=process.on_failure or defaults.on_failure,
            overlap=process.overlap or defaults.overlap,
            max_instances=process.max_instances,
            timeout=process.timeout,
            zone_name=zone_name,
            revision=revision,
            notify=tuple(
                (target, settings.notify[target])
                for target in dict.fromkeys(process.notify)
                if target in settings.notify
            ),
        )
        for name, process in runnable.items()
    }


def config_files(workspace: Workspace, extra: Mapping[Path, str] | None = None) -> list[Path]:
    """Every *.yaml / *.yml under config/ (one level of subfolders) plus `extra`, in a stable order.

    Whatever has such a name is listed, a folder, FIFO or dangling link too, so that the reader reports
    it instead of skipping it silently.
    """
    folder = workspace.config_dir
    found = {p for pattern in ("*.yaml", "*.yml", "*/*.yaml", "*/*.yml") for p in folder.glob(pattern)}
    found.update(extra or {})
    return sorted(
        (p for p in found if not p.name.startswith(".")),
        key=lambda p: str(p.relative_to(folder)),
    )


def config_display(workspace: Workspace, path: Path) -> str:
    """`config/x.yaml` for messages: the path as the user sees it, a symbolic link not followed."""
    try:
        return str(path.relative_to(workspace.root))
    except ValueError:
        return workspace.relative(path)


def _line_in(origin: Origin, doc_lines: dict[PathKey, int], path: PathKey) -> int | None:
    for end in range(len(path), 0, -1):
        line = doc_lines.get(path[:end])
        if line is not None:
            return line
    return origin.line


@dataclass(frozen=True)
class _InvalidEntry:
    """A thread or process that failed validation: its raw keys and those that were wrong, so that the checks
    of its other keys (its schedules) still run and one error does not hide the next."""

    raw: dict[str, Any]
    bad_keys: frozenset[str]

    def valid(self, key: str) -> Any:
        """The raw value of `key` if it is given and passed validation, else None."""
        return None if key in self.bad_keys else self.raw.get(key)


@dataclass
class _FileEntries:
    settings: Settings | None = None
    threads: dict[str, ThreadConfig] = field(default_factory=dict)
    processes: dict[str, ProcessConfig] = field(default_factory=dict)
    declared: list[tuple[str, str]] = field(default_factory=list)  # every well-named entry, valid or not
    thread_refs: dict[str, list[str]] = field(default_factory=dict)  # process -> threads, valid or not
    invalid: dict[tuple[str, str], _InvalidEntry] = field(default_factory=dict)


def _validate_file(
    doc: YamlDocument, display: str, is_settings: bool, problems: list[ConfigProblem]
) -> _FileEntries:
    """Validate one file entry by entry, so one bad entry does not hide the problems of the others."""
    found = _FileEntries()
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
        found.settings = _validated(Settings, subset, (), doc, display, problems)
    for section, model in (("threads", ThreadConfig), ("processes", ProcessConfig)):
        entries = data.get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            message = f"must be a mapping of names to {section} ({_show(entries)} given)"
            problems.append(ConfigProblem(display, doc.line_of((section,)), section, message))
            continue
        for name, entry in entries.items():
            name = str(name)
            if not NAME_PATTERN.fullmatch(name):
                line = doc.line_of((section, name))
                problems.append(ConfigProblem(display, line, f"{section}.{name}", _bad_name(name)))
                continue
            found.declared.append((section, name))
            if section == "processes" and isinstance(entry, dict) and isinstance(entry.get("threads"), list):
                found.thread_refs[name] = [str(t) for t in entry["threads"]]
            raw = {} if entry is None else entry
            bad_keys: set[str] = set()
            validated = _validated(model, raw, (section, name), doc, display, problems, bad_keys)
            if validated is not None:
                getattr(found, section)[name] = validated
            elif isinstance(raw, dict):
                found.invalid[(section, name)] = _InvalidEntry(raw, frozenset(bad_keys))
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
        what = "a thread" if model is ThreadConfig else "a process" if model is ProcessConfig else "settings"
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
        return ConfigProblem(display, line, path, f"{_show(value)} is not valid{tail}")
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
        return ConfigProblem(display, line, path, f"{_show(value)} is out of range ({relation})")
    if kind in ("model_type", "model_attributes_type", "string_type") and inner == ("input",):
        return ConfigProblem(
            display,
            line,
            path,
            f"{_show(value)} is not an input (give a CSV file in the thread's folder, or {{skus: QUERY}})",
        )
    if kind == "too_short" and loc[-1] == "threads":
        return ConfigProblem(display, line, path, "a process must name at least one thread")
    if kind == "string_pattern_mismatch" and loc[-1] == "url":
        return ConfigProblem(display, line, path, f"{_show(value)} is not an http(s) URL")
    wanted = _WANTED.get(kind)
    if wanted:
        return ConfigProblem(display, line, path, f"{_show(value)} is not {wanted}")
    message = str(error["msg"])
    return ConfigProblem(display, line, path, f"{_show(value)}: {message[0].lower()}{message[1:]}")


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


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


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


def _bad_name(name: str) -> str:
    suggestion = "".join(c if c.isalnum() or c in "_-" else "_" for c in name.lower()).strip("_-")
    tail = (
        f" (try '{suggestion}')"
        if suggestion and NAME_PATTERN.fullmatch(suggestion) and suggestion.isascii()
        else ""
    )
    return (
        f"'{name}' is not a valid name: use lower-case letters, digits, '_' and '-', "
        f"starting with a letter or digit{tail}"
    )


def _check_threads(
    workspace: Workspace,
    threads: dict[str, ThreadConfig],
    origins: dict[tuple[str, str], Origin],
    lines_by_file: dict[str, dict[PathKey, int]],
    problems: list[ConfigProblem],
    new_files: frozenset[Path],
) -> None:
    def exists(path: Path) -> bool:
        return path.is_file() or path in new_files

    for name, thread in threads.items():
        origin = origins[("threads", name)]
        lines = lines_by_file.get(origin.file, {})

        def report(
            key: str | PathKey, message: str, name: str = name, origin: Origin = origin, lines: Any = lines
        ) -> None:
            inner = (key,) if isinstance(key, str) else key
            path: PathKey = ("threads", name, *inner) if inner != ("",) else ("threads", name)
            problems.append(
                ConfigProblem(origin.file, _line_in(origin, lines, path), format_path(path), message)
            )

        chosen = [k for k in THREAD_KINDS if getattr(thread, k) is not None]
        if len(chosen) > 1:
            report(
                chosen[1],
                f"a thread runs one of script, command, code, func or test, but this one sets "
                f"{' and '.join(chosen)}; keep one",
            )
            continue
        folder = workspace.thread_dir(name)
        if thread.kind == "script":
            script = _inside(folder, thread.script_name)
            if script is None:
                report("script", f"'{thread.script_name}' must be a path inside threads/{name}/")
            elif not exists(script):
                key = "script" if thread.script else ""
                report(
                    key,
                    f"script threads/{name}/{thread.script_name} does not exist; create it or set 'script:'",
                )
        if thread.kind == "command" and isinstance(thread.command, list) and not thread.command:
            report("command", "the command is empty; give the program and its arguments")
        if thread.func is not None and not FUNC_PATTERN.fullmatch(thread.func):
            report(
                "func",
                f"'{thread.func}' is not 'module:callable' (e.g. 'checks:check_api' for a function "
                f"check_api in threads/{name}/checks.py)",
            )
        if thread.test is not None:
            tests = _inside(folder, thread.test)
            if tests is None:
                report("test", f"'{thread.test}' must be a path inside threads/{name}/")
            elif not (tests.exists() or tests in new_files):
                report("test", f"threads/{name}/{thread.test} does not exist; add the tests or fix the path")
        _check_arguments(thread, report)
        if thread.type is ThreadType.SCRAPING and thread.input is None:
            report("", "a scraping thread needs 'input:', the CSV of links it works from (or {skus: QUERY})")
        if thread.input_file is not None:
            csv = _inside(folder, thread.input_file)
            if thread.type is not ThreadType.SCRAPING:
                if csv is None or not exists(csv):
                    shown = f"threads/{name}/{thread.input_file}"
                    report("input", f"input {shown} does not exist; add the file or fix the path")
            elif csv is None:
                report("input", f"'{thread.input_file}' must be a path inside threads/{name}/")
            elif not exists(csv):
                report(
                    "input",
                    f"input threads/{name}/{thread.input_file} does not exist; add the CSV or fix the path",
                )
        if thread.output is not None and not _relative_inside(thread.output.file):
            report(
                ("output", "file"),
                f"'{thread.output.file}' must be a file name in the run folder (like results.csv), "
                "without '..' or a leading '/'",
            )


def _check_arguments(thread: ThreadConfig, report: Callable[[PathKey, str], None]) -> None:
    """`args` are command-line text, except for a callable, whose `args` and `kwargs` are plain values."""
    if thread.func is None:
        for index, value in enumerate(thread.args):
            if not isinstance(value, str):
                report(("args", index), f"{_show(value)} is not text (quote it)")
        if thread.kwargs:
            report(("kwargs",), f"'kwargs' are for 'func:' threads; this thread runs a {thread.kind}")
        return
    values: list[tuple[PathKey, Any]] = [(("args", i), v) for i, v in enumerate(thread.args)]
    values += [(("kwargs", k), v) for k, v in thread.kwargs.items()]
    for key, value in values:
        problem = _plain_value_problem(value)
        if problem is not None:
            report(key, problem)


def _plain_value_problem(value: Any) -> str | None:
    """Why `value` cannot be passed to a callable as JSON (a YAML date, say), or None."""
    if value is None or isinstance(value, str | bool | int | float):
        return None
    if isinstance(value, list):
        return next((p for p in map(_plain_value_problem, value) if p), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "mapping keys passed to a callable must be text (quote them)"
        return next((p for p in map(_plain_value_problem, value.values()) if p), None)
    return f"{value!s} is a {type(value).__name__}, not a plain value (quote it to pass it as text)"


def _relative_inside(name: str) -> bool:
    """True for a relative path that stays inside its folder (`results.csv`, `out/results.csv`)."""
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


def _inside(folder: Path, relative: str) -> Path | None:
    """`folder/relative` if it stays inside `folder`, else None (no `../` escapes, no absolute paths)."""
    candidate = (folder / relative).resolve()
    try:
        candidate.relative_to(folder.resolve())
    except ValueError:
        return None
    return candidate


def _check_thread_refs(
    declared_threads: set[str],
    thread_refs: dict[str, list[str]],
    origins: dict[tuple[str, str], Origin],
    lines_by_file: dict[str, dict[PathKey, int]],
    problems: list[ConfigProblem],
) -> None:
    """Every thread a process names must be declared (checked even when the process has other errors)."""
    for name, refs in thread_refs.items():
        origin = origins[("processes", name)]
        lines = lines_by_file.get(origin.file, {})
        for index, thread in enumerate(refs):
            if thread not in declared_threads:
                hint = closest(thread, declared_threads)
                tail = f" (did you mean '{hint}'?)" if hint else "; declare it under 'threads:'"
                path: PathKey = ("processes", name, "threads", index)
                problems.append(
                    ConfigProblem(
                        origin.file,
                        _line_in(origin, lines, path),
                        format_path(path),
                        f"no thread named '{thread}'{tail}",
                    )
                )


# The keys that decide which files a thread needs; when one of them is wrong, its files are not checked.
_FILE_KEYS_OF_THREADS = frozenset({"type", "script", "command", "code", "input", "*"})


def _partial_threads(invalid: Mapping[tuple[str, str], _InvalidEntry]) -> dict[str, ThreadConfig]:
    """Threads that failed validation, without their bad keys, so that their files are still checked (a
    missing script shows with a bad timeout, not after it is fixed)."""
    found = {}
    for (section, name), entry in invalid.items():
        if section != "threads" or entry.bad_keys & _FILE_KEYS_OF_THREADS:
            continue
        good = {key: value for key, value in entry.raw.items() if key not in entry.bad_keys}
        try:
            found[name] = ThreadConfig.model_validate(good)
        except ValidationError:
            continue
    return found


@dataclass(frozen=True)
class _ScheduleCheck:
    """Parses the schedules of one entry, reporting each bad one and each one-shot already past."""

    section: str
    name: str
    origin: Origin
    lines: dict[PathKey, int]
    now: datetime | None
    problems: list[ConfigProblem]
    warnings: list[ConfigProblem]

    def parse(self, specs: Sequence[Any], zone: ZoneInfo) -> list[schedules.Schedule]:
        parsed = []
        for index, spec in enumerate(specs):
            key = (self.section, self.name, "schedule", index)
            line = _line_in(self.origin, doc_lines=self.lines, path=key)
            try:
                schedule = schedules.parse_schedule(spec)
                schedules.check_in_zone(schedule, zone)
            except schedules.ScheduleError as exc:
                self.problems.append(ConfigProblem(self.origin.file, line, format_path(key), str(exc)))
                continue
            parsed.append(schedule)
            if (
                self.now is not None
                and schedule.kind == "once"
                and schedules.next_fire_after(schedule, zone, self.now) is None
            ):
                message = f"'{schedule.text}' is in the past and will not run"
                self.warnings.append(ConfigProblem(self.origin.file, line, format_path(key), message))
        return parsed


def _check_processes(
    processes: dict[str, ProcessConfig],
    settings: Settings,
    origins: dict[tuple[str, str], Origin],
    lines_by_file: dict[str, dict[PathKey, int]],
    problems: list[ConfigProblem],
) -> None:
    for name, process in processes.items():
        _check_notify(name, process.notify, settings, origins[("processes", name)], lines_by_file, problems)


def _check_notify(
    name: str,
    targets: Any,
    settings: Settings,
    origin: Origin,
    lines_by_file: dict[str, dict[PathKey, int]],
    problems: list[ConfigProblem],
) -> None:
    """Every notify target a process names must be declared in the settings."""
    lines = lines_by_file.get(origin.file, {})
    for index, target in enumerate(targets if isinstance(targets, list) else []):
        if target not in settings.notify:
            path = ("processes", name, "notify", index)
            known = ", ".join(sorted(settings.notify)) or "none yet"
            problems.append(
                ConfigProblem(
                    origin.file,
                    _line_in(origin, lines, path),
                    format_path(path),
                    f"no notify target named '{target}' in config/{SETTINGS_FILE} (known: {known})",
                )
            )


def _check_name_clashes(origins: dict[tuple[str, str], Origin], problems: list[ConfigProblem]) -> None:
    """A thread and a process may not share a name: `taskctl run NAME` and `thread run NAME` run a thread
    alone as a one-thread process of its own name, in process/NAME/, and a scheduled thread runs so on its
    schedule; the name would mean two things."""
    for section, name in origins:
        thread_origin = origins.get(("threads", name))
        if section != "processes" or thread_origin is None:
            continue
        origin = origins[("processes", name)]
        problems.append(
            ConfigProblem(
                origin.file,
                origin.line,
                f"processes.{name}",
                f"'{name}' is also a thread ({thread_origin}), which runs alone as a process of the same "
                f"name (its runs go to process/{name}/); rename one of them",
            )
        )


def _disabled_threads_in_chains(
    threads: dict[str, ThreadConfig],
    processes: dict[str, ProcessConfig],
    origins: dict[tuple[str, str], Origin],
    lines_by_file: dict[str, dict[PathKey, int]],
) -> list[ConfigProblem]:
    """`enabled: false` on a thread stops its own schedule only; say so where an enabled chain runs it."""
    found = []
    for name, process in processes.items():
        if not process.enabled:
            continue
        origin = origins[("processes", name)]
        for index, thread in enumerate(process.threads):
            if thread in threads and not threads[thread].enabled:
                path: PathKey = ("processes", name, "threads", index)
                message = (
                    f"thread '{thread}' is disabled, but this process still runs it "
                    "(a disabled thread only stops its own schedule); disable the process or remove the "
                    "thread from it"
                )
                line = _line_in(origin, lines_by_file.get(origin.file, {}), path)
                found.append(ConfigProblem(origin.file, line, format_path(path), message))
    return found


def _with_defaults(process: ProcessConfig, settings: Settings) -> ProcessConfig:
    defaults = settings.defaults
    return process.model_copy(
        update={
            "on_failure": process.on_failure or defaults.on_failure,
            "overlap": process.overlap or defaults.overlap,
            "catch_up": process.catch_up or defaults.catch_up,
            "misfire_grace": process.misfire_grace
            if process.misfire_grace is not None
            else defaults.misfire_grace,
        }
    )


def _thread_as_process(thread: ThreadConfig, name: str, settings: Settings) -> ProcessConfig:
    return _with_defaults(
        ProcessConfig(
            threads=[name],
            schedule=list(thread.schedule),
            timezone=thread.timezone,
            tags=list(thread.tags),
            enabled=thread.enabled,
        ),
        settings,
    )


def _sorted(problems: Sequence[ConfigProblem]) -> list[ConfigProblem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file or "", p.line or 0, p.path))
