"""Adding, changing and removing threads and processes: the YAML entry and a thread's files.

A change is planned first (`plan_*`): the entry is located, the new text of every file it touches is made
by the round-trip writer, and the whole config is loaded as it would be after the change, with the files it
would copy. Only a valid plan exists; `apply_change` then copies files and writes each YAML file atomically,
refusing if a file changed on disk since it was read, and undoing its copies if a write is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from taskctl.config.loader import PendingChanges, config_display, config_files, load_config
from taskctl.config.models import THREAD_KINDS, ThreadType
from taskctl.config.plaincheck import CHOICES, PROCESS_FIELDS, TEXT_KEYS, THREAD_FIELDS
from taskctl.config.threadfiles import (
    FileCopy,
    ThreadFile,
    copy_files,
    plan_copies,
    remove_folder,
    unused_file_notes,
)
from taskctl.config.writer import (
    MISSING,
    FileText,
    YamlEdit,
    check_unchanged,
    read_file_text,
    unified_diff,
    write_atomically,
)
from taskctl.config.yamlfile import parse_yaml, read_yaml
from taskctl.errors import ConfigProblem, TaskctlError, UsageError, closest, not_found
from taskctl.workspace import NAME_PATTERN, Workspace, bad_name


class Section(StrEnum):
    THREADS = "threads"
    PROCESSES = "processes"

    @property
    def kind(self) -> str:
        """`thread` or `process`, for messages."""
        return "thread" if self is Section.THREADS else "process"

    @property
    def default_file(self) -> str:
        return f"{self.value}.yaml"


class EditAction(StrEnum):
    ADD = "add"
    EDIT = "edit"
    REMOVE = "remove"


class EditRefused(TaskctlError):
    """The config would not be valid after the change; `problems` says why. Nothing was written."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        first = problems[0].render() if problems else "the config would not be valid"
        super().__init__(f"nothing was written: {first}")


class FileEdit(NamedTuple):
    """One config file: as read, and its text after the change."""

    before: FileText
    after: str


class ConfigChange:
    """A planned, validated change of the config, not yet applied."""

    # A plain class: a dataclass costs about a millisecond to create at import, and start-up counts.
    def __init__(
        self,
        action: EditAction,
        section: Section,
        name: str,
        file: str,  # the file holding the entry
        edits: list[FileEdit] | None = None,  # in the order they are written
        entry: dict[str, Any] | None = None,  # the entry as it reads after the change (None when removed)
        copies: list[FileCopy] | None = None,
        remove_folder: Path | None = None,
        notes: list[str] | None = None,
        warnings: list[ConfigProblem] | None = None,
    ) -> None:
        self.action = action
        self.section = section
        self.name = name
        self.file = file
        self.edits = [] if edits is None else edits
        self.entry = entry
        self.copies = [] if copies is None else copies
        self.remove_folder = remove_folder
        self.notes = [] if notes is None else notes
        self.warnings = [] if warnings is None else warnings

    @property
    def changed(self) -> bool:
        return bool(self.copies or self.remove_folder or any(e.before.text != e.after for e in self.edits))

    def diff(self) -> str:
        """The unified diff of every YAML file the change writes."""
        return "".join(unified_diff(e.before, e.after) for e in self.edits if e.before.text != e.after)

    def to_json(self, dry_run: bool) -> dict[str, Any]:
        """The change as the JSON document of `--json` (without `ok`)."""
        return {
            "action": self.action.value,
            "kind": self.section.kind,
            "name": self.name,
            "file": self.file,
            "dry_run": dry_run,
            "changed": self.changed,
            "files": [e.before.display for e in self.edits if e.before.text != e.after],
            "diff": self.diff(),
            "entry": self.entry,
            "copied": [{"from": str(c.source), "to": c.display} for c in self.copies],
            "removed": [f"threads/{self.name}/"] if self.remove_folder else [],
            "notes": self.notes,
            "warnings": [w.as_dict() for w in self.warnings],
        }


# -- what the CLI asks for ------------------------------------------------------------------------------


class NewEntry(NamedTuple):
    """A thread or process to add: its YAML entry, the files to copy, and the file to declare it in."""

    section: Section
    name: str
    entry: dict[str, Any]
    files: tuple[ThreadFile, ...] = ()
    file: str | None = None


class EntryEdit(NamedTuple):
    """Changes to one entry, applied in this order: unset, set, list items, enabled, files."""

    unset: tuple[str, ...] = ()  # dotted key paths
    set: tuple[tuple[str, Any], ...] = ()  # (dotted key path, value)
    add_items: tuple[tuple[str, Any], ...] = ()  # (list key, item)
    remove_items: tuple[tuple[str, Any], ...] = ()
    enabled: bool | None = None
    files: tuple[ThreadFile, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.unset or self.set or self.add_items or self.remove_items or self.files) and (
            self.enabled is None
        )


def parse_assignment(section: Section, text: str) -> tuple[str, Any]:
    """`KEY=VALUE` of `--set`: the value as text for text keys, else read as YAML with the config's rules."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set '{text}': write KEY=VALUE, e.g. --set timeout=45m")
    if not raw:
        raise UsageError(f"--set {key}= has no value; use --unset {key} to remove the key")
    if _is_text_key(section, key.split(".")):
        return key, raw
    doc = parse_yaml(raw)
    if doc.problems:
        reason = doc.problems[0].message
        raise UsageError(f"--set {key}={raw}: {reason}")
    return key, doc.data


# -- planning -------------------------------------------------------------------------------------------


def plan_add(workspace: Workspace, new: NewEntry, now: datetime | None = None) -> ConfigChange:
    """Plan declaring a new thread or process; raises if the name is taken or the result is invalid."""
    check_name(new.name, new.section)
    found = find_entry(workspace, new.section, new.name)
    if found is not None:
        raise TaskctlError(
            f"{new.section.kind} '{new.name}' already exists ({found.display}:{found.line}); change it with "
            f"'taskctl {new.section.kind} edit {new.name}'"
        )
    path = config_path(workspace, new.file or new.section.default_file)
    before = read_file_text(path, config_display(workspace, path))
    entry = dict(new.entry)
    copies = plan_copies(workspace, new.name, new.files, entry, replacing=False)
    entry = ordered_entry(new.section, entry)
    check_choices(new.section, entry)
    if new.section is Section.THREADS:
        _check_thread_entry(new.name, entry, workspace)
    edit = YamlEdit(before.text, before.display)
    edit.set((new.section.value, new.name), entry)
    change = ConfigChange(
        EditAction.ADD,
        new.section,
        new.name,
        before.display,
        [FileEdit(before, edit.text)],
        entry=edit.get((new.section.value, new.name)),
        copies=copies,
    )
    return _validated(workspace, change, now)


def plan_edit(
    workspace: Workspace, section: Section, name: str, changes: EntryEdit, now: datetime | None = None
) -> ConfigChange:
    """Plan changing an entry in the file that declares it."""
    found = locate(workspace, section, name)
    before = read_file_text(found.path, found.display)
    edit = YamlEdit(before.text, before.display)
    path = (section.value, name)
    current = edit.get(path)
    entry: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    for key in changes.unset:
        entry = _without(entry, key.split("."))
    for key, value in changes.set:
        entry = _with_key(entry, key.split("."), value)
    for key, item in changes.add_items:
        items = _list_at(entry, key, section, name)
        if not any(_same(item, existing) for existing in items):
            entry[key] = [*items, item]
    for key, item in changes.remove_items:
        items = _list_at(entry, key, section, name)
        if not any(_same(item, existing) for existing in items):
            shown = ", ".join(f"'{i}'" for i in items) or "none"
            raise UsageError(f"{section.kind} '{name}' has no {key} '{item}' (its {key}: {shown})")
        remaining = [existing for existing in items if not _same(item, existing)]
        entry = _without(entry, [key]) if not remaining and key != "threads" else {**entry, key: remaining}
    if changes.enabled is not None:
        entry = _without(entry, ["enabled"]) if changes.enabled else {**entry, "enabled": False}
    check_choices(section, entry)
    copies = plan_copies(workspace, name, changes.files, entry, replacing=True)
    notes = unused_file_notes(workspace, name, current, entry)
    edit.set(path, entry)
    change = ConfigChange(
        EditAction.EDIT,
        section,
        name,
        found.display,
        [FileEdit(before, edit.text)],
        entry=edit.get(path),
        copies=copies,
        notes=notes,
    )
    return _validated(workspace, change, now)


def entry_source(workspace: Workspace, section: Section, name: str) -> tuple[FileText, str]:
    """The file that declares the entry, and the entry's own text at column 0 (for $EDITOR)."""
    found = locate(workspace, section, name)
    before = read_file_text(found.path, found.display)
    return before, YamlEdit(before.text, before.display).source((section.value, name))


def plan_source_edit(
    workspace: Workspace,
    section: Section,
    name: str,
    before: FileText,
    source: str,
    now: datetime | None = None,
) -> ConfigChange:
    """Plan replacing the entry's text by `source` (the entry alone, as written in $EDITOR).

    Problems in `source` itself carry lines of `source`; EditRefused otherwise.
    """
    doc = parse_yaml(source, "")
    if doc.problems:
        raise EditRefused([ConfigProblem(None, p.line, p.path, p.message) for p in doc.problems])
    if not isinstance(doc.data, dict) or len(doc.data) != 1:
        message = f"write the {section.kind} alone, as one top-level key '{name}:' with its settings below"
        raise EditRefused([ConfigProblem(None, 1, "", message)])
    if name not in doc.data:
        other = next(iter(doc.data))
        message = (
            f"the {section.kind} must stay named '{name}', not '{other}' (to rename it, add a new one and "
            "remove this one)"
        )
        raise EditRefused([ConfigProblem(None, doc.line_of((other,)), "", message)])
    edit = YamlEdit(before.text, before.display)
    edit.replace_source((section.value, name), source)
    path = (section.value, name)
    change = ConfigChange(
        EditAction.EDIT, section, name, before.display, [FileEdit(before, edit.text)], entry=edit.get(path)
    )
    return _validated(workspace, change, now)


def plan_remove(
    workspace: Workspace,
    section: Section,
    name: str,
    *,
    force: bool = False,
    keep_files: bool = False,
    now: datetime | None = None,
) -> ConfigChange:
    """Plan removing an entry (and a thread's folder unless `keep_files`).

    A thread that processes use is refused, unless `force`, which takes it out of their chains too.
    """
    found = locate(workspace, section, name)
    edits: dict[Path, tuple[FileText, YamlEdit]] = {}
    notes: list[str] = []
    if section is Section.THREADS:
        for user in _processes_using(workspace, name):
            if not force:
                raise TaskctlError(
                    f"thread {name} is used by process {user.name} ({user.display}:{user.line}); take it out "
                    f"of that process first, or use --force to take it out of every process"
                )
            chain = [t for t in user.entry.get("threads", []) if t != name]
            if not chain:
                raise TaskctlError(
                    f"thread {name} is the only thread of process {user.name} ({user.display}:{user.line}); "
                    f"remove that process first ('taskctl process rm {user.name}')"
                )
            _edit_of(edits, user.path, user.display).set(("processes", user.name, "threads"), chain)
            notes.append(f"took '{name}' out of process '{user.name}'")
    _edit_of(edits, found.path, found.display).set((section.value, name), MISSING)
    # Processes first: each intermediate state of the files is itself a valid config.
    order = sorted(edits, key=lambda p: p == found.path)
    change = ConfigChange(
        EditAction.REMOVE,
        section,
        name,
        found.display,
        [FileEdit(edits[p][0], edits[p][1].text) for p in order],
        notes=notes,
    )
    folder = workspace.thread_dir(name)
    if section is Section.THREADS and not keep_files and (folder.exists() or folder.is_symlink()):
        change.remove_folder = folder
    return _validated(workspace, change, now)


def _edit_of(edits: dict[Path, tuple[FileText, YamlEdit]], path: Path, display: str) -> YamlEdit:
    if path not in edits:
        before = read_file_text(path, display)
        edits[path] = (before, YamlEdit(before.text, display))
    return edits[path][1]


def _validated(workspace: Workspace, change: ConfigChange, now: datetime | None) -> ConfigChange:
    """`change` once the whole config, as it would be after it, loads without a problem."""
    from taskctl.errors import ConfigError

    pending = PendingChanges(
        texts={e.before.path: e.after for e in change.edits},
        new_files=frozenset(c.target.resolve() for c in change.copies),
    )
    try:
        config = load_config(workspace, now=now, pending=pending)
    except ConfigError as exc:
        raise EditRefused(exc.problems) from None
    prefix = f"{change.section.value}.{change.name}"
    change.warnings = [
        w for w in config.warnings if w.path == prefix or w.path.startswith((prefix + ".", prefix + "["))
    ]
    return change


# -- applying -------------------------------------------------------------------------------------------


def apply_change(change: ConfigChange) -> None:
    """Copy the thread files, write each YAML file atomically, then remove what the change removes.

    A YAML file that changed on disk since it was planned refuses the change (EditError), and the files
    copied for it are put back as they were.
    """
    for edit in change.edits:
        check_unchanged(edit.before)
    copied = copy_files(change.copies)
    try:
        for edit in change.edits:
            if edit.before.text != edit.after:
                write_atomically(edit.before, edit.after)
    except BaseException:
        copied.undo()
        raise
    copied.keep()
    if change.remove_folder is not None:
        remove_folder(change.remove_folder)


# -- where things are -----------------------------------------------------------------------------------


class Location(NamedTuple):
    """Where an entry is declared, and its data there."""

    path: Path
    display: str
    line: int | None
    name: str
    entry: dict[str, Any]


def find_entry(workspace: Workspace, section: Section, name: str) -> Location | None:
    """The file that declares `name` under `section` (the first, if several do), or None."""
    for path in config_files(workspace):
        display = config_display(workspace, path)
        doc = read_yaml(path, display)
        entries = doc.data.get(section.value) if isinstance(doc.data, dict) else None
        if isinstance(entries, dict) and name in entries:
            entry = entries[name] if isinstance(entries[name], dict) else {}
            return Location(path, display, doc.lines.get((section.value, name)), name, entry)
    return None


def locate(workspace: Workspace, section: Section, name: str) -> Location:
    """The file that declares `name` under `section`; NotFoundError with a suggestion if none does."""
    found = find_entry(workspace, section, name)
    if found is not None:
        return found
    declared: list[str] = []
    unreadable: list[str] = []
    for path in config_files(workspace):
        doc = read_yaml(path, config_display(workspace, path))
        entries = doc.data.get(section.value) if isinstance(doc.data, dict) else None
        declared.extend(entries if isinstance(entries, dict) else [])
        if doc.data is None and doc.problems:
            unreadable.append(config_display(workspace, path))
    hint = ""
    if section is Section.PROCESSES and find_entry(workspace, Section.THREADS, name):
        hint = f"'{name}' is a thread; change its schedule with 'taskctl thread edit {name}'"
    elif unreadable:
        hint = f"{', '.join(unreadable)} could not be read (run 'taskctl validate')"
    raise not_found(section.kind, name, declared, hint=hint)


def _processes_using(workspace: Workspace, thread: str) -> list[Location]:
    found: list[Location] = []
    for path in config_files(workspace):
        display = config_display(workspace, path)
        doc = read_yaml(path, display)
        processes = doc.data.get("processes") if isinstance(doc.data, dict) else None
        for name, entry in (processes or {}).items() if isinstance(processes, dict) else ():
            if isinstance(entry, dict) and thread in (entry.get("threads") or []):
                found.append(Location(path, display, doc.lines.get(("processes", name)), name, entry))
    return found


def check_name(name: str, section: Section) -> None:
    """A usage error unless `name` can be a folder name (before anything is written)."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"{section.kind} {bad_name(name)}")


def config_path(workspace: Workspace, file: str) -> Path:
    """`--file`: a .yaml/.yml file in config/ or one of its subfolders, given with or without `config/`."""
    given = Path(file)
    candidate = given if given.is_absolute() else workspace.root / given
    if not given.is_absolute() and given.parts[:1] != ("config",):
        candidate = workspace.config_dir / given
    try:
        inside = candidate.relative_to(workspace.config_dir)
    except ValueError:
        inside = None
    ok = (
        inside is not None
        and 1 <= len(inside.parts) <= 2
        and ".." not in inside.parts
        and not any(part.startswith(".") for part in inside.parts)
        and inside.suffix in (".yaml", ".yml")
    )
    if not ok:
        raise UsageError(
            f"--file '{file}' must be a .yaml file in config/ or in a folder in it (e.g. config/team.yaml)"
        )
    return candidate


# -- thread files ---------------------------------------------------------------------------------------


def _check_thread_entry(name: str, entry: dict[str, Any], workspace: Workspace) -> None:
    kinds = [k for k in THREAD_KINDS if k in entry]
    if len(kinds) > 1:
        flags = " and ".join(f"--{k}" for k in kinds)
        raise UsageError(f"a thread runs one of --script, --command, --code, --func or --test, not {flags}")
    if not kinds and not (workspace.thread_dir(name) / "main.py").is_file():
        raise UsageError(
            f"thread {name} needs something to run: --script FILE, --command TEXT, --code TEXT, "
            f"--func MODULE:CALLABLE or --test PATH (or a threads/{name}/main.py)"
        )
    if entry.get("type") == ThreadType.SCRAPING.value and "input" not in entry:
        raise UsageError(f"a scraping thread needs --input, the CSV of links it works from (thread {name})")


# -- values ---------------------------------------------------------------------------------------------


def check_choices(section: Section, entry: dict[str, Any]) -> None:
    """A usage error for a key that takes one of a few words (type, overlap, ...) given another word."""
    for key, value in entry.items():
        choices = CHOICES[section.value].get(key)
        if choices is not None and value not in set(choices):
            words = [c.value for c in choices]
            hint = closest(str(value), words)
            tail = f"did you mean '{hint}'?" if hint else f"use {' or '.join(words)}"
            raise UsageError(f"{key} '{value}' is not valid for a {section.kind}; {tail}")


def ordered_entry(section: Section, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` in the order of the model's keys, without the ones that are unset or at their default."""
    order = list(THREAD_FIELDS if section is Section.THREADS else PROCESS_FIELDS)
    chosen = {k: v for k, v in fields.items() if v is not None and v != [] and v != {}}
    if chosen.get("enabled") is True:
        del chosen["enabled"]
    return dict(sorted(chosen.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def parse_env(items: Iterable[str]) -> dict[str, str]:
    """`--env KEY=VALUE` options as a mapping (values are text)."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env '{item}': write KEY=VALUE, e.g. --env REGION=us")
        env[key] = value
    return env


def _is_text_key(section: Section, key: list[str]) -> bool:
    """Whether the model takes only text at `key` (then `--set` takes the value as typed)."""
    texts = TEXT_KEYS[section.value]
    return ".".join(key) in texts or (len(key) == 2 and f"{key[0]}.*" in texts)


def _with_key(entry: dict[str, Any], key: list[str], value: Any) -> dict[str, Any]:
    copy = dict(entry)
    if len(key) == 1:
        copy[key[0]] = value
        return copy
    inner = copy.get(key[0])
    copy[key[0]] = _with_key(inner if isinstance(inner, dict) else {}, key[1:], value)
    return copy


def _without(entry: dict[str, Any], key: list[str]) -> dict[str, Any]:
    copy = dict(entry)
    if len(key) == 1:
        copy.pop(key[0], None)
    elif isinstance(copy.get(key[0]), dict):
        copy[key[0]] = _without(copy[key[0]], key[1:])
    return copy


def _list_at(entry: dict[str, Any], key: str, section: Section, name: str) -> list[Any]:
    value = entry.get(key, [])
    if isinstance(value, str | dict):
        return [value]  # `schedule: daily at 06:00` is a one-item list
    if not isinstance(value, list):
        raise UsageError(f"{section.kind} '{name}': {key} is not a list")
    return value


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and type(a) is type(b)
