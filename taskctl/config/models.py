"""A loaded config as plain, immutable values: what runs, schedules and listings read.

The config files are validated by the pydantic models of `taskctl.config.spec` (which also give the JSON
Schema); what passes is kept as these frozen dataclasses. They import nothing heavy, so that a command whose
config is unchanged since the last load (`taskctl.config.cache`) starts without pydantic or YAML.

`to_json` is the plain form of a value (enums as their text, nested values as mappings); `from_json` builds
the value back from it. A validated entry goes through that plain form on every load, cached or not, so the
two loads cannot differ.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, TypeVar


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


FUNC_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
THREAD_KINDS = ("script", "command", "code", "func", "test")

# Durations are seconds, sizes bytes; the defaults are those the spec declares.
MIB = 1024 * 1024


@dataclass(frozen=True)
class Retries:
    count: int = 0
    delay: float = 0.0
    backoff: float = 1.0


@dataclass(frozen=True)
class Defaults:
    """Values that processes and threads inherit unless they set their own."""

    timeout: float | None = None
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.LATEST
    misfire_grace: float = 3600.0
    on_failure: OnFailure = OnFailure.STOP
    max_log_size: int = 50 * MIB
    kill_grace: float = 10.0


@dataclass(frozen=True)
class Retention:
    """Which finished runs `taskctl prune` (and the daemon) keep, per process; unset keys keep everything."""

    keep_runs: int | None = None
    max_age: float | None = None
    max_total_size: int | None = None
    # the keys the file sets (even to null): a process's retention overrides the settings' key by key
    keys_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class NotifyTarget:
    url: str
    on: list[NotifyEvent] = field(default_factory=lambda: [NotifyEvent.FAILURE])
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DaemonSettings:
    """How `taskctl daemon` behaves."""

    shutdown_grace: float = 30.0


@dataclass(frozen=True)
class Settings:
    """config/taskctl.yaml."""

    timezone: str | None = None
    max_parallel_runs: int = 4
    defaults: Defaults = field(default_factory=Defaults)
    retention: Retention = field(default_factory=Retention)
    notify: dict[str, NotifyTarget] = field(default_factory=dict)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)


@dataclass(frozen=True)
class SkuSelection:
    """Which rows of the SKU table make a thread's input: the filters of `taskctl sku list`, and `stale`."""

    search: str | None = None
    base_sku: str | None = None
    min_rating: float | None = None
    unrated: bool = False
    limit: int | None = None
    stale: float | None = None


@dataclass(frozen=True)
class SkuInput:
    """`input: {skus: QUERY}`: the input CSV is built from the SKU table when the thread starts."""

    skus: SkuSelection
    required: bool = False


@dataclass(frozen=True)
class ThreadOutput:
    """`output: {file, into_skus}`: after the thread succeeds, the file (in the run folder) is imported into
    the SKU table, only the SKU columns it has."""

    file: str
    into_skus: IntoSkus = IntoSkus.UPDATE


@dataclass(frozen=True)
class ThreadConfig:
    """One thread: a script, a command, inline code, a Python callable or a pytest run, in a run folder."""

    type: ThreadType = ThreadType.OTHERS
    script: str | None = None
    command: list[str] | str | None = None
    code: str | None = None
    func: str | None = None
    test: str | None = None
    input: str | SkuInput | None = None
    output: ThreadOutput | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    retries: Retries = field(default_factory=Retries)
    requirements: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    schedule: list[str | dict[str, Any]] = field(default_factory=list)
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


@dataclass(frozen=True)
class ProcessConfig:
    """A chain of threads run in series, on any number of schedules."""

    threads: list[str]
    schedule: list[str | dict[str, Any]] = field(default_factory=list)
    timezone: str | None = None
    on_failure: OnFailure | None = None
    overlap: Overlap | None = None
    max_instances: int = 1
    catch_up: CatchUp | None = None
    misfire_grace: float | None = None
    timeout: float | None = None
    enabled: bool = True
    notify: list[str] = field(default_factory=list)
    retention: Retention | None = None
    tags: list[str] = field(default_factory=list)
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


def to_json(value: Any, exclude_defaults: bool = False) -> Any:
    """`value` as plain JSON data: a config value as a mapping of its fields (enums as their text), the way
    `taskctl thread show --json` prints it. `exclude_defaults` leaves out the fields at their default."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare and not (exclude_defaults and getattr(value, f.name) == _default(f))
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def _default(spec: dataclasses.Field[Any]) -> Any:
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return spec.default


_T = TypeVar("_T")
_Builders = dict[str, Callable[[Any], Any]]


def _optional(build: Callable[[Any], _T]) -> Callable[[Any], _T | None]:
    return lambda data: None if data is None else build(data)


def _built(kind: Callable[..., _T], builders: _Builders, data: dict[str, Any]) -> _T:
    """`kind` from the keys `data` gives (the others keep their defaults), nested values built by
    `builders` (by key); plain values are taken as they are."""
    return kind(**{key: builders[key](value) if key in builders else value for key, value in data.items()})


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

# The plain form `from_json` reads has only the keys the file set (pydantic's `exclude_unset`): a process's
# retention overrides the settings' key by key, so which keys were set is part of the value.


def settings_from_json(data: dict[str, Any]) -> Settings:
    """Settings from their plain form."""
    return _built(Settings, _SETTINGS, data)


def thread_from_json(data: dict[str, Any]) -> ThreadConfig:
    """A thread from its plain form."""
    return _built(ThreadConfig, _THREAD, data)


def process_from_json(data: dict[str, Any]) -> ProcessConfig:
    """A process from its plain form."""
    return _built(ProcessConfig, _PROCESS, data)
