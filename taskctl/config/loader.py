"""Loading every YAML file under config/, merging them, and checking what no single file can check.

All problems are collected (not only the first) and each names file, line, key path and what would be
valid. A config either loads whole or raises `ConfigError`.

Each file is parsed and validated on its own (`taskctl.config.validation`, or `taskctl.config.plaincheck`
without pydantic when every entry in it is plainly valid), or taken from the config cache
(`taskctl.config.cache`) when its bytes are those of a file validated before; the checks across files and
beyond config/ run on every load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from taskctl import schedule as schedules
from taskctl.clock import machine_zone_name
from taskctl.config.cache import ConfigCache
from taskctl.config.models import (
    FUNC_PATTERN,
    THREAD_KINDS,
    NotifyTarget,
    OnFailure,
    Overlap,
    ProcessConfig,
    Settings,
    ThreadConfig,
    ThreadType,
    process_from_json,
    settings_from_json,
    thread_from_json,
)
from taskctl.config.rawfile import PathKey, UnreadableFile, format_path, read_config_bytes
from taskctl.errors import ConfigError, ConfigProblem, closest
from taskctl.workspace import Workspace

SETTINGS_FILE = "taskctl.yaml"


class Origin(NamedTuple):
    """Where an entry was declared."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class ResolvedThread(NamedTuple):
    """A thread as a run uses it: every default applied."""

    name: str
    config: ThreadConfig
    timeout: float | None  # its own, else the workspace default; None = no limit
    kill_grace: float
    max_log_size: int


class ResolvedProcess(NamedTuple):
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


class LoadedConfig(NamedTuple):
    """A whole, valid config. Processes include one-thread processes for scheduled threads."""

    workspace: Workspace
    settings: Settings
    threads: dict[str, ThreadConfig]
    processes: dict[str, ProcessConfig]
    schedules: dict[str, list[schedules.Schedule]]
    zone_name: str
    revision: str
    files: list[str]
    origins: dict[tuple[str, str], Origin]
    implicit: set[str]  # processes that are scheduled threads
    warnings: list[ConfigProblem]
    definitions: dict[str, ResolvedProcess]  # every runnable name, resolved

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


class PendingChanges(NamedTuple):
    """Edits not yet on disk, so that a change is checked as a whole before anything is written."""

    texts: Mapping[Path, str] = MappingProxyType({})  # config file -> its text after the change
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
    invalid: dict[tuple[str, str], InvalidEntry] = {}  # entries that failed validation, for further checks

    warnings: list[ConfigProblem] = []
    cache = ConfigCache.open(workspace)
    for path in files:
        display = config_display(workspace, path)
        is_settings = path.name == SETTINGS_FILE and path.parent == workspace.config_dir
        read = _read_file(path, display, is_settings, pending.texts.get(path), cache)
        digest.update(display.encode() + b"\0" + read.raw + b"\0")
        lines[display] = read.lines
        problems.extend(read.problems)
        warnings.extend(read.warnings)
        parsed = read.entries
        if parsed is None:
            continue
        if read.settings is not None:
            settings = read.settings
        for section, name in parsed.declared:
            origin = Origin(display, read.lines.get((section, name)))
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
            if name in read.threads and section == "threads":
                threads[name] = read.threads[name]
            elif name in read.processes and section == "processes":
                processes[name] = read.processes[name]
    # An edit not yet written is not what its files hold: their entries stay as they were, the others are
    # saved (after an upgrade, an edit would otherwise validate every file until another command saves them).
    cache.save(kept={config_display(workspace, path) for path in pending.texts})

    zone_name = settings.timezone or machine_zone_name()
    _check_threads(workspace, threads, origins, lines, problems, pending.new_files)
    if invalid:
        from taskctl.config.validation import partial_threads

        _check_threads(workspace, partial_threads(invalid), origins, lines, problems, pending.new_files)
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


class InvalidEntry(NamedTuple):
    """A thread or process that failed validation: its raw keys and those that were wrong, so that the checks
    of its other keys (its schedules) still run and one error does not hide the next."""

    raw: dict[str, Any]
    bad_keys: frozenset[str]

    def valid(self, key: str) -> Any:
        """The raw value of `key` if it is given and passed validation, else None."""
        return None if key in self.bad_keys else self.raw.get(key)


# FileEntries and _ReadFile are plain classes: a dataclass costs about a millisecond to create at import.


class FileEntries:
    """What one config file declares: its valid entries as plain data (`taskctl.config.spec.plain`), every
    well-named entry, and those that failed validation."""

    def __init__(
        self,
        settings: dict[str, Any] | None = None,
        threads: dict[str, dict[str, Any]] | None = None,
        processes: dict[str, dict[str, Any]] | None = None,
        declared: list[tuple[str, str]] | None = None,
        thread_refs: dict[str, list[str]] | None = None,
        invalid: dict[tuple[str, str], InvalidEntry] | None = None,
    ) -> None:
        self.settings = settings
        self.threads = {} if threads is None else threads
        self.processes = {} if processes is None else processes
        self.declared = [] if declared is None else declared  # every well-named entry, valid or not
        self.thread_refs = {} if thread_refs is None else thread_refs  # process -> threads, valid or not
        self.invalid = {} if invalid is None else invalid


class _ReadFile:
    """One config file read: its bytes, the line of each key path, its problems and warnings, and its
    entries (None when it could not be read or parsed) with the valid ones built."""

    def __init__(
        self,
        raw: bytes,
        lines: dict[PathKey, int] | None = None,
        problems: list[ConfigProblem] | None = None,
        warnings: list[ConfigProblem] | None = None,
    ) -> None:
        self.raw = raw
        self.lines = {} if lines is None else lines
        self.problems = [] if problems is None else problems
        self.warnings = [] if warnings is None else warnings
        self.entries: FileEntries | None = None
        self.settings: Settings | None = None
        self.threads: dict[str, ThreadConfig] = {}
        self.processes: dict[str, ProcessConfig] = {}

    def build(self, entries: FileEntries) -> None:
        """Take `entries` and build their valid ones."""
        self.entries = entries
        self.settings = None if entries.settings is None else settings_from_json(entries.settings)
        self.threads = {name: thread_from_json(data) for name, data in entries.threads.items()}
        self.processes = {name: process_from_json(data) for name, data in entries.processes.items()}


def _read_file(
    path: Path, display: str, is_settings: bool, pending_text: str | None, cache: ConfigCache
) -> _ReadFile:
    """Read, parse and validate one file, or take what an earlier load made of the same bytes."""
    if pending_text is not None:
        raw = pending_text.encode()
    else:
        try:
            raw = read_config_bytes(path)
        except UnreadableFile as exc:
            return _ReadFile(b"", problems=[ConfigProblem(display, None, "", str(exc))])
    cached = _from_cache(display, cache.get(display, is_settings, raw), raw)
    if cached is not None:
        return cached
    read = _parse_and_validate(display, is_settings, raw, pending_text)
    if not read.problems and read.entries is not None:
        cache.put(display, is_settings, raw, _cache_form(read))
    return read


def _parse_and_validate(display: str, is_settings: bool, raw: bytes, text: str | None) -> _ReadFile:
    from taskctl.config.yamlfile import parse_yaml

    if text is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            problem = ConfigProblem(display, None, "", "is not UTF-8 text; save it as UTF-8")
            return _ReadFile(raw, problems=[problem])
    doc = parse_yaml(text, display)
    read = _ReadFile(raw, doc.lines, doc.problems, doc.warnings)
    for problem in (*doc.problems, *doc.warnings):
        problem.file = display
    if doc.data is None and doc.problems:
        return read
    entries = None if is_settings or doc.problems else _plainly_valid(doc.data)
    if entries is None:  # a problem to word, or a value to convert: the models decide
        from taskctl.config.validation import validate_file

        entries = validate_file(doc, display, is_settings, read.problems)
    read.build(entries)
    return read


def _plainly_valid(data: Any) -> FileEntries | None:
    """The entries of a file if each is plainly valid (`taskctl.config.plaincheck`), without pydantic."""
    from taskctl.config.plaincheck import plain_file_entries

    plain = plain_file_entries(data)
    if plain is None:
        return None
    found = FileEntries(threads=plain.get("threads", {}), processes=plain.get("processes", {}))
    for section, entries in plain.items():
        found.declared.extend((section, name) for name in entries)
    found.thread_refs = {name: list(process["threads"]) for name, process in found.processes.items()}
    return found


def _cache_form(read: _ReadFile) -> dict[str, Any]:
    """A file read without problems as plain JSON data (for `ConfigCache`)."""
    assert read.entries is not None
    entries = read.entries
    return {
        "lines": [[list(path), line] for path, line in read.lines.items()],
        "warnings": [[w.line, w.path, w.message] for w in read.warnings],
        "settings": entries.settings,
        "threads": entries.threads,
        "processes": entries.processes,
        "declared": [list(pair) for pair in entries.declared],
        "thread_refs": entries.thread_refs,
    }


def _from_cache(display: str, data: Any, raw: bytes) -> _ReadFile | None:
    """`_cache_form` read back, or None if it is not that form (a cache written by hand, say)."""
    if data is None:
        return None
    try:
        entries = FileEntries(
            settings=data["settings"],
            threads=dict(data["threads"]),
            processes=dict(data["processes"]),
            declared=[(str(section), str(name)) for section, name in data["declared"]],
            thread_refs={name: list(refs) for name, refs in data["thread_refs"].items()},
        )
        lines = {tuple(path): int(line) for path, line in data["lines"]}
        warnings = [ConfigProblem(display, line, path, message) for line, path, message in data["warnings"]]
        read = _ReadFile(raw, lines, [], warnings)
        read.build(entries)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return read


def show_value(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


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
                report(("args", index), f"{show_value(value)} is not text (quote it)")
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


class _ScheduleCheck(NamedTuple):
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
    return process._replace(
        on_failure=process.on_failure or defaults.on_failure,
        overlap=process.overlap or defaults.overlap,
        catch_up=process.catch_up or defaults.catch_up,
        misfire_grace=process.misfire_grace if process.misfire_grace is not None else defaults.misfire_grace,
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
