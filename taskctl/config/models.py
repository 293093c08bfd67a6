"""A loaded config as plain, immutable values: what runs, schedules and listings read.

The config files are validated by the pydantic models of `taskctl.config.spec` (which also give the JSON
Schema); what passes is kept as these named tuples. They import nothing heavy, so that a command whose
config is unchanged since the last load (`taskctl.config.cache`) starts without pydantic or YAML. (Named
tuples rather than dataclasses: a dataclass costs about a millisecond to create, and start-up counts. Their
list and mapping defaults are shared: a config value is never changed in place.)

`to_json` shows a value as JSON data (`thread show --json`). `settings_from_json`, `thread_from_json` and
`process_from_json` build values from the plain form of a validated entry (`taskctl.config.spec.plain`),
which is also what the cache keeps: an entry goes through that form on every load, cached or not, so the
two loads cannot differ.
"""

# ruff: noqa: RUF012  (list and mapping defaults of named tuples: loads give each value its own, see _built)
from __future__ import annotations

import math
import re
from collections.abc import Callable
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, NamedTuple, TypeVar


class ThreadType(StrEnum):
    SCRAPING = "scraping"
    OTHERS = "others"


class OnFailure(StrEnum):
    STOP = "stop"
    CONTINUE = "continue"


class Overlap(StrEnum):
    SKIP = "skip"
    QUEUE = "queue"
    ALLOW = "allow"
    REPLACE = "replace"


class CatchUp(StrEnum):
    NONE = "none"
    LATEST = "latest"
    ALL = "all"


class IntoSkus(StrEnum):
    """What a row of a thread's output file does when its sku is already in the SKU table (as `sku import
    --on-conflict`)."""

    UPDATE = "update"
    SKIP = "skip"
    ERROR = "error"


class NotifyEvent(StrEnum):
    """When a notify target is called: `failure` is any failed attempt (retried or not), `final_failure` a run
    that failed for good (after its last retry), `missed` a slot that did not run."""

    FAILURE = "failure"
    FINAL_FAILURE = "final_failure"
    SUCCESS = "success"
    START = "start"
    MISSED = "missed"


# `taskctl schema` prints this file: the JSON Schema of `taskctl.config.spec.config_json_schema`, kept with
# the package so that printing it needs no pydantic (a test checks that it is what the models give).
SCHEMA_FILE = Path(__file__).with_name("schema.json")

FUNC_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
THREAD_KINDS = ("script", "command", "code", "func", "test")

# Durations are seconds, sizes bytes; the defaults are those the spec declares.
MIB = 1024 * 1024


class Retries(NamedTuple):
    count: int = 0  # type: ignore[assignment]  # the field, not tuple.count
    delay: float = 0.0
    backoff: float = 1.0


class Defaults(NamedTuple):
    """Values that processes and threads inherit unless they set their own."""

    timeout: float | None = None
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.LATEST
    misfire_grace: float = 3600.0
    on_failure: OnFailure = OnFailure.STOP
    max_log_size: int = 50 * MIB
    kill_grace: float = 10.0


class Retention(NamedTuple):
    """Which finished runs `taskctl prune` (and the daemon) keep, per process; unset keys keep everything."""

    keep_runs: int | None = None
    max_age: float | None = None
    max_total_size: int | None = None
    # the keys the file sets (even to null): a process's retention overrides the settings' key by key
    keys_set: frozenset[str] = frozenset()


class NotifyTarget(NamedTuple):
    url: str
    on: list[NotifyEvent] = [NotifyEvent.FAILURE]
    headers: dict[str, str] = {}


class DaemonSettings(NamedTuple):
    """How `taskctl daemon` behaves."""

    shutdown_grace: float = 30.0


class Settings(NamedTuple):
    """config/taskctl.yaml."""

    timezone: str | None = None
    max_parallel_runs: int = 4
    defaults: Defaults = Defaults()
    retention: Retention = Retention()
    notify: dict[str, NotifyTarget] = {}
    daemon: DaemonSettings = DaemonSettings()


class SkuSelection(NamedTuple):
    """Which rows of the SKU table make a thread's input: the filters of `taskctl sku list`, and `stale`."""

    search: str | None = None
    base_sku: str | None = None
    min_rating: float | None = None
    unrated: bool = False
    limit: int | None = None
    stale: float | None = None


class SkuInput(NamedTuple):
    """`input: {skus: QUERY}`: the input CSV is built from the SKU table when the thread starts."""

    skus: SkuSelection
    required: bool = False


class ThreadOutput(NamedTuple):
    """`output: {file, into_skus}`: after the thread succeeds, the file (in the run folder) is imported into
    the SKU table, only the SKU columns it has."""

    file: str
    into_skus: IntoSkus = IntoSkus.UPDATE


class ThreadConfig(NamedTuple):
    """One thread: a script, a command, inline code, a Python callable or a pytest run, in a run folder."""

    type: ThreadType = ThreadType.OTHERS
    script: str | None = None
    command: list[str] | str | None = None
    code: str | None = None
    func: str | None = None
    test: str | None = None
    input: str | SkuInput | None = None
    output: ThreadOutput | None = None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    env: dict[str, str] = {}
    timeout: float | None = None
    retries: Retries = Retries()
    requirements: list[str] = []
    tags: list[str] = []
    description: str | None = None
    schedule: list[str | dict[str, Any]] = []
    timezone: str | None = None
    enabled: bool = True

    @property
    def kind(self) -> str:
        """Which of script | command | code | func | test this thread runs."""
        for kind in ("command", "code", "func", "test"):
            if getattr(self, kind) is not None:
                return kind
        return "script"

    @property
    def input_file(self) -> str | None:
        """The input CSV in the thread's folder, if its input is a file."""
        return self.input if isinstance(self.input, str) else None

    @property
    def sku_input(self) -> SkuInput | None:
        """The SKU table query its input CSV is built from, if any."""
        return self.input if isinstance(self.input, SkuInput) else None

    @property
    def script_name(self) -> str:
        return self.script or "main.py"


class ProcessConfig(NamedTuple):
    """A chain of threads run in series, on any number of schedules."""

    threads: list[str]
    schedule: list[str | dict[str, Any]] = []
    timezone: str | None = None
    on_failure: OnFailure | None = None
    overlap: Overlap | None = None
    max_instances: int = 1
    catch_up: CatchUp | None = None
    misfire_grace: float | None = None
    timeout: float | None = None
    enabled: bool = True
    notify: list[str] = []
    retention: Retention | None = None
    tags: list[str] = []
    description: str | None = None


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down (1, 1.0 and True are three different values)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def scalar_text(value: Any) -> str:
    """A number or true/false as the text YAML shows (`PORT: 8080` in a thread's env is "8080")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"{value!r} is not a text value (quote it)")


def to_json(value: Any, exclude_defaults: bool = False) -> Any:
    """`value` as plain JSON data: a config value as a mapping of its fields (enums as their text), the way
    `taskctl thread show --json` prints it. `exclude_defaults` leaves out the fields at their default."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        defaults = type(value)._field_defaults  # type: ignore[attr-defined]
        return {
            name: to_json(item)
            for name, item in zip(value._fields, value, strict=True)
            if name not in _NOT_SHOWN
            and not (exclude_defaults and name in defaults and item == defaults[name])
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


_NOT_SHOWN = {"keys_set"}  # bookkeeping, not a config key


_T = TypeVar("_T")
_Builders = dict[str, Callable[[Any], Any]]


def _optional(build: Callable[[Any], _T]) -> Callable[[Any], _T | None]:
    return lambda data: None if data is None else build(data)


def _built(kind: Callable[..., _T], builders: _Builders, data: dict[str, Any]) -> _T:
    """`kind` from the keys `data` gives (the others keep their defaults, a list or mapping copied so that no
    two values share one), nested values built by `builders` (by key); plain values are taken as they are."""
    values = {key: builders[key](value) if key in builders else value for key, value in data.items()}
    for key, default in kind._field_defaults.items():  # type: ignore[attr-defined]
        if key not in values and isinstance(default, list | dict):
            values[key] = default.copy()
    return kind(**values)


def _retention(data: dict[str, Any]) -> Retention:
    return Retention(**data, keys_set=frozenset(data))


_NOTIFY_TARGET: _Builders = {"on": lambda events: [NotifyEvent(e) for e in events]}
_DEFAULTS: _Builders = {"overlap": Overlap, "catch_up": CatchUp, "on_failure": OnFailure}
_SETTINGS: _Builders = {
    "defaults": lambda data: _built(Defaults, _DEFAULTS, data),
    "retention": _retention,
    "notify": lambda targets: {name: _built(NotifyTarget, _NOTIFY_TARGET, t) for name, t in targets.items()},
    "daemon": lambda data: DaemonSettings(**data),
}
_SKU_INPUT: _Builders = {"skus": lambda data: SkuSelection(**data)}
_THREAD: _Builders = {
    "type": ThreadType,
    "input": _optional(lambda data: data if isinstance(data, str) else _built(SkuInput, _SKU_INPUT, data)),
    "output": _optional(lambda data: _built(ThreadOutput, {"into_skus": IntoSkus}, data)),
    "retries": lambda data: Retries(**data),
}
_PROCESS: _Builders = {
    "on_failure": _optional(OnFailure),
    "overlap": _optional(Overlap),
    "catch_up": _optional(CatchUp),
    "retention": _optional(_retention),
}

# The plain form has only the keys the file set (pydantic's `exclude_unset`): a process's retention
# overrides the settings' key by key, so which keys were set is part of the value.


def settings_from_json(data: dict[str, Any]) -> Settings:
    """Settings from their plain form."""
    return _built(Settings, _SETTINGS, data)


def thread_from_json(data: dict[str, Any]) -> ThreadConfig:
    """A thread from its plain form."""
    return _built(ThreadConfig, _THREAD, data)


def process_from_json(data: dict[str, Any]) -> ProcessConfig:
    """A process from its plain form."""
    return _built(ProcessConfig, _PROCESS, data)
